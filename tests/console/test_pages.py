"""Models and Live status against the fake Ollama, and Stop reaching the upstream."""

from __future__ import annotations

import threading

import httpx

from tests.console.conftest import KEY, eventually, offer_model, sign_in

AUTH = {"Authorization": f"Bearer {KEY}"}
NONE = "\N{EN DASH}"  # what the console shows for an unknown value


def test_models_lists_what_the_server_has(page, fake_gateway):
    sign_in(page, fake_gateway)
    page.click("nav a[href='#/models']")
    rows = page.locator("#models-table tbody tr")
    rows.first.wait_for()
    assert [r.get_attribute("data-model") for r in rows.all()] == [
        "echo",
        "thinker",
        "llama2:latest",
    ]
    # the fake Ollama's /api/ps lists its first model, without an expiry
    echo = page.locator("tr[data-model='echo'] td").all_inner_texts()
    assert echo[:7] == ["qwen2", NONE, NONE, "1.1 GB", "ollama · CPU", "loaded", NONE]
    thinker = page.locator("tr[data-model='thinker'] td").all_inner_texts()
    assert thinker[4:7] == ["ollama", "no", NONE]
    assert page.locator("tr[data-model='echo'] [data-action]").count() == 2  # copy, delete


def test_pull_copy_and_delete_through_the_page(page, fake_gateway, ollama):
    sign_in(page, fake_gateway)
    page.click("nav a[href='#/models']")
    page.fill("#pull-name", "fresh:1b")
    page.press("#pull-name", "Enter")
    page.wait_for_selector("#pull-status:text('fresh:1b: success')")
    page.wait_for_selector("tr[data-model='fresh:1b']")
    pulled = ollama.last("/api/pull").body
    assert (pulled["model"], pulled["stream"]) == ("fresh:1b", True)
    page.locator("tr[data-model='fresh:1b'] [data-action='copy']").click()
    assert page.input_value("#dialog-input") == "fresh-copy:latest"
    page.fill("#dialog-input", "")
    page.click("#dialog-confirm")
    page.wait_for_selector("dialog .error:text('New name is required.')")
    page.fill("#dialog-input", "mine:1b")
    page.press("#dialog-input", "Enter")
    page.wait_for_selector("tr[data-model='mine:1b']")
    assert ollama.last("/api/copy").body == {"source": "fresh:1b", "destination": "mine:1b"}
    page.locator("tr[data-model='mine:1b'] [data-action='delete']").click()
    page.click("#dialog-confirm")
    page.wait_for_selector("tr[data-model='mine:1b']", state="detached")
    assert ollama.last("/api/delete").body == {"model": "mine:1b"}
    assert "mine:1b" not in ollama.models


def test_status_follows_a_generation(page, fake_gateway, ollama):
    ollama.script("hold", hold=True)
    sign_in(page, fake_gateway)
    page.click("nav a[href='#/status']")
    page.wait_for_selector("#tile-health.ok")
    assert page.locator("#tile-running .value").inner_text() == "0"

    def hold() -> None:
        httpx.post(
            fake_gateway + "/api/chat",
            headers=AUTH,
            json={"model": "hold", "messages": [{"role": "user", "content": "hi"}]},
            timeout=60,
        )

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        page.wait_for_selector("#tile-running .value:text-is('1')")
        row = page.locator("#status-models tr[data-model='hold:latest']")
        assert row.locator("[data-field='running']").inner_text().strip() == "1 / 4"
    finally:
        ollama.release_held()
        thread.join(30)
    page.wait_for_selector("#tile-running .value:text-is('0')")
    upstream = page.locator("#upstreams tr[data-upstream='ollama'] td").all_inner_texts()
    assert upstream[:2] == [ollama.url, "ready"]


def test_stop_closes_the_request_to_the_upstream(page, fake_gateway, ollama):
    ollama.script("trickle", trickle=0.3)
    sign_in(page, fake_gateway)
    offer_model(page, "trickle")
    disconnects = ollama.disconnects
    page.fill("#prompt", "go on forever")
    page.press("#prompt", "Enter")
    eventually(lambda: len(page.locator(".msg-assistant .content").inner_text()) >= 3)
    running = httpx.get(fake_gateway + "/status", headers=AUTH).json()["models"]
    assert {m["name"]: m["running"] for m in running}.get("trickle:latest") == 1
    page.keyboard.press("Escape")  # Stop, from the keyboard
    page.wait_for_selector(".msg-assistant .stats .warn:text('stopped')")
    eventually(lambda: ollama.disconnects > disconnects)
    models = httpx.get(fake_gateway + "/status", headers=AUTH).json()["models"]
    assert all(m["running"] == 0 for m in models)
