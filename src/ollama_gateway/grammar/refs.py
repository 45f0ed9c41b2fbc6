"""``$ref``: local references only (``#``, ``#/$defs/Name``, any ``#/json/pointer``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote

from ollama_gateway.grammar.errors import invalid, unsupported
from ollama_gateway.grammar.nodes import Path


def resolve(root: Any, ref: Any, path: Path) -> tuple[str, Any, Path]:
    """(key, target schema, target path) for ``ref`` found at ``path``."""
    if not isinstance(ref, str):
        raise invalid("$ref", path, "must be a string")
    if not ref.startswith("#"):
        raise unsupported("$ref", path, "only local references (#/...) are supported")
    fragment = unquote(ref[1:])
    if fragment and not fragment.startswith("/"):
        raise unsupported("$ref", path, "references to anchors are not supported")
    target = root
    target_path: list[str | int] = []
    for raw in fragment.split("/")[1:]:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and part in target:
            target = target[part]
            target_path.append(part)
        elif isinstance(target, list) and part.isdigit() and int(part) < len(target):
            target = target[int(part)]
            target_path.append(int(part))
        else:
            raise invalid("$ref", path, f"{ref[:200]!r} does not resolve")
    if not isinstance(target, dict | bool):
        raise invalid("$ref", path, f"{ref[:200]!r} is not a schema")
    return "#" + fragment, target, tuple(target_path)
