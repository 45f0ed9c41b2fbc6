"""ollama-gateway: a private, secured, fast LLM API in front of Ollama or an embedded llama.cpp engine."""

__version__ = "0.1.0"
