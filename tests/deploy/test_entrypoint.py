"""The image's ENTRYPOINT and HEALTHCHECK, run for real outside Docker: the supervisor starts a
stand-in ``ollama`` and the real ``ollama-gateway serve``."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.deploy.conftest import free_port
from tests.deploy.manifests import ROOT, dockerfile_instructions
from tests.support.secrets import KEY_A

DOCKERFILE = ROOT / "Dockerfile"


def image_command(keyword: str) -> list[str]:
    """The exec form of an instruction, from ``ollama-gateway`` on (tini is Docker's business)."""
    (ins,) = [i for i in dockerfile_instructions(DOCKERFILE) if i.keyword == keyword]
    argv = ins.exec_form()
    assert argv is not None
    return argv[argv.index("ollama-gateway") :]


def healthcheck(env: dict[str, str]) -> int:
    return subprocess.run(image_command("HEALTHCHECK"), env=env, timeout=30).returncode


def get(url: str, headers: dict[str, str] | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


@pytest.fixture
def started(container_env: dict[str, str]):
    port = free_port()
    env = {
        **container_env,
        "API_KEY": KEY_A,
        "MODEL_NAME": "tiny:1b",
        "OLLAMA_GATEWAY_PORT": str(port),
    }
    # `docker run IMAGE --host 127.0.0.1` appends to the ENTRYPOINT just like this.
    proc = subprocess.Popen(
        [*image_command("ENTRYPOINT"), "--host", "127.0.0.1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    yield proc, env, port
    if proc.poll() is None:
        proc.kill()
        proc.communicate(timeout=10)


def test_entrypoint_serves_with_ollama_behind_it_and_stops_cleanly(started):
    proc, env, port = started
    deadline = time.monotonic() + 40
    while healthcheck(env) != 0:
        assert proc.poll() is None, proc.communicate()[0]
        assert time.monotonic() < deadline, "the gateway never became healthy"
        time.sleep(0.3)

    base = f"http://127.0.0.1:{port}"
    with urllib.request.urlopen(f"{base}/", timeout=5) as response:  # Ollama's, no key
        assert response.read() == b"Ollama is running"
    assert get(f"{base}/info")[0] == 401
    status, body = get(f"{base}/info", {"X-API-KEY": KEY_A})
    assert status == 200
    assert (body["backend"], body["default_model"]) == ("ollama", "tiny:1b")

    proc.send_signal(signal.SIGTERM)
    output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    events = Path(env["FAKE_EVENTS"]).read_text().splitlines()
    assert "ollama pull tiny:1b" in events and events[-1] == "ollama stopped"
    assert KEY_A not in output


def test_entrypoint_without_a_key_exits_non_zero_and_stops_ollama(container_env):
    env = {**container_env, "MODEL_NAME": "tiny:1b", "FAKE_OLLAMA_MODELS": "tiny:1b"}
    result = subprocess.run(
        image_command("ENTRYPOINT"), env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode != 0
    assert "refusing to serve on 0.0.0.0 without an API key" in result.stdout + result.stderr
    events = Path(env["FAKE_EVENTS"]).read_text().splitlines()
    assert events[-1] == "ollama stopped"
