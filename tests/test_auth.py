"""The auth matrix, through a live gateway: keys from settings, keys files, both headers."""

from __future__ import annotations

import hashlib
import logging

import httpx
import pytest

from ollama_gateway.app import InsecureConfiguration, create_app
from ollama_gateway.http.auth import KeyFileError, KeyRing, read_keys_file
from tests.support.live import serve
from tests.support.secrets import KEY_A, KEY_B, KEY_HASHED, WRONG_KEY

AUTH_BODY = {"detail": "Invalid or missing API key", "error": "Invalid or missing API key"}


@pytest.fixture
def keyed(ollama, make_settings, tmp_path):
    keys_file = tmp_path / "keys"
    digest = hashlib.sha256(KEY_HASHED.encode()).hexdigest()
    keys_file.write_text(f"# team keys\nsha256:{digest} name=alice rpm=10\n\n{KEY_B}\n")
    settings = make_settings(
        backend="ollama", ollama_url=ollama.url, api_keys=[KEY_A], keys_file=keys_file
    )
    with serve(create_app(settings)) as url:
        yield url


def test_no_keys_on_loopback_is_open(ollama, make_settings):
    with serve(create_app(make_settings(backend="ollama", ollama_url=ollama.url))) as url:
        assert httpx.post(url + "/api/generate", json={"prompt": "hi"}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-API-KEY": ""},
        {"X-API-KEY": WRONG_KEY},
        {"Authorization": f"Bearer {WRONG_KEY}"},
        {"Authorization": f"Basic {KEY_A}"},
        {"Authorization": "Bearer"},
        {"X-API-KEY": KEY_A.upper()},
        {"X-API-KEY": KEY_A[:-1]},
    ],
)
@pytest.mark.parametrize("path", ["/api/generate", "/api/generate/"])
def test_missing_or_wrong_key_is_401_with_the_seed_body(keyed, headers, path):
    r = httpx.post(keyed + path, json={"prompt": "hi"}, headers=headers)
    assert r.status_code == 401
    assert r.json() == AUTH_BODY


@pytest.mark.parametrize(
    "headers",
    [
        {"X-API-KEY": KEY_A},
        {"Authorization": f"Bearer {KEY_A}"},
        {"authorization": f"bearer {KEY_B}"},
        {"X-API-KEY": KEY_HASHED},
        {"Authorization": f"Bearer {KEY_HASHED}"},
    ],
)
def test_right_key_through_either_header(keyed, headers):
    r = httpx.post(keyed + "/api/generate", json={"prompt": "hi"}, headers=headers)
    assert r.status_code == 200
    assert r.json()["generated_text"] == "Hello, world!"


def test_health_needs_no_key_but_everything_else_does(keyed):
    assert httpx.get(keyed + "/health").status_code == 200
    assert httpx.get(keyed + "/").text == "Ollama is running"  # Ollama's detection, no key
    assert httpx.get(keyed + "/info").status_code == 401
    assert httpx.get(keyed + "/info", headers={"X-API-KEY": KEY_A}).status_code == 200
    assert httpx.post(keyed + "/api/chat", json={}).json() == {"error": AUTH_BODY["error"]}
    assert httpx.get(keyed + "/no/such/route").status_code == 401


def test_auth_is_checked_before_the_body(keyed):
    """A 401 is a 401 even for a malformed body (the original answered 500)."""
    r = httpx.post(
        keyed + "/api/generate", content=b"{broken", headers={"content-type": "application/json"}
    )
    assert r.status_code == 401


def test_environment_keys_and_the_original_api_key_name(ollama, monkeypatch):
    from ollama_gateway.settings import Settings

    monkeypatch.setenv("API_KEY", KEY_A)
    monkeypatch.setenv("OLLAMA_GATEWAY_API_KEYS", f"{KEY_B}")
    settings = Settings(_env_file=None, backend="ollama", ollama_url=ollama.url)
    # the project's own variable wins over the original name when both are set
    assert [k.get_secret_value() for k in settings.api_keys] == [KEY_B]
    monkeypatch.delenv("OLLAMA_GATEWAY_API_KEYS")
    settings = Settings(_env_file=None, backend="ollama", ollama_url=ollama.url)
    with serve(create_app(settings)) as url:
        assert httpx.post(url + "/api/generate", json={"prompt": "x"}).status_code == 401
        r = httpx.post(url + "/api/generate", json={"prompt": "x"}, headers={"X-API-KEY": KEY_A})
        assert r.status_code == 200


def test_comma_separated_keys(make_settings):
    settings = make_settings(api_keys=f"{KEY_A},{KEY_B}")
    ring = KeyRing.from_settings(settings)
    assert len(ring) == 2
    assert ring.match(KEY_B) is not None and ring.match(WRONG_KEY) is None


@pytest.mark.parametrize("bad", [" ", f"{KEY_A}, ", f" {KEY_A}", ","])
def test_empty_or_whitespace_keys_are_refused(make_settings, bad):
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="API keys must not"):
        make_settings(api_keys=bad)


def test_short_keys_are_accepted_with_a_warning(make_settings, caplog):
    with caplog.at_level(logging.WARNING):
        make_settings(api_keys=["shortkey"])
    assert "shorter than 16 characters" in caplog.text
    assert "shortkey" not in caplog.text


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("sha256:abc", "64 hex digits"),
        (f"{KEY_A} rpm=fast", "rpm must be a positive integer"),
        (f"{KEY_A} color=blue", "expected name=ID"),
    ],
)
def test_bad_keys_file_lines_name_the_line(tmp_path, line, message):
    path = tmp_path / "keys"
    path.write_text(f"# comment\n{line}\n")
    with pytest.raises(KeyFileError, match=message) as info:
        read_keys_file(path)
    assert f"{path}:2" in str(info.value)


