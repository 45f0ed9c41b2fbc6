"""OpenAI's API under ``/v1``: chat completions, completions, models, embeddings."""

from ollama_gateway.api.openai.routes import router

__all__ = ["router"]
