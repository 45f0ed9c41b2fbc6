"""A live gateway in front of several fake Ollama servers and a fake OpenAI-compatible one."""

from __future__ import annotations

import asyncio
import time

import httpx
import ollama
import openai
import orjson
import pytest

from tests.support.fake_ollama import FakeOllama
from tests.support.fake_openai import VLLM_MODEL, Script
from tests.support.secrets import UPSTREAM_KEY

R1 = "deepseek-r1:1.5b"


def served_by(*servers) -> list[int]:
    """How many generations each server received."""
    return [
        sum(r.path in ("/api/chat", "/api/generate", "/v1/chat/completions") for r in s.requests)
        for s in servers
    ]


def ndjson(text: str) -> list[dict]:
    return [orjson.loads(line) for line in text.splitlines() if line]


def up(name: str, url: str, **fields) -> dict:
    return {"name": name, "url": url, **fields}


def test_all_three_apis_through_ollama_and_openai_upstreams(fleet, ollamas, vllm):
    a = ollamas["a"]
    a.models = ["llama2:latest"]
    upstreams = [up("a", a.url), up("vllm", vllm.url, type="openai", api_key=UPSTREAM_KEY)]
    with fleet(upstreams, aliases={R1: VLLM_MODEL}) as f:
        seed = httpx.post(f"{f.url}/api/generate", json={"prompt": "Why?"})  # default model: R1
        assert seed.status_code == 200
        assert seed.json()["generated_text"] == "Hello, world!"
        assert seed.json()["model"] == R1  # the client-facing name, not vLLM's
        sent = vllm.last("/v1/chat/completions")
        assert sent.body["model"] == VLLM_MODEL
        assert sent.body["messages"] == [{"role": "user", "content": "Why?"}]
        assert sent.headers["Authorization"] == f"Bearer {UPSTREAM_KEY}"

        client = ollama.Client(host=f.url)
        parts = list(
            client.chat(model=R1, messages=[{"role": "user", "content": "Hi"}], stream=True)
        )
        assert "".join(p.message.content for p in parts) == "Hello, world!"
        assert parts[-1].done and parts[-1].eval_count == 4 and parts[-1].prompt_eval_count == 7
        native = client.generate(model="llama2", prompt="Hi", options={"temperature": 0.3})
        assert native.response == "Hello, world!"
        assert a.last("/api/generate").body["options"] == {"temperature": 0.3}  # passed through

        oai = openai.OpenAI(base_url=f"{f.url}/v1", api_key="unused", max_retries=0)
        reply = oai.chat.completions.create(
            model=R1, messages=[{"role": "user", "content": "Hi"}], temperature=0, max_tokens=9
        )
        assert reply.choices[0].message.content == "Hello, world!" and reply.model == R1
        body = vllm.last("/v1/chat/completions").body
        assert body["temperature"] == 0 and body["max_tokens"] == 9
        vectors = oai.embeddings.create(model=R1, input=["x", "y"])
        assert [v.embedding[:1] for v in vectors.data] == [[0.0], [0.5]]
        assert vectors.model == R1
        assert client.embed(model="llama2", input="x").embeddings == [[0.1, 1.1, 2.1]]


def test_merged_model_lists_aliases_and_ps(fleet, ollamas, vllm):
    a, b = ollamas["a"], ollamas["b"]
    a.models, b.models = ["llama2:latest", R1], ["llama2:latest", "qwen:7b"]
    b.loaded = ["qwen:7b"]
    upstreams = [up("a", a.url), up("b", b.url), up("vllm", vllm.url, type="openai")]
    with fleet(upstreams, aliases={"r1-vllm": VLLM_MODEL}) as f:
        tags = [m["name"] for m in httpx.get(f"{f.url}/api/tags").json()["models"]]
        assert sorted(tags) == sorted(["llama2:latest", R1, "qwen:7b", VLLM_MODEL, "r1-vllm"])
        ids = [m["id"] for m in httpx.get(f"{f.url}/v1/models").json()["data"]]
        assert sorted(ids) == sorted(tags)
        ps = httpx.get(f"{f.url}/api/ps").json()["models"]
        assert sorted((m["name"], m["upstream"]) for m in ps) == [
            ("llama2:latest", "a"),
            ("qwen:7b", "b"),
            ("r1-vllm", "vllm"),
        ]
        assert ollama.Client(host=f.url).ps().models[0].name  # the client reads it
        assert httpx.post(f"{f.url}/api/show", json={"model": "qwen:7b"}).status_code == 200
        missing = httpx.post(f"{f.url}/api/chat", json={"model": "nowhere:1b", "messages": []})
        assert missing.status_code == 404 and "not found" in missing.json()["error"]


