"""Replies of the gateway's own endpoints: service info and probes (``/openapi.json``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field


class ServiceInfo(BaseModel):
    name: Literal["ollama-gateway"]
    version: str
    default_model: str
    backend: str = Field(description="ollama or embedded")


class Health(BaseModel):
    status: Literal["ok"]


class Ready(BaseModel):
    status: Literal["ready"]
    backend: str


class NotReady(BaseModel):
    status: Literal["loading", "upstream_unavailable"]
    reason: str
