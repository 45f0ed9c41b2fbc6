"""Ollama's native API: generation (``/api/generate``, ``/api/chat``) and model endpoints."""

from ollama_gateway.api.ollama import generate, models

__all__ = ["generate", "models"]