def test_warm_upstreams_are_preferred(fleet, ollamas):
    a, b = ollamas["a"], ollamas["b"]
    a.loaded, b.loaded = [], ["llama2:latest"]
    with fleet([up("a", a.url), up("b", b.url)]) as f:
        for _ in range(6):
            r = httpx.post(f"{f.url}/api/generate", json={"model": "llama2", "prompt": "x"})
            assert r.status_code == 200
        assert served_by(a, b) == [0, 6]


async def _held(client: httpx.AsyncClient, url: str, count: int) -> list[asyncio.Task]:
    body = {"model": "hold", "prompt": "x", "stream": False}
    return [
        asyncio.create_task(client.post(f"{url}/api/generate", json=body)) for _ in range(count)
    ]


async def _until(condition, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.02)


async def test_least_in_flight_with_weights(fleet, ollamas):
    a, b = ollamas["a"], ollamas["b"]
    for server in (a, b):
        server.models = ["hold"]
        server.loaded = ["hold"]  # warm on both: the first reply cannot tip the choice
        server.script("hold", hold=True)
    with fleet(
        [up("a", a.url, weight=3), up("b", b.url)], parallel=16, first_token_timeout=60
    ) as f:
        await _until(lambda: all(f.upstream(n).warm for n in ("a", "b")))
        async with httpx.AsyncClient(timeout=30) as client:
            tasks = await _held(client, f.url, 8)
            await _until(lambda: a.held + b.held == 8)
            assert (a.held, b.held) == (6, 2)  # in flight relative to weight
            assert (f.upstream("a").in_flight, f.upstream("b").in_flight) == (6, 2)
            a.release_held()
            b.release_held()
            done = await asyncio.gather(*tasks)
        assert [r.status_code for r in done] == [200] * 8


async def test_full_upstreams_queue_then_503_with_retry_after(fleet, ollamas):
    a, b = ollamas["a"], ollamas["b"]
    for server in (a, b):
        server.models = ["hold"]
        server.script("hold", hold=True)
    upstreams = [up("a", a.url, max_in_flight=1), up("b", b.url, max_in_flight=1)]
    ended = len(a.ended) + len(b.ended)
    with fleet(upstreams, max_queue=1, queue_timeout=30, first_token_timeout=60) as f:
        async with httpx.AsyncClient(timeout=30) as client:
            running = await _held(client, f.url, 2)
            await _until(lambda: a.held + b.held == 2)
            queued = await _held(client, f.url, 1)
            await _until(lambda: f.router.admission.waiting == 1)
            (refused,) = await asyncio.gather(*await _held(client, f.url, 1))
            assert refused.status_code == 503 and refused.headers["Retry-After"] == "1"
            metrics = (await client.get(f"{f.url}/metrics")).text
            assert 'rejected_requests_total{reason="queue_full"} 1.0' in metrics
            a.release_held()
            b.release_held()
            # the first two ended and the queued one is held where a slot was freed (a count
            # of 1 alone could be a first reply that has not finished leaving)
            await _until(lambda: len(a.ended) + len(b.ended) == ended + 2 and a.held + b.held == 1)
            a.release_held()
            b.release_held()
            done = await asyncio.gather(*running, *queued)
        assert [r.status_code for r in done] == [200, 200, 200]


