"""Fixtures for running the images' commands outside Docker."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy.manifests import ROOT
from tests.support.processes import free_port

SUPPORT = ROOT / "tests" / "support"


def write_script(path: Path, target: list[str]) -> None:
    path.write_text("#!/bin/sh\nexec " + " ".join(shlex.quote(t) for t in target) + ' "$@"\n')
    path.chmod(0o755)


@pytest.fixture
def container_env(tmp_path: Path) -> dict[str, str]:
    """PATH with a stand-in ``ollama`` and this checkout's ``ollama-gateway``; HOME in tmp."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    write_script(bin_dir / "ollama", [sys.executable, str(SUPPORT / "fake_ollama_bin.py")])
    cli = "import sys; from ollama_gateway.cli import main; sys.exit(main())"
    write_script(bin_dir / "ollama-gateway", [sys.executable, "-c", cli])
    home = tmp_path / "home"
    home.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("API_KEY", "MODEL_NAME")}
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        PYTHONPATH=str(ROOT / "src"),
        HOME=str(home),
        OLLAMA_HOST=f"127.0.0.1:{free_port()}",
        FAKE_EVENTS=str(tmp_path / "events.log"),
        FAKE_OLLAMA_MODELS="",
    )
    return env


@pytest.fixture
def ollama_server(container_env: dict[str, str]) -> Iterator[dict[str, str]]:
    """The stand-in ``ollama serve`` running at ``container_env``'s OLLAMA_HOST."""
    proc = subprocess.Popen(["ollama", "serve"], env=container_env)
    host, _, port = container_env["OLLAMA_HOST"].rpartition(":")
    deadline = time.monotonic() + 15
    while True:
        try:
            socket.create_connection((host, int(port)), timeout=1).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "fake ollama did not start"
            time.sleep(0.05)
    yield container_env
    proc.terminate()
    proc.wait(timeout=10)
