"""``ollama-gateway serve --log-format json|text --log-level``: what a real process writes."""

from __future__ import annotations

import os
import subprocess

import httpx
import orjson

from tests.support.processes import start_serve
from tests.support.secrets import KEY_B, SECRET_PROMPT


def _run(ollama_url: str, *flags: str) -> list[str]:
    """Start a gateway, make three requests, stop it; its stderr lines."""
    env = {**os.environ, "API_KEY": KEY_B}
    args = ("--ollama-url", ollama_url, "--backend", "ollama", *flags)
    proc, url = start_serve(*args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        ok = httpx.post(
            url + "/api/generate",
            json={"prompt": SECRET_PROMPT},
            headers={"X-API-KEY": KEY_B, "X-Request-ID": "proc-ok"},
            timeout=10,
        )
        assert ok.status_code == 200
        denied = httpx.post(url + "/api/generate", json={}, headers={"X-Request-ID": "proc-401"})
        assert denied.status_code == 401
        assert httpx.get(url + "/metrics", headers={"X-API-KEY": KEY_B}).status_code == 200
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0
    text = err.decode()
    assert KEY_B not in text and SECRET_PROMPT not in text
    return [line for line in text.splitlines() if line.strip()]


def test_json_format_is_one_object_per_line(ollama):
    lines = _run(ollama.url, "--log-format", "json")
    objects = [orjson.loads(line) for line in lines]  # every line parses
    assert all({"time", "level", "logger", "message"} <= set(o) for o in objects)
    access = {o["request_id"]: o for o in objects if o["logger"] == "ollama_gateway.access"}
    assert access["proc-ok"]["status"] == 200
    assert access["proc-ok"]["generated_tokens"] == 4
    assert access["proc-ok"]["route"] == "/api/generate"
    assert access["proc-401"]["status"] == 401 and access["proc-401"]["key_id"] == "-"
    assert any(o["logger"].startswith("uvicorn") for o in objects)  # the server's own lines too


def test_text_format_and_log_level(ollama):
    lines = _run(ollama.url, "--log-format", "text", "--log-level", "warning")
    assert not any("ollama_gateway.access" in line for line in lines)
    assert not any(line.startswith("{") for line in lines)
    info = _run(ollama.url, "--log-level", "info")
    access = [line for line in info if "ollama_gateway.access" in line]
    assert any(" GET /metrics 200 " in line for line in access)
    ok = [line for line in access if "proc-ok" in line]
    assert len(ok) == 1
    assert " INFO ollama_gateway.access: proc-ok POST /api/generate 200 " in ok[0]
    assert ok[0].endswith("model=deepseek-r1:1.5b prompt_tokens=3 generated_tokens=4")
