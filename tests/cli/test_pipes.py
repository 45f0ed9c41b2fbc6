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
    ollama.script("trickle", trickle=0.3)  # streams until the reader leaves
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


def _read_until(fd: int, marker: bytes, timeout: float = 15.0) -> bytes:
    import select
    import time

    seen = b""
    deadline = time.monotonic() + timeout
    while marker not in seen:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no {marker!r} on the terminal; saw {seen!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # the terminal closed
                break
            if not chunk:
                break
            seen += chunk
    return seen


def test_interactive_chat_on_a_terminal(gateway, ollama):
    """On a real (pseudo-)terminal: the >>> prompt, streamed answers, history, /bye."""
    import pty

    env = {
        **os.environ,
        "PYTHONPATH": str(SRC),
        "OLLAMA_GATEWAY_URL": gateway,
        "OLLAMA_GATEWAY_API_KEY": KEY,
        "TERM": "dumb",
    }
    main_fd, child_fd = pty.openpty()
    code = "from ollama_gateway.cli import main; main()"
    process = subprocess.Popen(
        [sys.executable, "-c", code, "chat", "-m", "llama2"],
        stdin=child_fd,
        stdout=child_fd,
        stderr=child_fd,
        env=env,
        close_fds=True,
    )
    os.close(child_fd)
    try:
        assert b"/bye" in _read_until(main_fd, b">>> ")
        os.write(main_fd, b"hello\n")
        assert b"Hello, world!" in _read_until(main_fd, b">>> ")
        os.write(main_fd, b"again\n")
        _read_until(main_fd, b">>> ")
        os.write(main_fd, b"/bye\n")
        process.wait(timeout=15)
    finally:
        process.kill()
        os.close(main_fd)
    assert process.returncode == 0
    second = [r.body for r in ollama.requests if r.path == "/api/chat"][-1]
    assert [m["content"] for m in second["messages"]] == ["hello", "Hello, world!", "again"]
