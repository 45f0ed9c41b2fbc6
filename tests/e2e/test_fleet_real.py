"""A fleet with real engines: llama.cpp's own ``llama-server`` (an OpenAI-compatible server
written by someone else) serving SmolLM2-135M-Instruct, the embedded engine, and two fake Ollama
servers, all behind one ``ollama-gateway serve --config`` port.

- The official ``ollama`` and ``openai`` clients through the gateway get, at temperature 0, the
  same text as ``llama-server`` gives directly.
- All three APIs (the seed call, Ollama's, OpenAI's) reach every kind of upstream through the one
  port, with an alias, failover, and per-upstream metrics and readiness.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama
import openai
import pytest

from tests.e2e.conftest import gateway_process
from tests.support.fake_ollama import FakeOllama
from tests.support.gguf_models import smollm2_path
from tests.support.processes import free_port
from tests.support.secrets import KEY_A, UPSTREAM_KEY

pytestmark = pytest.mark.slow

SERVED = "SmolLM2-135M-Instruct"  # llama-server's name for it (--alias)
ALIAS = "deepseek-r1:1.5b"  # the seed's default model, served by llama-server
EMBEDDED = "smollm2:135m"  # the same weights in the embedded engine's store
HEADERS = {"X-API-KEY": KEY_A}
QUESTION = [{"role": "user", "content": "Name three colours of the rainbow."}]


def llama_server_binary() -> Path:
    try:
        from tests.support.llama_server import build
    except ImportError:  # the shared builder's older home
        from bench.llama_server import llama_server as build
    return build()


@pytest.fixture(scope="module")
def llama_server(tmp_path_factory) -> Iterator[str]:
    """llama-server on a loopback port, requiring UPSTREAM_KEY."""
    port = free_port()
    log = tmp_path_factory.mktemp("llama-server") / "server.log"
    command = [str(llama_server_binary()), "-m", str(smollm2_path()), "--alias", SERVED]
    command += ["--host", "127.0.0.1", "--port", str(port), "-c", "4096", "-np", "2", "-t", "2"]
    command += ["--api-key", UPSTREAM_KEY]
    with open(log, "wb") as sink:
        proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait(15)


@pytest.fixture(scope="module")
def stand_ins() -> Iterator[list[FakeOllama]]:
    servers = [FakeOllama(models=["llama2:latest"]) for _ in range(2)]
    for server in servers:
        server.start()
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def fleet(llama_server, stand_ins, tmp_path_factory) -> Iterator[str]:
    from ollama_gateway.models.store import ModelStore

    tmp = tmp_path_factory.mktemp("fleet")
    ModelStore(tmp / "models").import_gguf(smollm2_path(), EMBEDDED)
    one, two = stand_ins
    config = tmp / "gateway.yaml"
    config.write_text(
        f"""\
model: {ALIAS}
models_dir: {tmp / "models"}
pull_on_start: false
num_ctx: 2048
parallel: 2
upstreams:
  - {{name: ollama-1, url: "{one.url}"}}
  - {{name: ollama-2, url: "{two.url}"}}
  - name: llama-server
    type: openai
    url: {llama_server}
    api_key: ${{LLAMA_SERVER_KEY}}
  - name: embedded
    type: embedded
    models: [{EMBEDDED}]
aliases:
  {ALIAS}: {SERVED}
