"""docs/architecture.md names only files, folders, modules and definitions that exist.

The page writes paths relative to ``src/ollama_gateway/`` unless they start with a top-level
folder of the repository; ``file.py:Name`` (or ``file.py:Class.method``) names a definition in
that file; ``ollama_gateway.a.b`` names a module. The directory listing in its code block names
the package's folders.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "ollama_gateway"
DOC = ROOT / "docs" / "architecture.md"
TOP_LEVEL = ("src/", "docs/", "tests/", "bench/", ".ci/")

_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.M | re.S)
_CODE = re.compile(r"`([^`\s]+)`")


def _resolve(path: str) -> Path:
    return ROOT / path if path.startswith(TOP_LEVEL) else PACKAGE / path


@cache
def _definitions(file: Path) -> dict[str, set[str]]:
    """Top-level classes and functions of ``file``, each with its own members."""
    tree = ast.parse(file.read_text(encoding="utf-8"))
    found: dict[str, set[str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            members = {
                child.name
                for child in getattr(node, "body", [])
                if isinstance(child, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
            }
            found[node.name] = members
    return found


def references(text: str) -> list[str]:
    """What the page names: paths (with an optional ``:Name``), modules, listed folders."""
    refs: list[str] = []
    for block in _FENCE.findall(text):
        for line in block.splitlines():
            first = line.split(maxsplit=1)[0] if line.strip() else ""
            if first.endswith("/"):
                refs.append(first)
    prose = _FENCE.sub("", text)
    for token in _CODE.findall(prose):
        module = token.startswith("ollama_gateway.")
        path = token.partition(":")[0]
        if module or (not token.startswith("/") and path.endswith((".py", ".md", "/"))):
            refs.append(token)
    return refs


def problems(text: str) -> list[str]:
    """Each reference in ``text`` that does not exist, with the reason."""
    out = []
    for ref in references(text):
        if ref.startswith("ollama_gateway."):
            base = ROOT / "src" / Path(*ref.split("."))
            if not (base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()):
                out.append(f"{ref}: no such module")
            continue
        path, _, name = ref.partition(":")
        file = _resolve(path)
        if not file.exists():
            out.append(f"{ref}: no such file or folder ({file.relative_to(ROOT)})")
            continue
        if name:
            outer, _, member = name.partition(".")
            defined = _definitions(file)
            if outer not in defined or (member and member not in defined[outer]):
                out.append(f"{ref}: {path} defines no {name}")
    return out


def test_every_named_path_exists() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert len(references(text)) > 50  # the page still names its files
    assert problems(text) == []


def test_the_check_catches_what_is_gone() -> None:
    text = (
        "`http/middleware.py:GatewayMiddleware` `core/service.py:GenerationService.complete` "
        "`nowhere/gone.py` `app.py:no_such_function` `core/service.py:GenerationService.nope` "
        "`ollama_gateway.no_such_module` `ollama_gateway.core.service`\n"
        "```\nhttp/   listed\nmissing_layer/   listed\n```\n"
    )
    assert problems(text) == [
        "missing_layer/: no such file or folder (src/ollama_gateway/missing_layer)",
        "nowhere/gone.py: no such file or folder (src/ollama_gateway/nowhere/gone.py)",
        "app.py:no_such_function: app.py defines no no_such_function",
        "core/service.py:GenerationService.nope: core/service.py defines no GenerationService.nope",
        "ollama_gateway.no_such_module: no such module",
    ]
