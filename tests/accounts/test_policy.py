"""Option caps for user keys, and pulls that cannot reach internal hosts (SSRF)."""

from __future__ import annotations

import httpx
import pytest

from ollama_gateway.models.registry_guard import GuardedResolver, check_pull, is_internal
from tests.support.scripted import ScriptedBackend
from tests.support.secrets import KEY_A, NEVER_LOGGED

ADMIN = {"X-API-KEY": KEY_A}


def _user_key(url: str, **fields) -> dict[str, str]:
    r = httpx.post(url + "/admin/keys", json={"name": "u", "role": "user", **fields}, headers=ADMIN)
    assert r.status_code == 201, r.text
    NEVER_LOGGED.append(r.json()["key"])
    return {"X-API-KEY": r.json()["key"]}


def test_user_keys_get_safe_caps_admins_get_what_they_ask(gateway_with, tmp_path):
    backend = ScriptedBackend()
    with gateway_with(
        backend,
        api_keys=KEY_A,
        user_max_num_ctx=2048,
        user_max_keep_alive="10m",
        database_url=f"sqlite:///{tmp_path / 'g.db'}",
    ) as (url, _):
        user = _user_key(url)
        body = {
            "model": "tiny",
            "prompt": "x",
            "stream": False,
            "keep_alive": -1,
            "options": {"num_ctx": 65536, "num_gpu": 99, "num_thread": 64, "temperature": 0.5},
        }
        assert httpx.post(url + "/api/generate", json=body, headers=user).status_code == 200
        assert httpx.post(url + "/api/generate", json=body, headers=ADMIN).status_code == 200
        as_user, as_admin = backend.requests[-2:]
        assert as_user.options == {"num_ctx": 2048, "temperature": 0.5}
        assert as_user.keep_alive == 600.0
        assert as_admin.options["num_ctx"] == 65536 and as_admin.options["num_gpu"] == 99
        assert as_admin.keep_alive == -1.0

        templated = {**body, "template": "{{ .Prompt }}"}
        r = httpx.post(url + "/api/generate", json=templated, headers=user)
        assert r.status_code == 403 and "admin key" in r.json()["error"]
        long_context = {**body, "context": list(range(3000))}
        assert httpx.post(url + "/api/generate", json=long_context, headers=user).status_code == 400
        huge = {"model": "tiny", "input": "x", "dimensions": 2**63 - 1}
        r = httpx.post(url + "/api/embed", json=huge, headers=user)
        assert r.status_code == 400 and "dimensions" in r.json()["error"]
        r = httpx.post(url + "/v1/embeddings", json=huge, headers=user)
        assert r.status_code == 400 and r.json()["error"]["type"] == "invalid_request_error"


@pytest.mark.parametrize(
    ("model", "reason"),
    [
        ("evil.example:5000/ns/m", "not allowed"),
        ("127.0.0.1:8080/ns/m", "not allowed"),
        ("localhost/ns/m", "not allowed"),
    ],
)
async def test_pulls_from_unlisted_registries_are_refused(make_settings, model, reason):
    from ollama_gateway.errors import Forbidden

    with pytest.raises(Forbidden, match=reason):
        await check_pull(model, False, make_settings())


async def test_listed_registries_that_resolve_inside_are_refused_unless_allowed(make_settings):
    from ollama_gateway.errors import Forbidden

    settings = make_settings(pull_registries="localhost,registry.ollama.ai")
    with pytest.raises(Forbidden, match="internal address"):
        await check_pull("localhost:5000/ns/m", True, settings)
    allowed = make_settings(pull_registries="localhost", pull_allow_private="localhost")
    await check_pull("localhost:5000/ns/m", True, allowed)  # explicitly allowed: no error


def test_internal_addresses():
    assert all(
        is_internal(a)
        for a in (
            "127.0.0.1",
            "10.0.0.1",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "0.0.0.0",
        )
    )
    assert not any(is_internal(a) for a in ("1.1.1.1", "2606:4700::1111"))


async def test_the_download_resolver_refuses_internal_addresses():
    guard = GuardedResolver()
    with pytest.raises(OSError, match="internal address"):
        await guard.resolve("localhost", 80)
    allowed = GuardedResolver(["localhost"])
    assert (await allowed.resolve("localhost", 80))[0]["host"] in ("127.0.0.1", "::1")
    await guard.close()
    await allowed.close()


def test_a_pull_through_the_gateway_to_an_internal_registry_is_a_403(
    fake_ollama, gateway_with, tmp_path
):
    with gateway_with(
        backend="ollama",
        ollama_url=fake_ollama.url,
        api_keys=KEY_A,
        pull_registries="registry.ollama.ai,localhost",
        database_url=f"sqlite:///{tmp_path / 'g.db'}",
    ) as (url, _):
        r = httpx.post(
            url + "/api/pull",
            json={"model": "localhost:5000/ns/m", "insecure": True},
            headers=ADMIN,
        )
        assert r.status_code == 403 and "internal address" in r.json()["error"]
        assert not any(
            q.path == "/api/pull" and "localhost" in str(q.body) for q in fake_ollama.requests
        )


def test_upstream_failures_do_not_name_internal_hosts_to_user_keys(gateway_with, tmp_path):
    from tests.support.processes import free_port

    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens: "cannot reach Ollama at ..."
    with gateway_with(
        backend="ollama", ollama_url=dead, api_keys=KEY_A,
        database_url=f"sqlite:///{tmp_path / 'g.db'}",
    ) as (url, _):  # fmt: skip
        user = _user_key(url)
        body = {"model": "llama2", "prompt": "x"}
        as_user = httpx.post(url + "/api/generate", json=body, headers=user)
        as_admin = httpx.post(url + "/api/generate", json=body, headers=ADMIN)
        assert as_user.status_code == as_admin.status_code == 503
        assert as_user.json()["error"] == "the model server is unavailable, try again later"
        assert dead.split("//")[1] not in as_user.text
        assert dead.split("//")[1] in as_admin.json()["error"]
