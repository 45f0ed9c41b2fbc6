"""The playground against the fake Ollama: safe rendering, reasoning, options, code, export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.console.conftest import KEY, eventually, offer_model, sign_in

HOSTILE = (
    '<img src=x onerror="window.__pwned=1"> <script>window.__pwned=2</script> '
    '[click](javascript:window.__pwned=3) <a href="javascript:window.__pwned=4">a</a> '
    "**bold** and `code`"
)


def ask(page, text: str) -> None:
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")
    page.wait_for_selector(".msg-assistant:not(.streaming) .stats [data-stat='generated']")


def choose(page, selector: str, value: str) -> None:
    page.wait_for_selector(f"{selector} option[value='{value}']", state="attached")
    page.select_option(selector, value)


def test_model_output_with_html_renders_as_text(page, fake_gateway, ollama):
    sign_in(page, fake_gateway)
    choose(page, "#model", "echo")
    ask(page, HOSTILE)
    reply = page.locator(".msg-assistant .content")
    assert ollama.last("/api/chat").body["messages"][-1]["content"] == HOSTILE
    text = reply.inner_text()
    assert '<img src=x onerror="window.__pwned=1">' in text
    assert "<script>window.__pwned=2</script>" in text
    transcript = page.locator("#transcript")
    assert transcript.locator("img, script, iframe, [onerror]").count() == 0
    assert transcript.locator("a").count() == 0  # javascript: links are not links
    assert reply.locator("strong").inner_text() == "bold"  # Markdown still works
    assert reply.locator("code").inner_text() == "code"
    assert page.evaluate("window.__pwned") is None
    user = page.locator(".msg-user .content")
    assert user.inner_text() == HOSTILE  # the user's own text is plain text too


def test_reasoning_is_folded_apart_from_the_answer(page, fake_gateway, ollama):
    sign_in(page, fake_gateway)
    choose(page, "#model", "thinker")
    choose(page, "#think", "on")
    ask(page, "why?")
    assert ollama.last("/api/chat").body["think"] is True
    thinking = page.locator(".msg-assistant details.thinking")
    assert thinking.is_visible()
    assert thinking.get_attribute("open") is None  # folded
    assert page.locator(".msg-assistant .content").inner_text() == "Answer."
    thinking.locator("summary").click()
    assert thinking.locator(".thinking-text").inner_text() == "Let me think."


def test_options_and_schema_reach_the_server(page, fake_gateway, ollama):
    sign_in(page, fake_gateway)
    choose(page, "#model", "llama2:latest")
    page.fill("#system", "Be brief.")
    page.fill("#temperature", "0.2")
    page.fill("#max-tokens", "12")
    page.fill("#seed", "7")
    choose(page, "#output", "schema")
    page.fill("#schema", "{not json")
    page.fill("#prompt", "hello")
    page.press("#prompt", "Enter")
    page.wait_for_selector("#composer-error:text('The JSON schema is not valid JSON')")
    assert page.locator(".msg").count() == 0
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}}
    page.fill("#schema", json.dumps(schema))
    page.click("#send")
    page.wait_for_selector(".msg-assistant:not(.streaming) .stats [data-stat='generated']")
    body = ollama.last("/api/chat").body
    assert body["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "hello"},
    ]
    assert body["options"] == {"temperature": 0.2, "num_predict": 12, "seed": 7}
    assert body["format"] == schema
    assert body["stream"] is True
    stats = page.locator(".msg-assistant .stats")
    assert stats.locator("[data-stat='prompt']").inner_text() == "3 prompt tokens"
    assert stats.locator("[data-stat='generated']").inner_text() == "4 generated tokens"
    assert stats.locator("[data-stat='ttft']").inner_text().startswith("first token ")
    assert stats.locator("[data-stat='speed']").inner_text().endswith(" tokens/s")


def test_the_conversation_continues_and_exports_as_json(page, fake_gateway, ollama):
    sign_in(page, fake_gateway)
    choose(page, "#model", "echo")
    ask(page, "first")
    ask(page, "second")
    body = ollama.last("/api/chat").body
    assert [m["content"] for m in body["messages"]] == ["first", "first", "second"]
    with page.expect_download() as download:
        page.click("#export")
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["model"] == "echo"
    assert [(m["role"], m["content"]) for m in exported["messages"]] == [
        ("user", "first"),
        ("assistant", "first"),
        ("user", "second"),
        ("assistant", "second"),
    ]
    assert exported["messages"][1]["stats"]["generated_tokens"] == 4
    page.click("#new-chat")
    assert page.locator(".msg").count() == 0


def _snippet(page, tab: str) -> str:
    page.click(f"[data-snippet='{tab}']")
    return page.locator("#snippet").inner_text()


@pytest.mark.parametrize("tab", ["curl", "Python ollama", "Python openai"])
def test_the_code_snippets_run_and_never_hold_the_key(page, fake_gateway, ollama, tab, tmp_path):
    sign_in(page, fake_gateway)
    choose(page, "#model", "llama2:latest")
    page.fill("#temperature", "0.5")
    page.fill("#prompt", "Say it's fine")  # a quote, to try the shell quoting
    page.click("#code-panel summary")
    code = _snippet(page, tab)
    assert KEY not in code
    assert "OLLAMA_GATEWAY_KEY" in code
    env = {**os.environ, "OLLAMA_GATEWAY_KEY": KEY}
    if tab == "curl":
        command = ["bash", "-c", code]
    else:
        script = tmp_path / "snippet.py"
        script.write_text(code)
        command = [sys.executable, str(script)]
    ollama.requests.clear()
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    if tab == "curl":
        lines = [json.loads(line) for line in done.stdout.splitlines()]
        assert "".join(line["message"]["content"] for line in lines) == "Hello, world!"
    else:
        assert done.stdout == "Hello, world!\n"
    sent = ollama.last("/api/chat").body
    assert sent["messages"] == [{"role": "user", "content": "Say it's fine"}]
    assert sent["options"]["temperature"] == 0.5


def test_the_snippet_follows_the_draft(page, fake_gateway):
    sign_in(page, fake_gateway)
    choose(page, "#model", "echo")
    page.click("#code-panel summary")
    page.fill("#prompt", "draft one")
    eventually(lambda: "draft one" in page.locator("#snippet").inner_text(), timeout=5)
    page.fill("#prompt", "draft two")
    eventually(lambda: "draft two" in page.locator("#snippet").inner_text(), timeout=5)


def test_an_error_from_the_server_shows_in_the_reply(page, fake_gateway):
    sign_in(page, fake_gateway)
    offer_model(page, "missing")
    page.fill("#prompt", "hello")
    page.press("#prompt", "Enter")
    error = page.locator(".msg-assistant .stats .error")
    error.wait_for()
    assert error.inner_text() == 'model "missing" not found, try pulling it first'
    assert page.locator("#send").is_visible()
