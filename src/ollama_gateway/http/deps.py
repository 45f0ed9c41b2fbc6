"""Annotated dependency aliases: routers read shared objects from ``app.state`` through these."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from ollama_gateway.backends.base import Backend
from ollama_gateway.core.service import GenerationService
from ollama_gateway.settings import Settings


async def get_settings(request: Request) -> Settings:
    return request.app.state.settings


async def get_backend(request: Request) -> Backend:
    return request.app.state.backend


async def get_service(request: Request) -> GenerationService:
    return request.app.state.service


SettingsDep = Annotated[Settings, Depends(get_settings)]
BackendDep = Annotated[Backend, Depends(get_backend)]
ServiceDep = Annotated[GenerationService, Depends(get_service)]
