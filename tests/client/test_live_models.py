"""Model management through the real gateway, in front of the fake Ollama (sync and async)."""

from __future__ import annotations

import pytest

from ollama_gateway.client import ResponseError
from tests.client.gateway import KEY


@pytest.fixture
def models(ollama):
    """The fake Ollama's model list, restored after the test changes it."""
    before = list(ollama.models)
    yield ollama.models
    ollama.models[:] = before


async def test_list_ps_show(gateway, make_api, models):
    api = make_api(url=gateway, api_key=KEY)
    listed = await api.call("list")
    assert [m.name for m in listed.models] == models
    assert {m.size for m in listed.models} == {1117322768}
    assert listed.models[0].details.family == "qwen2"
    loaded = await api.call("ps")
    assert [m.name for m in loaded.models] == models[:1]
    shown = await api.call("show", models[0])
    assert (shown.template, shown.capabilities) == ("{{ .Prompt }}", ["completion"])


async def test_pull_copy_delete(gateway, make_api, models):
    api = make_api(url=gateway, api_key=KEY)
    progress = await api.call("pull", "tiny:latest")
    statuses = (
        [p.status async for p in progress] if api.kind == "async" else [p.status for p in progress]
    )
    assert statuses[0] == "pulling manifest" and statuses[-1] == "success"
    assert "tiny:latest" in models
    assert (await api.call("copy", "tiny:latest", "mine:latest")).status == "success"
    assert "mine:latest" in models
    assert (await api.call("delete", "mine:latest")).status == "success"
    assert "mine:latest" not in models


async def test_missing_models_are_404s(gateway, make_api, models):
    api = make_api(url=gateway, api_key=KEY)
    for call in (api.call("show", "missing"), api.call("delete", "missing")):
        with pytest.raises(ResponseError) as caught:
            await call
        assert caught.value.status_code == 404
        assert caught.value.message == 'model "missing" not found, try pulling it first'


async def test_embed(gateway, ollama, make_api):
    api = make_api(url=gateway, api_key=KEY)
    answer = await api.call("embed", ["a", "b"], "llama2", dimensions=2)
    assert answer.embeddings == [[0.1, 1.1], [0.2, 1.2]]  # the fake's vectors, 2 wide
    assert (answer.model, answer.prompt_eval_count) == ("llama2", 2)
    sent = ollama.last("/api/embed").body
    assert (sent["model"], sent["input"], sent["dimensions"]) == ("llama2", ["a", "b"], 2)


async def test_version(gateway, make_api):
    version = await make_api(url=gateway, api_key=KEY).call("version")
    assert version.version == "0.12.0"  # the upstream's, as Ollama clients expect
