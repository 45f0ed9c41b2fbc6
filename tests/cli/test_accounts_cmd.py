"""``ollama-gateway keys create|list|show|update|revoke|rotate`` and ``usage``: against a running
gateway (admin API) and locally against the database (``--database-url``)."""

from __future__ import annotations

import csv
import io
import json
import time

import httpx

from ollama_gateway.app import create_app
from ollama_gateway.settings import Settings
from tests.support.live import serve
from tests.support.secrets import KEY_A, NEVER_LOGGED


def test_keys_through_a_running_gateway(cli, ollama, tmp_path):
    settings = Settings(
        _env_file=None, backend="ollama", ollama_url=ollama.url, api_keys=KEY_A,
        database_url=f"sqlite:///{tmp_path / 'g.db'}",
    )  # fmt: skip
    with serve(create_app(settings)) as url:
        made = cli("keys", "create", "--name", "team-a", "--model", "llama2", "--model",
                   "deepseek-r1:*", "--tokens-per-day", "100000", "--label", "team=a",
                   url=url, key=KEY_A)  # fmt: skip
        assert made.exit_code == 0, made.output
        key = made.stdout.strip()
        NEVER_LOGGED.append(key)
        assert key.startswith("ogw_") and "shown once" in made.stderr

        listed = cli("keys", "list", url=url, key=KEY_A)
        assert "team-a" in listed.stdout and key not in listed.stdout
        key_id = listed.stdout.splitlines()[1].split()[0]
        shown = json.loads(cli("keys", "show", key_id, "--json", url=url, key=KEY_A).stdout)
        assert shown["models"] == ["llama2", "deepseek-r1:*"] and shown["labels"] == {"team": "a"}

        r = httpx.post(url + "/api/generate", json={"model": "llama2", "prompt": "x"},
                       headers={"Authorization": f"Bearer {key}"})  # fmt: skip
        assert r.status_code == 200

        updated = cli("keys", "update", key_id, "--rpm", "30", "--role", "user", url=url, key=KEY_A)
        assert updated.exit_code == 0 and "rpm                 30" in updated.stdout
        rotated = cli("keys", "rotate", key_id, url=url, key=KEY_A)
        new_key = rotated.stdout.strip()
        NEVER_LOGGED.append(new_key)
        assert new_key != key
        assert httpx.get(url + "/api/tags", headers={"X-API-KEY": key}).status_code == 401
        assert httpx.get(url + "/api/tags", headers={"X-API-KEY": new_key}).status_code == 200

        def usage_rows():
            out = cli("usage", "--by", "key", "--by", "model", "--csv", url=url, key=KEY_A)
            rows = [r for r in csv.DictReader(io.StringIO(out.stdout)) if r["name"] == "team-a"]
            return rows if any(r["model"] == "llama2" for r in rows) else None

        deadline = time.monotonic() + 20
        while not (rows := usage_rows()):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        llama = next(r for r in rows if r["model"] == "llama2")
        assert int(llama["requests"]) == 1 and int(llama["total_tokens"]) > 0
        table = cli("usage", "--since", "1d", url=url, key=KEY_A)
        assert "TOTAL_TOKENS" in table.stdout and "team-a" in table.stdout

        revoked = cli("keys", "revoke", key_id, url=url, key=KEY_A)
        assert revoked.exit_code == 0 and "disabled" in revoked.stderr
        assert httpx.get(url + "/api/tags", headers={"X-API-KEY": new_key}).status_code == 401

        denied = cli("keys", "list", url=url, key=new_key)
        assert denied.exit_code == 1 and "401" in denied.stderr


def test_keys_locally_against_the_database(cli, tmp_path):
    database = f"sqlite:///{tmp_path / 'local.db'}"
    made = cli("keys", "create", "--name", "ops", "--role", "admin", "--expires", "30d",
               "--database-url", database, key=None)  # fmt: skip
    assert made.exit_code == 0, made.output
    NEVER_LOGGED.append(made.stdout.strip())
    listed = json.loads(cli("keys", "list", "--json", "--database-url", database, key=None).stdout)
    assert [(k["name"], k["role"]) for k in listed] == [("ops", "admin")]
    assert listed[0]["expires_at"] is not None
    gone = cli("keys", "revoke", listed[0]["id"], "--delete", "--database-url", database, key=None)
    assert gone.exit_code == 0
    assert (
        cli("keys", "list", "--json", "--database-url", database, key=None).stdout.strip() == "[]"
    )
    missing = cli("keys", "show", "nope", "--database-url", database, key=None)
    assert missing.exit_code == 1 and "no key with id 'nope'" in missing.stderr
    empty = cli("usage", "--csv", "--database-url", database, key=None)
    assert empty.stdout.splitlines()[0].startswith("key,name,requests")


def test_db_upgrade_migrates_a_database(cli, tmp_path):
    database = f"sqlite:///{tmp_path / 'fresh.db'}"
    result = cli("db", "upgrade", "--database-url", database, key=None)
    assert result.exit_code == 0, result.output
    assert "is at revision 0001_accounts" in result.stdout
    again = cli("db", "upgrade", "--database-url", database, key=None)
    assert again.exit_code == 0
    bad = cli("db", "upgrade", "--database-url", "mysql://x/y", key=None)
    assert bad.exit_code != 0
