"""Every route x every role -> the right status, in each API's own error shape; model allowlists
behave as not found; the official ``ollama`` and ``openai`` clients see the same."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import ollama
import openai
import pytest

from ollama_gateway.accounts.roles import required_scope
from ollama_gateway.app import create_app
from ollama_gateway.http.access import leaf_routes
from tests.support.live import serve
from tests.support.secrets import KEY_A, NEVER_LOGGED, WRONG_KEY

ADMIN = KEY_A


@pytest.fixture(scope="module")
def keys_and_gateway(fake_ollama, tmp_path_factory) -> Iterator[tuple[str, dict[str, str]]]:
    """A gateway in front of the fake Ollama with an admin (env), a user and a metrics key."""
    from ollama_gateway.settings import Settings

    db = tmp_path_factory.mktemp("roles") / "gateway.db"
    settings = Settings(
        _env_file=None,
        backend="ollama",
        ollama_url=fake_ollama.url,
        api_keys=ADMIN,
        database_url=f"sqlite:///{db}",
    )
    with serve(create_app(settings)) as url:
        admin = {"Authorization": f"Bearer {ADMIN}"}
        made = {}
        for role, models in (("user", ["llama2"]), ("metrics", [])):
            r = httpx.post(
                url + "/admin/keys",
                json={"name": role, "role": role, "models": models},
                headers=admin,
            )
            assert r.status_code == 201, r.text
            made[role] = r.json()["key"]
            NEVER_LOGGED.append(made[role])
        yield url, {"admin": ADMIN, **made}


# (method, path, body) in an order where every call can succeed for an admin.
ROUTES = [
    ("GET", "/health", None),
    ("GET", "/ready", None),
    ("GET", "/", None),
    ("GET", "/info", None),
    ("GET", "/docs", None),
    ("GET", "/openapi.json", None),
    ("GET", "/api/version", None),
    ("GET", "/me", None),
    ("GET", "/me/usage", None),
    ("POST", "/api/generate", {"model": "llama2", "prompt": "x"}),
    ("POST", "/api/chat", {"model": "llama2", "messages": [], "stream": False}),
    ("POST", "/api/embed", {"model": "llama2", "input": "x"}),
    ("POST", "/api/embeddings", {"model": "llama2", "prompt": "x"}),
    (
        "POST",
        "/v1/chat/completions",
        {"model": "llama2", "messages": [{"role": "user", "content": "x"}]},
    ),
    ("POST", "/v1/completions", {"model": "llama2", "prompt": "x"}),
    ("POST", "/v1/embeddings", {"model": "llama2", "input": "x"}),
    ("GET", "/api/tags", None),
    ("GET", "/api/ps", None),
    ("POST", "/api/show", {"model": "llama2:latest"}),
    ("GET", "/v1/models", None),
    ("GET", "/v1/models/llama2:latest", None),
    ("POST", "/api/pull", {"model": "llama2:latest", "stream": False}),
    ("POST", "/api/copy", {"source": "llama2:latest", "destination": "llama2-copy"}),
    ("DELETE", "/api/delete", {"model": "llama2-copy"}),
    ("GET", "/metrics", None),
    ("GET", "/status", None),
    ("GET", "/ui/", None),
    ("GET", "/admin/keys", None),
    ("GET", "/admin/usage", None),
    ("GET", "/admin/audit", None),
]
SCOPE_STATUS = {  # scope -> {role: status}
    "public": {"admin": 200, "user": 200, "metrics": 200, "none": 200, "wrong": 200},
    "any": {"admin": 200, "user": 200, "metrics": 200, "none": 401, "wrong": 401},
    "inference": {"admin": 200, "user": 200, "metrics": 403, "none": 401, "wrong": 401},
    "models": {"admin": 200, "user": 200, "metrics": 403, "none": 401, "wrong": 401},
    "manage": {"admin": 200, "user": 403, "metrics": 403, "none": 401, "wrong": 401},
    "metrics": {"admin": 200, "user": 403, "metrics": 200, "none": 401, "wrong": 401},
    "admin": {"admin": 200, "user": 403, "metrics": 403, "none": 401, "wrong": 401},
}


def _call(url: str, method: str, path: str, body, key: str | None) -> httpx.Response:
    headers = {"X-API-KEY": key} if key else {}
    return httpx.request(method, url + path, json=body, headers=headers, timeout=30)


def test_every_route_for_every_role(keys_and_gateway):
    url, keys = keys_and_gateway
    table = []
    for role in ("user", "metrics", "none", "wrong", "admin"):  # admin last: it changes models
        key = {"none": None, "wrong": WRONG_KEY}.get(role, keys.get(role))
        for method, path, body in ROUTES:
            scope = required_scope(method, path)
            r = _call(url, method, path, body, key)
            table.append((role, method, path, r.status_code))
            assert r.status_code == SCOPE_STATUS[scope][role], (role, method, path, r.text)
            if r.status_code == 403:
                _assert_forbidden_shape(path, r.json())
    assert len(table) == 5 * len(ROUTES)


def _assert_forbidden_shape(path: str, body: dict) -> None:
    if path.startswith("/v1/"):
        assert body["error"]["type"] == "permission_error"
        assert "may not use" in body["error"]["message"]
    elif path == "/api/generate":
        assert body["detail"] == body["error"]
    elif path.startswith("/api/"):
        assert list(body) == ["error"] and "may not use" in body["error"]
    else:
        assert list(body) == ["detail"]


def test_every_route_of_the_app_is_classified(make_settings):
    """A new route must be placed in accounts/roles.py, else it is admin-only by default."""
    app = create_app(make_settings())
    unlisted = []
    for route in leaf_routes(app.router.routes):
        for method in getattr(route, "methods", None) or ():
            path = route.path.split("{")[0]
            if required_scope(method, path) == "admin" and not path.startswith("/admin/"):
                unlisted.append(f"{method} {route.path}")
    assert unlisted == []


def test_models_outside_the_allowlist_do_not_exist_for_the_key(keys_and_gateway):
    url, keys = keys_and_gateway
    user = keys["user"]
    tags = _call(url, "GET", "/api/tags", None, user).json()["models"]
    assert [m["name"] for m in tags] == ["llama2:latest"]
    assert len(_call(url, "GET", "/api/tags", None, keys["admin"]).json()["models"]) >= 2
    for method, path, body in [
        ("POST", "/api/generate", {"model": "deepseek-r1:1.5b", "prompt": "x"}),
        ("POST", "/api/show", {"model": "deepseek-r1:1.5b"}),
        ("POST", "/api/embed", {"model": "deepseek-r1:1.5b", "input": "x"}),
        ("GET", "/v1/models/deepseek-r1:1.5b", None),
        (
            "POST",
            "/v1/chat/completions",
            {"model": "deepseek-r1:1.5b", "messages": [{"role": "user", "content": "x"}]},
        ),
    ]:
        denied = _call(url, method, path, body, user)
        assert denied.status_code == 404, (path, denied.text)
        # the words the gateway uses for a model that does not exist
        assert "not found" in denied.text or "does not exist" in denied.text
        assert "deepseek-r1:1.5b" in denied.text and "allow" not in denied.text
    shown = _call(url, "POST", "/api/show", {"model": "nope:1b"}, keys["admin"])
    assert shown.status_code == 404  # a missing model, for comparison


def test_the_official_clients_see_the_role(keys_and_gateway):
    url, keys = keys_and_gateway
    user = ollama.Client(host=url, headers={"Authorization": f"Bearer {keys['user']}"})
    assert [m.model for m in user.list().models] == ["llama2:latest"]
    with pytest.raises(ollama.ResponseError) as denied:
        user.pull("llama2")
    assert denied.value.status_code == 403
    with pytest.raises(ollama.ResponseError) as missing:
        user.generate(model="deepseek-r1:1.5b", prompt="x")
    assert missing.value.status_code == 404
    assert user.generate(model="llama2", prompt="x").response

    ai = openai.OpenAI(base_url=url + "/v1", api_key=keys["user"], max_retries=0)
    assert [m.id for m in ai.models.list()] == ["llama2:latest"]
    with pytest.raises(openai.NotFoundError):
        ai.chat.completions.create(
            model="deepseek-r1:1.5b", messages=[{"role": "user", "content": "x"}]
        )
    scraper = openai.OpenAI(base_url=url + "/v1", api_key=keys["metrics"], max_retries=0)
    with pytest.raises(openai.PermissionDeniedError) as forbidden:
        scraper.chat.completions.create(model="llama2", messages=[{"role": "user", "content": "x"}])
    assert forbidden.value.body["type"] == "permission_error"
