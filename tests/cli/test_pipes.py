"""The real ``ollama-gateway`` process in a shell pipeline."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.client.gateway import KEY

SRC = Path(__file__).resolve().parents[2] / "src"


def test_a_reader_that_stops_early_ends_the_command_quietly(gateway, ollama):
    """``ollama-gateway generate ... | head -c 1`` on an endless stream: exit 0, no traceback."""
    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "OLLAMA_GATEWAY_URL": gateway,
        "OLLAMA_GATEWAY_API_KEY": KEY,
    }
    code = "from ollama_gateway.cli import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "generate", "hi", "--model", "trickle"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )
    try:
        assert process.stdout.read(1) == b"x"
        process.stdout.close()  # the reader leaves, as `head -c 1` does
        _, stderr = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, stderr.decode()
    assert b"Traceback" not in stderr
