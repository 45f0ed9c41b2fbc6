"""Every route goes through FastAPI as FastAPI documents it (no shortcut past the framework).

What a bypass broke, checked through a live server: an endpoint returning a plain dict answers
it as JSON; ``HTTPException(418)`` answers 418 in the API family's error shape;
``app.dependency_overrides`` replaces the dependencies the gateway's own routes declare.
"""

from __future__ import annotations

import httpx
from fastapi import HTTPException

from ollama_gateway.app import create_app
from ollama_gateway.http.deps import get_backend
from tests.support.live import serve
from tests.support.scripted import ScriptedBackend


def test_added_routes_behave_as_fastapi_says(ollama, make_settings):
    app = create_app(make_settings(backend="ollama", ollama_url=ollama.url))

    @app.get("/api/plain")
    async def plain() -> dict:
        return {"answer": 42}

    @app.post("/v1/teapot")
    async def teapot() -> None:
        raise HTTPException(418, "I'm a teapot")

    @app.get("/api/teapot")
    async def ollama_teapot() -> None:
        raise HTTPException(418, "short and stout")

    with serve(app) as url:
        r = httpx.get(url + "/api/plain")
        assert (r.status_code, r.json()) == (200, {"answer": 42})
        r = httpx.post(url + "/v1/teapot")
        assert r.status_code == 418
        assert r.json()["error"]["message"] == "I'm a teapot"
        r = httpx.get(url + "/api/teapot")
        assert (r.status_code, r.json()) == (418, {"error": "short and stout"})


def test_dependency_overrides_reach_the_gateways_routes(ollama, make_settings):
    app = create_app(make_settings(backend="ollama", ollama_url=ollama.url))
    scripted = ScriptedBackend()
    with serve(app) as url:
        before = httpx.get(url + "/api/tags").json()["models"]
        app.dependency_overrides[get_backend] = lambda: scripted
        after = httpx.get(url + "/api/tags").json()["models"]
        show = httpx.post(url + "/api/show", json={"model": "tiny"}).json()
    assert {m["name"] for m in before} == set(ollama.models)
    assert [m["name"] for m in after] == ["tiny:latest"]  # the scripted backend's
    assert show["template"] == "{{ .Prompt }}"


def test_bodies_are_json_whatever_the_content_type(gateway):
    """``curl -d`` (form content type), no content type, JSON: the same; NaN is not JSON."""
    for headers in (
        {"content-type": "application/x-www-form-urlencoded"},  # curl -d, Ollama's examples
        {"content-type": "text/plain"},
        {},
        {"content-type": "application/json; charset=utf-8"},
    ):
        r = httpx.post(gateway + "/api/generate", content=b'{"prompt": "hi"}', headers=headers)
        assert (r.status_code, r.json()["generated_text"]) == (200, "Hello, world!"), headers
        r = httpx.post(gateway + "/api/generate", content=b"{nope", headers=headers)
        assert (r.status_code, r.json()["detail"]) == (400, "invalid JSON in request body")
    for bad in (b'{"prompt": "x", "options": {"temperature": NaN}}', b'{"prompt": "\\ud800"}'):
        r = httpx.post(
            gateway + "/v1/completions", content=bad, headers={"content-type": "application/json"}
        )
        assert r.status_code == 400, bad
        assert r.json()["error"]["message"] == "invalid JSON in request body"
