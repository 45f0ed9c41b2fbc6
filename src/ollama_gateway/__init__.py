"""ollama-gateway: a private, secured, fast LLM API for Ollama or embedded llama.cpp."""

__version__ = "0.1.0"
