"""Model references, the Ollama-layout local store, registry pulls and Ollama's Go templates.

``pull_model`` needs aiohttp (the ``server`` extra); it is imported on first use so that the
store and the names work with the base install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ollama_gateway.models.gotemplate import render_go_template
from ollama_gateway.models.manifest import Layer, Manifest
from ollama_gateway.models.refs import ModelRef, display_name, is_gguf_path, parse_ref
from ollama_gateway.models.store import ModelStore, ResolvedModel

if TYPE_CHECKING:
    from ollama_gateway.models.pull import pull_model

__all__ = [
    "Layer",
    "Manifest",
    "ModelRef",
    "ModelStore",
    "ResolvedModel",
    "display_name",
    "is_gguf_path",
    "parse_ref",
    "pull_model",
    "render_go_template",
]


def __getattr__(name: str) -> Any:
    if name == "pull_model":
        from ollama_gateway.models.pull import pull_model

        return pull_model
    raise AttributeError(name)
