"""Annotated dependency aliases: routers read shared objects from ``app.state`` through these."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ollama_gateway.backends.base import Backend
from ollama_gateway.core.service import GenerationService
from ollama_gateway.settings import Settings


async def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_backend(request: Request) -> Backend:
    backend: Backend = request.app.state.backend
    return backend


async def get_service(request: Request) -> GenerationService:
    service: GenerationService = request.app.state.service
    return service


SettingsDep = Annotated[Settings, Depends(get_settings)]
BackendDep = Annotated[Backend, Depends(get_backend)]
ServiceDep = Annotated[GenerationService, Depends(get_service)]