def test_affinity_keeps_a_conversation_and_moves_it_when_its_upstream_dies(fleet):
    servers = [FakeOllama() for _ in "abc"]
    for server in servers:
        server.start()
    upstreams = [up(n, s.url) for n, s in zip("abc", servers, strict=True)]
    turns = [{"role": "user", "content": "Plan a trip to Lisbon."}]
    with fleet(upstreams, session_affinity=True) as f:
        for i in range(4):
            r = httpx.post(
                f"{f.url}/api/chat", json={"model": "llama2", "messages": turns, "stream": False}
            )
            assert r.status_code == 200
            turns += [r.json()["message"], {"role": "user", "content": f"And day {i + 2}?"}]
        counts = served_by(*servers)
        assert sorted(counts) == [0, 0, 4]  # every turn on the same upstream
        home = counts.index(4)
        servers[home].stop()  # it dies
        for server in servers:
            server.requests.clear()
        for _ in range(3):
            r = httpx.post(
                f"{f.url}/api/chat", json={"model": "llama2", "messages": turns, "stream": False}
            )
            assert r.status_code == 200
        moved = served_by(*servers)
        assert sorted(moved) == [0, 0, 3] and moved[home] == 0  # to one other, together
    for i, server in enumerate(servers):
        if i != home:
            server.stop()


def test_failover_before_the_first_byte_and_ejection(fleet, ollamas, vllm):
    a = ollamas["a"]
    a.models = ["llama2:latest"]
    refused = up("gone", "http://127.0.0.1:9", models=["llama2:latest"])
    vllm.models = ["llama2:latest"]
    vllm.script = Script(status=502, error="bad gateway")
    upstreams = [refused, up("vllm", vllm.url, type="openai"), up("a", a.url)]
    with fleet(upstreams, routing="round_robin", breaker_failures=2, health_interval=60) as f:
        for _ in range(6):
            r = httpx.post(f"{f.url}/api/generate", json={"model": "llama2", "prompt": "x"})
            assert r.status_code == 200 and r.json()["response"] == "Hello, world!"
        assert f.upstream("gone").breaker.state.name == "OPEN"  # refused: ejected at once
        assert f.upstream("vllm").breaker.state.name == "OPEN"  # 502s: after two of them
        ready = httpx.get(f"{f.url}/ready").json()
        states = {u["name"]: u["state"] for u in ready["upstreams"]}
        assert states == {"gone": "open", "vllm": "open", "a": "closed"}
        assert "127.0.0.1:9" not in str(ready)  # upstream URLs are not published
        metrics = httpx.get(f"{f.url}/metrics").text
        assert (
            'ollama_gateway_upstream_requests_total{status="unavailable",upstream="gone"} 1.0'
            in metrics
        )
        assert (
            'ollama_gateway_upstream_requests_total{status="error",upstream="vllm"} 2.0' in metrics
        )
        assert 'ollama_gateway_upstream_requests_total{status="ok",upstream="a"} 6.0' in metrics
        assert 'ollama_gateway_upstream_breaker_state{upstream="vllm"} 2.0' in metrics
        assert 'ollama_gateway_upstream_failovers_total{upstream="gone"} 1.0' in metrics
        assert "ollama_gateway_upstream_first_token_seconds_bucket" in metrics
        assert 'ollama_gateway_upstream_in_flight{upstream="a"} 0.0' in metrics


def test_not_retried_once_streaming_began_and_not_for_the_clients_own_errors(fleet, ollamas):
    a, b = ollamas["a"], ollamas["b"]
    for server in (a, b):
        server.models = ["midfail", "llama2:latest"]
        server.script("midfail", fail_after=2)
    with fleet([up("a", a.url), up("b", b.url)]) as f:
        lines = ndjson(
            httpx.post(
                f"{f.url}/api/generate", json={"model": "midfail", "prompt": "x", "stream": True}
            ).text
        )
        assert lines[-1] == {"error": "model runner has unexpectedly stopped"}
        assert sum(served_by(a, b)) == 1  # not tried again: the stream had begun
        for server in (a, b):
            server.requests.clear()
        r = httpx.post(
            f"{f.url}/api/generate", json={"model": "llama2", "prompt": "x", "images": ["eA=="]}
        )
        assert r.status_code == 400 and sum(served_by(a, b)) == 1


