"""OpenAI's API under ``/v1``: chat completions, completions, models, embeddings."""

from ollama_gateway.api.openai.routes import routes

__all__ = ["routes"]
