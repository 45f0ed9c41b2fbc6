"""The edge of a real ``ollama-gateway serve`` process (issue 11 §4): clients that leave, text
that tries to forge log lines, forwarding headers and per-address rate limits."""

from __future__ import annotations

import re
import socket
import subprocess
import time

import httpx
import pytest

from tests.support.processes import start_serve

# A text log line starts with its time and level: anything else is a forged or broken line
# (tracebacks aside, which these tests also forbid).
LINE = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")


def _serve(ollama_url: str, *flags: str) -> tuple[subprocess.Popen, str]:
    return start_serve(
        "--backend", "ollama", "--ollama-url", ollama_url, "--log-format", "text", *flags,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )  # fmt: skip


def _stop(proc: subprocess.Popen) -> list[str]:
    proc.terminate()
    _, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    return err.decode(errors="replace").splitlines()


def _access(lines: list[str], request_id: str) -> list[str]:
    return [line for line in lines if f"ollama_gateway.access: {request_id} " in line]


def _raw(url: str, request: bytes) -> socket.socket:
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(request)
    return sock


def test_clients_that_leave_are_499s_without_tracebacks(ollama):
    ollama.script("hold", hold=True)
    proc, url = _serve(ollama.url)
    try:
        # 1. an upload that stops half-way, then the connection closes
        body = b'{"model": "hold", "prompt": "' + b"x" * 5000
        head = (
            b"POST /api/generate HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"X-Request-ID: gone-upload\r\nContent-Length: 100000\r\n\r\n"
        )
        _raw(url, head + body).close()
        # 2. a non-streamed request whose client leaves while the answer is being made
        body = b'{"model": "hold", "prompt": "x", "stream": false}'
        head = (
            b"POST /api/generate HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
            b"X-Request-ID: gone-waiting\r\nContent-Length: %d\r\n\r\n" % len(body)
        )
        waiting = _raw(url, head + body)
        deadline = time.monotonic() + 10
        while ollama.held < 1:
            assert time.monotonic() < deadline, "the request never reached Ollama"
            time.sleep(0.02)
        waiting.close()
        deadline = time.monotonic() + 10
        while ollama.held:
            assert time.monotonic() < deadline, "the upstream request was not abandoned"
            time.sleep(0.02)
        assert httpx.get(url + "/health").status_code == 200  # the server is fine
    finally:
        lines = _stop(proc)
    for request_id in ("gone-upload", "gone-waiting"):
        [line] = _access(lines, request_id)
        assert " POST /api/generate 499 " in line, line
    text = "\n".join(lines)
    assert "Traceback" not in text
    assert "Exception in ASGI application" not in text
    assert all(LINE.match(line) for line in lines), text


def test_client_text_cannot_forge_a_log_line(ollama):
    forged = "2026-01-01 00:00:00,000 INFO ollama_gateway.access: forged POST /api/generate 200"
    proc, url = _serve(ollama.url)
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            for path in ("/api/generate", "/api/chat", "/v1/chat/completions"):
                http.post(path, json={"model": "m\n" + forged, "prompt": "x", "messages": []})
            http.post("/api/generate", json={"model": "m\r" + forged, "prompt": "x"})
            http.get("/api/tags%0A" + forged.replace(" ", "%20"))
            http.get("/api/tags%0D%0A" + forged.replace(" ", "%20") + "%E2%80%A8x")
            reply = http.post("/api/generate", json={"model": "deepseek-r1:1.5b", "prompt": "x"})
            assert reply.status_code == 200
    finally:
        lines = _stop(proc)
    assert not any(line.startswith(forged[:23]) for line in lines)
    assert all(LINE.match(line) for line in lines), "\n".join(lines)
    escaped = [line for line in lines if "/api/tags\\n" in line]
    assert len(escaped) == 1 and '"/api/tags\\n2026-01-01' in escaped[0]  # quoted, escaped


def _generate(http: httpx.Client, forwarded_for: str | None) -> int:
    headers = {"X-Forwarded-For": forwarded_for} if forwarded_for else {}
    return http.post("/api/generate", json={"prompt": "x"}, headers=headers).status_code


def test_forwarded_for_is_ignored_unless_the_proxy_is_trusted(ollama):
    proc, url = _serve(ollama.url, "--rate-limit-rpm", "2")
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            codes = [_generate(http, f"10.0.0.{i}") for i in range(4)]
    finally:
        _stop(proc)
    # one client (127.0.0.1), whatever it claims: its two requests a minute, then 429
    assert codes == [200, 200, 429, 429]


def test_a_trusted_proxy_forwards_the_client_address(ollama):
    proc, url = _serve(ollama.url, "--rate-limit-rpm", "2", "--trusted-proxies", "127.0.0.1")
    try:
        with httpx.Client(base_url=url, timeout=10) as http:
            distinct = [_generate(http, f"10.0.0.{i}") for i in range(4)]
            same = [_generate(http, "10.9.9.9") for _ in range(3)]
    finally:
        _stop(proc)
    assert distinct == [200, 200, 200, 200]  # four clients behind the proxy
    assert same == [200, 200, 429]  # each with its own limit


@pytest.mark.parametrize("proxies", ["not-an-address", "10.0.0.0/33"])
def test_a_bad_trusted_proxy_is_a_usage_error(proxies):
    from click.testing import CliRunner

    from ollama_gateway.cli import main

    result = CliRunner().invoke(main, ["serve", "--trusted-proxies", proxies])
    assert result.exit_code == 2
    assert "trusted_proxies" in result.output
