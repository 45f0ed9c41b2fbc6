"""Ollama's native API: generation (``/api/generate``, ``/api/chat``) and model endpoints."""

from fastapi import APIRouter

from ollama_gateway.api.ollama import generate, models

router = APIRouter()
router.include_router(generate.router)
router.include_router(models.router)

__all__ = ["router"]