def test_fallback_models_are_opt_in(fleet, ollamas):
    a = ollamas["a"]
    a.models = ["llama2:latest"]
    upstreams = [up("a", a.url), up("gone", "http://127.0.0.1:9", models=["big:70b"])]
    with fleet(upstreams) as f:
        r = httpx.post(f"{f.url}/api/generate", json={"model": "big:70b", "prompt": "x"})
        assert r.status_code == 503
    with fleet(upstreams, fallback_models={"big:70b": ["llama2"]}) as f:
        r = httpx.post(f"{f.url}/api/generate", json={"model": "big:70b", "prompt": "x"})
        assert r.status_code == 200 and r.json()["model"] == "llama2"  # it says who answered


def test_pull_everywhere_with_merged_progress_and_to_one(fleet, ollamas, vllm):
    a, b = ollamas["a"], ollamas["b"]
    upstreams = [up("a", a.url), up("b", b.url), up("vllm", vllm.url, type="openai")]
    with fleet(upstreams) as f:
        events = ndjson(httpx.post(f"{f.url}/api/pull", json={"model": "new:1b"}).text)
        assert events[-1] == {"status": "success"}
        assert sum(e.get("status") == "success" for e in events) == 1
        layer = [e for e in events if e.get("digest")]
        assert layer[-1]["total"] == 20 and layer[-1]["completed"] == 20  # 10 on each
        assert {e["upstream"] for e in events if e.get("status") == "pulled"} == {"a", "b"}
        assert "new:1b" in a.models and "new:1b" in b.models
        assert "new:1b" in [m["name"] for m in httpx.get(f"{f.url}/api/tags").json()["models"]]
        r = httpx.post(f"{f.url}/api/generate", json={"model": "new:1b", "prompt": "x"})
        assert r.status_code == 200

        one = ndjson(
            httpx.post(f"{f.url}/api/pull", json={"model": "only-a:1b", "upstream": "a"}).text
        )
        assert one[-1] == {"status": "success"}
        assert "only-a:1b" in a.models and "only-a:1b" not in b.models
        cannot = httpx.post(f"{f.url}/api/pull", json={"model": "x", "upstream": "vllm"})
        assert cannot.status_code == 400 and "cannot pull" in cannot.json()["error"]
        unknown = httpx.post(f"{f.url}/api/pull", json={"model": "x", "upstream": "nope"})
        assert unknown.status_code == 400 and "no upstream named" in unknown.json()["error"]

        assert (
            httpx.request("DELETE", f"{f.url}/api/delete", json={"model": "new:1b"}).status_code
            == 200
        )
        assert "new:1b" not in a.models and "new:1b" not in b.models
        gone = httpx.request("DELETE", f"{f.url}/api/delete", json={"model": "new:1b"})
        assert gone.status_code == 404
        cannot = httpx.request(
            "DELETE", f"{f.url}/api/delete", json={"model": VLLM_MODEL, "upstream": "vllm"}
        )
        assert cannot.status_code == 400


def test_upstream_is_refused_without_a_fleet(gateway):
    r = httpx.post(f"{gateway}/api/pull", json={"model": "x", "upstream": "a"})
    assert r.status_code == 400 and "no upstreams" in r.json()["error"]


@pytest.fixture
def gateway(ollama, make_settings):
    from ollama_gateway.app import create_app
    from tests.support.live import serve

    with serve(create_app(make_settings(backend="ollama", ollama_url=ollama.url))) as url:
        yield url


async def test_not_ready_while_no_upstream_is_healthy(fleet):
    with fleet([up("gone", "http://127.0.0.1:9")], health_interval=0.2) as f:
        async with httpx.AsyncClient() as client:
            deadline = time.monotonic() + 30
            while (r := await client.get(f"{f.url}/ready")).status_code == 200:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
    body = r.json()
    assert r.status_code == 503 and body["status"] == "upstream_unavailable"
    assert body["reason"] == "no upstream is healthy (gone: open)"
    assert body["upstreams"][0]["state"] in ("open", "half_open")