def test_key_ids_are_digest_prefixes_or_names(tmp_path):
    path = tmp_path / "keys"
    path.write_text(f"{KEY_A}\n{KEY_B} name=bob tpm=100\n")
    keys, short = read_keys_file(path)
    assert short == 0
    assert keys[0].key_id == hashlib.sha256(KEY_A.encode()).hexdigest()[:8]
    assert (keys[1].key_id, keys[1].tpm, keys[1].rpm) == ("bob", 100, None)


def test_public_bind_without_keys_is_refused(make_settings):
    with pytest.raises(InsecureConfiguration) as info:
        create_app(make_settings(host="0.0.0.0"))
    message = str(info.value)
    assert "--api-key" in message and "--insecure-no-auth" in message
    create_app(make_settings(host="0.0.0.0", insecure_no_auth=True))
    create_app(make_settings(host="0.0.0.0", api_keys=[KEY_A]))
    create_app(make_settings(host="::1"))


def test_cors_is_off_unless_origins_are_configured(ollama, make_settings):
    preflight = {
        "Origin": "https://evil.example",
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-api-key",
    }
    with serve(create_app(make_settings(backend="ollama", ollama_url=ollama.url))) as url:
        r = httpx.options(url + "/api/generate", headers=preflight)
        assert "access-control-allow-origin" not in r.headers
        r = httpx.post(
            url + "/api/generate", json={"prompt": "x"}, headers={"Origin": "https://evil.example"}
        )
        assert "access-control-allow-origin" not in r.headers


def test_cors_preflight_from_an_unlisted_origin_is_not_echoed(ollama, make_settings):
    settings = make_settings(
        backend="ollama",
        ollama_url=ollama.url,
        api_keys=[KEY_A],
        cors_origins="https://app.example",
    )
    with serve(create_app(settings)) as url:
        asked = {
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key",
        }
        bad = httpx.options(
            url + "/api/generate", headers={"Origin": "https://evil.example", **asked}
        )
        assert bad.headers.get("access-control-allow-origin") != "https://evil.example"
        assert "access-control-allow-credentials" not in bad.headers
        good = httpx.options(
            url + "/api/generate", headers={"Origin": "https://app.example", **asked}
        )
        assert good.status_code == 200  # preflight needs no key
        assert good.headers["access-control-allow-origin"] == "https://app.example"
        assert "access-control-allow-credentials" not in good.headers


# --- one rule for the headers that carry a key -----------------------------------------------
# Every X-API-KEY and Authorization: Bearer header must hold the same key; anything else is a 401.
CHALLENGE = 'Bearer realm="ollama-gateway"'


@pytest.mark.parametrize(
    "headers",
    [
        [("X-API-KEY", KEY_A), ("X-API-KEY", WRONG_KEY)],
        [("X-API-KEY", WRONG_KEY), ("X-API-KEY", KEY_A)],
        [("Authorization", f"Bearer {KEY_A}"), ("Authorization", f"Bearer {WRONG_KEY}")],
        [("Authorization", f"Bearer {WRONG_KEY}"), ("Authorization", f"Bearer {KEY_A}")],
        [("X-API-KEY", ""), ("Authorization", f"Bearer {KEY_A}")],
        [("Authorization", f"Bearer {KEY_A}"), ("X-API-KEY", "")],
        [("X-API-KEY", KEY_A), ("Authorization", "Bearer")],
        [("X-API-KEY", KEY_A), ("Authorization", f"Bearer {KEY_B}")],  # two good keys: neither
        [("X-API-KEY", KEY_B), ("X-API-KEY", KEY_A)],
    ],
)
def test_conflicting_credentials_are_401_whatever_their_order(keyed, headers):
    r = httpx.post(keyed + "/api/generate", json={"prompt": "hi"}, headers=headers)
    assert r.status_code == 401
    assert r.json() == AUTH_BODY
    assert r.headers["www-authenticate"] == CHALLENGE + ', error="invalid_token"'


@pytest.mark.parametrize(
    "headers",
    [
        [("X-API-KEY", KEY_A), ("X-API-KEY", KEY_A)],
        [("X-API-KEY", KEY_A), ("Authorization", f"Bearer {KEY_A}")],
        [("Authorization", f"Bearer {KEY_B}"), ("authorization", f"bearer  {KEY_B}")],
        [("Authorization", "Basic dXNlcjpwYXNz"), ("X-API-KEY", KEY_A)],  # a proxy's, not ours
    ],
)
def test_one_key_however_many_headers_carry_it(keyed, headers):
    r = httpx.post(keyed + "/api/generate", json={"prompt": "hi"}, headers=headers)
    assert r.status_code == 200, r.text


@pytest.mark.parametrize("path", ["/api/generate", "/api/tags", "/v1/models", "/metrics"])
def test_a_401_says_how_to_authenticate(keyed, path):
    none = httpx.request("POST" if path == "/api/generate" else "GET", keyed + path)
    assert none.status_code == 401
    assert none.headers["www-authenticate"] == CHALLENGE  # no key presented: no error code
    wrong = httpx.get(keyed + path, headers={"X-API-KEY": WRONG_KEY})
    assert wrong.status_code == 401
    assert wrong.headers["www-authenticate"] == CHALLENGE + ', error="invalid_token"'
