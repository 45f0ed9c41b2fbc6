"""The admin API end to end, on SQLite and on a real PostgreSQL: the multi-user guide's example.

An admin creates a key for a team limited to two models and a daily token quota; the team uses it
from the ``openai`` client; the admin reads the usage (JSON and CSV) and the audit log; the quota
answers 429 in OpenAI's shape once used up; disable, rotate and delete take effect at once.
"""

from __future__ import annotations

import csv
import io
import time

import httpx
import openai
import pytest

from tests.support.secrets import KEY_A, NEVER_LOGGED

ADMIN = {"X-API-KEY": KEY_A}


def _wait_for(check, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def gateway(fake_ollama, db_url, gateway_with):
    with gateway_with(
        backend="ollama", ollama_url=fake_ollama.url, api_keys=KEY_A, database_url=db_url
    ) as (url, _app):
        yield url


def test_a_team_key_with_two_models_and_a_daily_quota(gateway):
    url = gateway
    r = httpx.post(
        url + "/admin/keys",
        json={
            "name": "team-a",
            "role": "user",
            "models": ["llama2", "deepseek-r1:*"],
            "tokens_per_day": 40,
            "labels": {"team": "a", "owner": "ana"},
        },
        headers=ADMIN,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    key = created["key"]
    NEVER_LOGGED.append(key)
    assert created["prefix"] == key[:12] and created["tokens_per_day"] == 40
    listed = httpx.get(url + "/admin/keys", headers=ADMIN).json()["keys"]
    assert [k["name"] for k in listed] == ["team-a"]
    assert "key" not in listed[0] and key not in httpx.get(url + "/admin/keys", headers=ADMIN).text

    team = openai.OpenAI(base_url=url + "/v1", api_key=key, max_retries=0)
    assert sorted(m.id for m in team.models.list()) == ["deepseek-r1:1.5b", "llama2:latest"]
    reply = team.chat.completions.create(
        model="llama2", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content
    used = reply.usage.prompt_tokens + reply.usage.completion_tokens
    calls = 1
    with pytest.raises(openai.RateLimitError) as refused:
        for _ in range(100):  # until the 40-token day is used up
            team.chat.completions.create(
                model="llama2", messages=[{"role": "user", "content": "hi"}]
            )
            calls += 1
    assert calls * used >= 40 and (calls - 1) * used < 40
    error = refused.value
    assert error.body["type"] == "rate_limit_error"
    assert "quota exceeded: 40 tokens per day" in error.body["message"]
    assert "T00:00:00Z" in error.body["message"]
    assert 0 < int(error.response.headers["retry-after"]) <= 86400

    me = httpx.get(url + "/me", headers={"X-API-KEY": key}).json()
    assert (me["name"], me["role"], me["tokens_per_day"]) == ("team-a", "user", 40)

    def usage():
        rows = httpx.get(url + "/admin/usage?by=key,model", headers=ADMIN).json()["rows"]
        mine = [r for r in rows if r["key"] == created["id"] and r["model"] == "llama2"]
        return mine if mine and mine[0]["requests"] == calls else None

    rows = _wait_for(usage, "the usage rows")
    assert rows[0]["name"] == "team-a" and rows[0]["model"] == "llama2"
    assert rows[0]["total_tokens"] == calls * used and rows[0]["errors"] == 0

    def own():
        rows = httpx.get(url + "/me/usage?by=model", headers={"X-API-KEY": key}).json()["rows"]
        found = {r["model"]: (r["requests"], r["errors"]) for r in rows}
        # the listing, the refused call, /me and these queries name no model
        return found["llama2"] == (calls, 0) and found[""][0] >= 3 and found[""][1] == 1

    _wait_for(own, "the key's own usage")
    text = httpx.get(url + "/admin/usage?by=key&format=csv", headers=ADMIN)
    assert text.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(text.text)))
    assert {"key", "name", "requests", "total_tokens"} <= set(table[0])
    assert any(row["name"] == "team-a" for row in table)

    audit = httpx.get(url + "/admin/audit", headers=ADMIN).json()["entries"]
    assert audit[0]["action"] == "create" and audit[0]["actor"].startswith("env:")
    assert audit[0]["details"]["labels"] == {"team": "a", "owner": "ana"}


def test_disable_rotate_and_delete_take_effect_at_once(gateway):
    url = gateway
    created = httpx.post(url + "/admin/keys", json={"name": "x"}, headers=ADMIN).json()
    key, key_id = created["key"], created["id"]
    NEVER_LOGGED.append(key)

    def status(k):
        return httpx.get(url + "/api/tags", headers={"X-API-KEY": k}).status_code

    assert status(key) == 200
    assert httpx.post(url + f"/admin/keys/{key_id}/disable", headers=ADMIN).json()["disabled"]
    assert status(key) == 401
    httpx.post(url + f"/admin/keys/{key_id}/enable", headers=ADMIN)
    assert status(key) == 200
    rotated = httpx.post(url + f"/admin/keys/{key_id}/rotate", headers=ADMIN).json()
    NEVER_LOGGED.append(rotated["key"])
    assert status(key) == 401 and status(rotated["key"]) == 200
    changed = httpx.patch(
        url + f"/admin/keys/{key_id}", json={"role": "metrics", "rpm": 5}, headers=ADMIN
    ).json()
    assert (changed["role"], changed["rpm"]) == ("metrics", 5)
    assert status(rotated["key"]) == 403
    assert httpx.delete(url + f"/admin/keys/{key_id}", headers=ADMIN).status_code == 204
    assert status(rotated["key"]) == 401
    assert httpx.get(url + f"/admin/keys/{key_id}", headers=ADMIN).status_code == 404
    actions = [
        e["action"] for e in httpx.get(url + "/admin/audit", headers=ADMIN).json()["entries"]
    ]
    assert actions[:6] == ["delete", "update", "rotate", "enable", "disable", "create"]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"role": "root"}, "role"),
        ({"models": ["m"] * 300}, "models"),
        ({"rpm": 0}, "rpm"),
        ({"name": "a b"}, "name"),
        ({"colour": "red"}, "colour"),
        ({"labels": {str(i): "x" for i in range(40)}}, "labels"),
    ],
)
def test_bad_key_bodies_are_400s(gateway, body, message):
    r = httpx.post(gateway + "/admin/keys", json=body, headers=ADMIN)
    assert r.status_code == 400 and message in r.json()["detail"]


def test_usage_query_parameters_are_bounded(gateway):
    bad = httpx.get(gateway + "/admin/usage?by=password", headers=ADMIN)
    assert bad.status_code == 400 and "'by'" in bad.json()["detail"]
    assert (
        httpx.get(
            gateway + "/admin/usage?since=2026-02-01&until=2026-01-01", headers=ADMIN
        ).status_code
        == 400
    )
    assert (
        httpx.patch(gateway + "/admin/keys/nope", json={"rpm": 1}, headers=ADMIN).status_code == 404
    )
