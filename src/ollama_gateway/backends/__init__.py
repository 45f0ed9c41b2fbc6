"""Backends: where tokens come from (an Ollama upstream, or llama.cpp embedded in-process)."""
