"""Model names as Ollama compares them: ``llama2`` and ``llama2:latest`` are one model."""

from __future__ import annotations


def full_name(model: str) -> str:
    """``model`` with its tag: ``:latest`` when the last path part has none.

    >>> full_name("llama2"), full_name("llama2:latest"), full_name("qwen2:0.5b")
    ('llama2:latest', 'llama2:latest', 'qwen2:0.5b')
    >>> full_name("host:5000/ns/m")  # a port is not a tag
    'host:5000/ns/m:latest'
    """
    return model if ":" in model.rpartition("/")[2] else model + ":latest"
