"""An OpenAI-compatible server (vLLM, SGLang, TGI, LM Studio, llama-server) as a backend."""

from ollama_gateway.backends.openai_compat.backend import OpenAIBackend

__all__ = ["OpenAIBackend"]
