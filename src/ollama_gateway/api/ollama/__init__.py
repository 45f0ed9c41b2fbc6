"""Ollama's native API: generation (``/api/generate``, ``/api/chat``) and model endpoints."""

from ollama_gateway.api.ollama import create, generate, models

__all__ = ["create", "generate", "models"]