health_interval: 0.5
"""
    )
    with pytest.MonkeyPatch.context() as env:
        env.setenv("LLAMA_SERVER_KEY", UPSTREAM_KEY)  # the config names it; the process inherits
        with gateway_process(tmp, "--config", str(config)) as url:
            yield url
    assert UPSTREAM_KEY not in (tmp / "gateway.log").read_text(errors="replace")


def test_official_clients_get_the_upstreams_own_text_at_temperature_0(fleet, llama_server):
    direct = openai.OpenAI(base_url=f"{llama_server}/v1", api_key=UPSTREAM_KEY, max_retries=0)
    expected = (
        direct.chat.completions.create(
            model=SERVED, messages=QUESTION, temperature=0, max_tokens=24
        )
        .choices[0]
        .message.content
    )
    assert expected.strip()

    through = openai.OpenAI(base_url=f"{fleet}/v1", api_key=KEY_A, max_retries=0)
    reply = through.chat.completions.create(
        model=ALIAS, messages=QUESTION, temperature=0, max_tokens=24
    )
    assert reply.choices[0].message.content == expected and reply.model == ALIAS
    streamed = through.chat.completions.create(
        model=ALIAS, messages=QUESTION, temperature=0, max_tokens=24, stream=True
    )
    assert "".join(c.choices[0].delta.content or "" for c in streamed if c.choices) == expected

    client = ollama.Client(host=fleet, headers=HEADERS)
    options = {"temperature": 0, "num_predict": 24}
    chat = client.chat(model=ALIAS, messages=QUESTION, options=options)
    assert chat.message.content == expected
    assert chat.eval_count > 0 and chat.prompt_eval_count > 0  # from llama-server's usage
    generated = client.generate(model=ALIAS, prompt=QUESTION[0]["content"], options=options)
    assert generated.response == expected  # the prompt as one user turn, as Ollama templates it


def test_every_api_reaches_every_kind_of_upstream_through_one_port(fleet, stand_ins):
    seed = httpx.post(  # the seed call's body: only a prompt (no bound on its length here)
        f"{fleet}/api/generate", json={"prompt": "Say hi."}, headers=HEADERS, timeout=300
    )
    assert seed.status_code == 200 and seed.json()["generated_text"].strip()
    assert seed.json()["model"] == ALIAS  # the default model, through the alias

    client = ollama.Client(host=fleet, headers=HEADERS, timeout=120)
    assert client.chat(model="llama2", messages=QUESTION).message.content == "Hello, world!"
    oai = openai.OpenAI(base_url=f"{fleet}/v1", api_key=KEY_A, max_retries=0, timeout=120)
    embedded = oai.chat.completions.create(
        model=EMBEDDED, messages=QUESTION, temperature=0, max_tokens=16
    )
    assert embedded.choices[0].message.content.strip() and embedded.model == EMBEDDED

    names = {m.model for m in client.list().models}
    assert {"llama2:latest", SERVED, ALIAS, EMBEDDED} <= names
    where = {(m.model, getattr(m, "upstream", None)) for m in client.ps().models}
    assert {m for m, _ in where} >= {ALIAS, EMBEDDED}
    ps = httpx.get(f"{fleet}/api/ps", headers=HEADERS).json()["models"]
    assert {m["upstream"] for m in ps} >= {"llama-server", "embedded"}

    ready = httpx.get(f"{fleet}/ready").json()
    assert ready["status"] == "ready"
    assert {u["name"]: u["state"] for u in ready["upstreams"]} == {
        "ollama-1": "closed",
        "ollama-2": "closed",
        "llama-server": "closed",
        "embedded": "closed",
    }
    metrics = httpx.get(f"{fleet}/metrics", headers=HEADERS).text
    for name in ("llama-server", "embedded"):
        assert f'upstream_requests_total{{status="ok",upstream="{name}"}}' in metrics
    assert 'upstream_requests_total{status="ok",upstream="ollama-' in metrics


def test_an_ollama_stand_in_dies_and_its_requests_go_to_the_other(fleet, stand_ins):
    one, two = stand_ins
    one.stop()
    before = sum(r.path == "/api/generate" for r in two.requests)
    client = ollama.Client(host=fleet, headers=HEADERS)
    for _ in range(4):
        reply = client.generate(model="llama2", prompt="hi")
        assert reply.response == "Hello, world!"
    assert sum(r.path == "/api/generate" for r in two.requests) == before + 4
    deadline = time.monotonic() + 30
    while True:
        states = {u["name"]: u["state"] for u in httpx.get(f"{fleet}/ready").json()["upstreams"]}
        if states["ollama-1"] == "open":
            break
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert states["ollama-2"] == "closed"
