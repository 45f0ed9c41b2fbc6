"""The client and the command line work with the base install: no server dependencies."""

from __future__ import annotations

import doctest
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import ollama_gateway.cli._remote
import ollama_gateway.cli._render
import ollama_gateway.cli.keys_cmd
import ollama_gateway.client._base
import ollama_gateway.client._errors

SRC = Path(__file__).resolve().parents[2] / "src"
SERVER_ONLY = [
    *("fastapi", "starlette", "uvicorn", "aiohttp", "pydantic", "pydantic_settings"),
    *("llama_cpp", "orjson", "prometheus_client", "jinja2"),
]

BLOCKER = textwrap.dedent(
    """
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ModuleNotFoundError(f"blocked server dependency: {name}", name=name)
            return None

    sys.meta_path.insert(0, Block())
    """
)


def _run(code: str) -> subprocess.CompletedProcess[str]:
    program = f"BLOCKED = {SERVER_ONLY!r}\n{BLOCKER}\n{textwrap.dedent(code)}"
    env = {**os.environ, "PYTHONPATH": str(SRC)}
    return subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60
    )


def test_the_blocker_blocks():
    result = _run("import fastapi")
    assert result.returncode == 1
    assert "blocked server dependency: fastapi" in result.stderr


def test_client_and_cli_import_without_server_dependencies():
    result = _run(
        """
        from ollama_gateway.client import AsyncClient, Client, ResponseError
        from ollama_gateway.cli import main
        from ollama_gateway.cli import chat_cmd, client_cmds, keys_cmd, pull_cmd
        for command in ("generate", "chat", "pull", "list", "ls", "ps", "show", "rm", "cp"):
            try:
                main([command, "--help"])
            except SystemExit as exit:
                assert exit.code == 0, (command, exit.code)
        try:
            main(["serve", "--port", "1"])
        except SystemExit as exit:
            assert exit.code == 1, exit.code
        loaded = sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED)
        print("loaded:", loaded)
        """
    )
    assert result.returncode == 0, result.stderr
    assert "loaded: []" in result.stdout
    assert "Error: the server is not installed (pydantic): pip install" in result.stderr


@pytest.mark.parametrize(
    "module",
    [
        ollama_gateway.client._base,
        ollama_gateway.client._errors,
        ollama_gateway.cli._remote,
        ollama_gateway.cli._render,
        ollama_gateway.cli.keys_cmd,
    ],
)
def test_docstring_examples(module):
    failed, attempted = doctest.testmod(module)
    assert attempted > 0
    assert failed == 0
