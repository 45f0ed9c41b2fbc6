"""The error shape of each API family, as the API documents them (``/openapi.json``).

:mod:`ollama_gateway.api.errors` renders them; which one a reply uses depends on its path.
"""

from __future__ import annotations

from pydantic import BaseModel, Field


class OpenAIErrorDetail(BaseModel):
    message: str
    type: str = Field(description="invalid_request_error, authentication_error, ...")
    param: str | None
    code: str | None = Field(description="invalid_api_key, model_not_found, ... or null")


class OpenAIError(BaseModel):
    """Errors under ``/v1``."""

    error: OpenAIErrorDetail


class OllamaError(BaseModel):
    """Errors under ``/api`` (Ollama's shape)."""

    error: str


class SeedError(BaseModel):
    """Errors of ``/api/generate``: the seed contract reads ``detail``, Ollama clients ``error``."""

    detail: str
    error: str


class PlainError(BaseModel):
    """Errors elsewhere."""

    detail: str
