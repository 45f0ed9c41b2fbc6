"""An Ollama server as the backend: native pass-through over a pooled HTTP/1.1 client."""

from ollama_gateway.backends.ollama.backend import OllamaBackend

__all__ = ["OllamaBackend"]
