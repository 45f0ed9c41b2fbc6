"""Keys and Usage in the console, on the admin API and its SQLite database (issue 13)."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path

import httpx
import pytest

from ollama_gateway.app import create_app
from tests.console.conftest import KEY, eventually, sign_in
from tests.support.live import serve

AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def gateway(ollama, make_settings, tmp_path) -> Iterator[str]:
    """An admin key from the settings, the fake Ollama upstream, a fresh SQLite database."""
    settings = make_settings(
        backend="ollama", ollama_url=ollama.url, api_keys=KEY, model="llama2", data_dir=tmp_path
    )
    before = list(ollama.models)
    ollama.models[:] = ["echo", "thinker", "llama2:latest"]
    try:
        with serve(create_app(settings)) as url:
            yield url
    finally:
        ollama.models[:] = before


def _database(tmp_path: Path) -> sqlite3.Connection:
    return sqlite3.connect(tmp_path / "gateway.db")


def create_key(page, name: str, role: str = "user", models: str = "", **limits: str) -> str:
    """Create a key on the Keys page; returns its secret, as the page shows it once."""
    page.click("nav a[href='#/keys']")
    page.click("#create-key")
    page.fill("dialog input[name=name]", name)
    page.select_option("dialog select[name=role]", role)
    page.fill("dialog input[name=models]", models)
    for field, value in limits.items():
        page.fill(f"dialog input[name={field}]", value)
    page.click("#dialog-confirm")
    secret = page.locator("#new-secret").inner_text()
    page.click("#dialog-close")
    page.wait_for_selector(f"#keys-table tr[data-name='{name}']")
    return secret


def chat(page, text: str) -> None:
    done = page.locator(".msg-assistant:not(.streaming)")
    before = done.count()
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")
    eventually(lambda: done.count() == before + 1)


def test_a_key_limited_to_one_model_sees_only_it_until_revoked(new_tab, gateway, shots):
    admin = new_tab()
    sign_in(admin, gateway)
    assert admin.locator("nav a").all_inner_texts() == [
        "Playground",
        "Models",
        "Live status",
        "Keys",
        "Usage",
    ]
    secret = create_key(admin, "team-a", models="echo", rpm="60", tokens_per_day="100000")
    assert secret.startswith("ogw_") and len(secret) > 30
    row = admin.locator("#keys-table tr[data-name='team-a'] td").all_inner_texts()
    assert row[1:4] == ["user", "echo", "60 requests / minute, 100,000 tokens / day"]
    assert row[6] == "active"
    admin.screenshot(path=shots / "keys.png", full_page=True)

    user = new_tab()
    sign_in(user, gateway, secret)
    assert user.locator("nav a").all_inner_texts() == ["Playground", "Models", "Usage"]
    assert user.locator("#role").inner_text() == "user"
    user.wait_for_selector("#model option", state="attached")
    assert user.locator("#model option").all_inner_texts() == ["echo"]
    chat(user, "hello from team a")
    assert user.locator(".msg-assistant .content").last.inner_text() == "hello from team a"
    user.click("nav a[href='#/models']")
    user.wait_for_selector("#models-table")
    assert [
        r.get_attribute("data-model") for r in user.locator("#models-table tbody tr").all()
    ] == ["echo"]
    assert user.locator("#pull, [data-action]").count() == 0  # a user key manages nothing

    admin.click("nav a[href='#/keys']")
    admin.locator("#keys-table tr[data-name='team-a'] [data-action='revoke']").click()
    admin.click("#dialog-confirm")
    admin.wait_for_selector("#keys-table tr[data-name='team-a']", state="detached")

    user.click("nav a[href='#/playground']")
    user.wait_for_selector("#key")  # the next request was refused: back to sign-in
    assert "no longer accepted" in user.locator("#signin-error").inner_text()
    refused = httpx.get(gateway + "/api/tags", headers={"Authorization": f"Bearer {secret}"})
    assert refused.status_code == 401


def test_edit_disable_and_rotate_a_key(new_tab, gateway):
    admin = new_tab()
    sign_in(admin, gateway)
    secret = create_key(admin, "ci")
    row = admin.locator("#keys-table tr[data-name='ci']")
    row.locator("[data-action='edit']").click()
    admin.fill("dialog input[name=models]", "echo, qwen*")
    admin.fill("dialog input[name=tpm]", "5000")
    admin.fill("dialog input[name=expires_at]", "2099-12-31")
    admin.fill("dialog input[name=labels]", "team=search, owner=ana")
    admin.click("#dialog-confirm")
    admin.wait_for_selector("#keys-notice:text('saved ci')")
    stored = httpx.get(gateway + "/admin/keys", headers=AUTH).json()["keys"]
    ci = next(k for k in stored if k["name"] == "ci")
    assert ci["models"] == ["echo", "qwen*"]
    assert ci["tpm"] == 5000 and ci["rpm"] is None
    assert ci["expires_at"].startswith("2099-12-31T23:59:59")
    assert ci["labels"] == {"team": "search", "owner": "ana"}

    with_key = {"Authorization": f"Bearer {secret}"}
    assert httpx.get(gateway + "/api/tags", headers=with_key).status_code == 200
    row.locator("[data-action='toggle']").click()
    admin.click("#dialog-confirm")
    admin.wait_for_selector("#keys-table tr[data-name='ci'] .pill:text('disabled')")
    eventually(lambda: httpx.get(gateway + "/api/tags", headers=with_key).status_code == 401)
    row.locator("[data-action='toggle']").click()  # enable: no question asked
    admin.wait_for_selector("#keys-table tr[data-name='ci'] .pill:text('active')")
    eventually(lambda: httpx.get(gateway + "/api/tags", headers=with_key).status_code == 200)

    row.locator("[data-action='rotate']").click()
    admin.click("#dialog-confirm")
    rotated = admin.locator("#new-secret").inner_text()
    admin.click("#dialog-close")
    assert rotated != secret
    eventually(lambda: httpx.get(gateway + "/api/tags", headers=with_key).status_code == 401)
    new = {"Authorization": f"Bearer {rotated}"}
    assert httpx.get(gateway + "/api/tags", headers=new).status_code == 200
    audit = httpx.get(gateway + "/admin/audit", headers=AUTH).json()["entries"]
    assert [e["action"] for e in audit][:5] == ["rotate", "enable", "disable", "update", "create"]


def test_a_bad_key_form_says_what_is_wrong(page, gateway):
    sign_in(page, gateway)
    page.click("nav a[href='#/keys']")
    page.click("#create-key")
    page.fill("dialog input[name=name]", "two words")
    page.click("#dialog-confirm")
    page.wait_for_selector("dialog .error:text('no spaces')")
    page.fill("dialog input[name=name]", "ok")
    page.fill("dialog input[name=rpm]", "0")
    page.click("#dialog-confirm")
    page.wait_for_selector("dialog .error:text('Requests / minute: a whole number above 0')")
    page.fill("dialog input[name=rpm]", "")
    page.fill("dialog input[name=labels]", "team")
    page.click("#dialog-confirm")
    page.wait_for_selector("dialog .error:text('Labels: write name=value')")
    page.keyboard.press("Escape")
    assert page.locator("#keys-table tr[data-name='ok']").count() == 0


def _totals(database: sqlite3.Connection, day: str, model: str | None = None) -> dict[str, int]:
    where = "day = ?" + (" AND model = ?" if model is not None else "")
    requests, prompt, generated = database.execute(
        "SELECT sum(requests), sum(prompt_tokens), sum(generated_tokens) FROM usage_daily "
        f"WHERE {where}",
        (day, model) if model is not None else (day,),
    ).fetchone()
    return {"requests": requests or 0, "prompt": prompt or 0, "generated": generated or 0}


def _footer(page) -> dict[str, str]:
    cells = page.locator("#usage-totals td").all()
    return {c.get_attribute("data-column"): c.inner_text() for c in cells}


def _row(page, name: str) -> dict[str, str]:
    cells = page.locator("#usage-table tbody tr", has_text=name).locator("td[data-column]").all()
    return {c.get_attribute("data-column"): c.inner_text() for c in cells}


def test_usage_shows_the_requests_just_made(new_tab, gateway, tmp_path, shots):
    admin = new_tab()
    sign_in(admin, gateway)
    secret = create_key(admin, "team-b", models="echo")
    user = new_tab()
    sign_in(user, gateway, secret)
    for text in ("one", "two", "three"):
        chat(user, text)
    today = datetime.now(timezone.utc).date().isoformat()
    database = _database(tmp_path)
    # the usage writer works in batches, off the request path: wait for the three chats
    eventually(lambda: _totals(database, today, "echo")["requests"] == 3)
    echo = _totals(database, today, "echo")
    tokens = _totals(database, today)  # only the chats used tokens: this total is settled

    admin.click("nav a[href='#/usage']")
    admin.wait_for_selector("#usage-table")
    footer = _footer(admin)
    assert footer["prompt_tokens"] == f"{tokens['prompt']:,}"
    assert footer["generated_tokens"] == f"{tokens['generated']:,}"
    assert footer["total_tokens"] == f"{tokens['prompt'] + tokens['generated']:,}"
    assert int(footer["requests"].replace(",", "")) >= 3
    team = _row(admin, "team-b")
    assert team["total_tokens"] == f"{echo['prompt'] + echo['generated']:,}"
    bars = admin.locator("svg.bars rect.bar")
    series = {bars.nth(i).get_attribute("data-series") for i in range(bars.count())}
    assert "team-b" in series  # a bar for the key, in the tokens and the requests chart
    assert admin.locator("figure.chart").count() == 2
    admin.screenshot(path=shots / "usage.png", full_page=True)

    with admin.expect_download() as download:
        admin.click("#usage-csv")
    rows = list(csv.DictReader(io.StringIO(Path(download.value.path()).read_text())))
    assert sum(int(r["generated_tokens"]) for r in rows) == tokens["generated"]
    assert "team-b" in {r["name"] for r in rows}

    admin.select_option("#usage-by", "model")
    admin.wait_for_selector("#usage-table tbody tr:has-text('echo')")
    by_model = _row(admin, "echo")
    assert by_model["requests"] == "3"
    assert by_model["prompt_tokens"] == f"{echo['prompt']:,}"
    assert by_model["generated_tokens"] == f"{echo['generated']:,}"

    user.click("nav a[href='#/usage']")  # a user key sees its own usage only
    user.wait_for_selector("#usage-table")
    assert user.locator("h1").inner_text() == "My usage"
    assert user.locator("#usage-by option").all_inner_texts() == ["By model"]
    own = _row(user, "echo")
    assert own["requests"] == "3"
    assert _footer(user)["total_tokens"] == f"{echo['prompt'] + echo['generated']:,}"
