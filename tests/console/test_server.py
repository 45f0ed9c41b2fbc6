"""The console's server side: its files, their headers, the setting, and ``GET /status``."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from ollama_gateway.app import create_app
from ollama_gateway.console.mount import STATIC_DIR
from tests.support.live import serve
from tests.support.secrets import KEY_A

KEY = KEY_A
AUTH = {"Authorization": f"Bearer {KEY}"}


@pytest.fixture
def gateway(ollama, make_settings):
    settings = make_settings(backend="ollama", ollama_url=ollama.url, api_keys=KEY)
    with serve(create_app(settings)) as url:
        yield url


def test_the_console_is_served_without_a_key_and_the_api_still_needs_one(gateway):
    page = httpx.get(gateway + "/ui/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/main.js"></script>' in page.text
    script = httpx.get(gateway + "/ui/js/main.js")
    assert script.status_code == 200
    assert re.match(r"(text|application)/javascript", script.headers["content-type"])
    assert httpx.get(gateway + "/ui/css/console.css").headers["content-type"].startswith("text/css")
    assert httpx.get(gateway + "/api/tags").status_code == 401
    assert httpx.get(gateway + "/status").status_code == 401
    assert httpx.get(gateway + "/status", headers=AUTH).status_code == 200


def test_ui_redirects_to_the_directory_relatively(gateway):
    response = httpx.get(gateway + "/ui")
    assert response.status_code == 308
    assert response.headers["location"] == "ui/"
    assert httpx.get(gateway + "/ui", follow_redirects=True).url.path == "/ui/"


def test_every_console_answer_carries_the_security_headers(gateway):
    for path in ("/ui/", "/ui", "/ui/js/api.js", "/ui/no-such-file.js"):
        headers = httpx.get(gateway + path).headers
        csp = headers["content-security-policy"]
        assert "script-src 'self'" in csp
        assert "style-src 'self'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert "frame-ancestors 'none'" in csp
        assert "require-trusted-types-for 'script'" in csp
        assert headers["x-frame-options"] == "DENY"
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["cache-control"] == "no-cache"


def test_files_outside_the_static_folder_cannot_be_reached(gateway):
    for path in ("/ui/..%2f..%2fsettings.py", "/ui/%2e%2e/mount.py", "/ui/../mount.py"):
        response = httpx.get(gateway + path)
        assert response.status_code in (401, 404), path
        assert "CONSOLE_PATH" not in response.text


def test_only_reads_are_open_under_ui(gateway):
    assert httpx.post(gateway + "/ui/").status_code == 401
    assert httpx.delete(gateway + "/ui/js/main.js").status_code == 401


def test_the_setting_turns_the_console_off(ollama, make_settings):
    settings = make_settings(backend="ollama", ollama_url=ollama.url, api_keys=KEY, console=False)
    with serve(create_app(settings)) as url:
        assert httpx.get(url + "/ui/").status_code == 401  # not a public path any more
        assert httpx.get(url + "/ui/", headers=AUTH).status_code == 404
        assert httpx.get(url + "/ui/js/main.js", headers=AUTH).status_code == 404


def test_api_paths_keep_their_trailing_slash_handling(gateway):
    tags = httpx.get(gateway + "/api/tags/", headers=AUTH)
    assert tags.status_code == 200 and "models" in tags.json()
    assert httpx.get(gateway + "/health/").status_code == 200


def test_console_files_are_one_route_in_the_metrics(gateway):
    for path in ("/ui/", "/ui/js/main.js", "/ui/css/console.css", "/ui/no-such-file.js"):
        httpx.get(gateway + path)
    metrics = httpx.get(gateway + "/metrics", headers=AUTH).text
    routes = set(re.findall(r'^ollama_gateway_requests_total\{.*route="([^"]*)"', metrics, re.M))
    assert routes == {"/ui"}


def _metric(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name + (f"{{{wanted}}}" if wanted else "")) + r" (\S+)"
    found = re.search(r"^" + pattern + "$", text, re.MULTILINE)
    assert found, f"{name} {labels} not in /metrics"
    return float(found.group(1))


def test_status_reports_the_numbers_of_metrics(gateway, ollama):
    for _ in range(2):
        reply = httpx.post(
            gateway + "/api/chat",
            headers=AUTH,
            json={"model": "llama2", "messages": [{"role": "user", "content": "hi"}]},
        )
        assert reply.status_code == 200
    status = httpx.get(gateway + "/status", headers=AUTH).json()
    metrics = httpx.get(gateway + "/metrics", headers=AUTH).text
    assert status["backend"] == "ollama"
    assert status["ready"] is True
    assert status["upstreams"] == [
        {
            "name": "ollama",
            "url": ollama.url,
            "healthy": True,
            "status": "ready",
            "reason": "",
            "errors": {},
        }
    ]
    by_name = {m["name"]: m for m in status["models"]}
    assert "llama2" not in by_name  # one model, under its full name
    llama = by_name["llama2:latest"]
    assert (
        llama["generated_tokens"]
        == 8
        == _metric(metrics, "ollama_gateway_generated_tokens_total", model="llama2")
    )
    assert llama["prompt_tokens"] == 6
    assert llama["generations"] == 2
    assert llama["first_tokens"] == 2
    assert llama["running"] == 0 and llama["queued"] == 0
    loaded = by_name["deepseek-r1:1.5b"]  # what the fake Ollama's /api/ps lists
    assert loaded["loaded"] is True
    assert loaded["size"] == _metric(
        metrics, "ollama_gateway_loaded_model_size_bytes", model="deepseek-r1:1.5b"
    )
    assert status["requests"]["in_flight"] == 1  # this request
    assert status["requests"]["total"] == 2  # the two chats (this request is still in flight)
    assert status["parallel"] == 4


def test_status_counts_a_generation_while_it_runs(gateway, ollama):
    ollama.script("hold", hold=True)
    import threading

    done = threading.Event()

    def hold() -> None:
        httpx.post(
            gateway + "/api/chat",
            headers=AUTH,
            json={"model": "hold", "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        done.set()

    thread = threading.Thread(target=hold)
    thread.start()
    try:
        for _ in range(500):
            models = httpx.get(gateway + "/status", headers=AUTH).json()["models"]
            running = {m["name"]: m["running"] for m in models}
            if running.get("hold:latest") == 1:
                break
        assert running.get("hold:latest") == 1, running
    finally:
        ollama.release_held()
        thread.join(30)
    assert done.is_set()
    models = httpx.get(gateway + "/status", headers=AUTH).json()["models"]
    assert all(m["running"] == 0 for m in models)


# --- the shipped files ------------------------------------------------------------------------

REMOTE = re.compile(
    r"""(src|href)=["']?(https?:)?//|url\(["']?(https?:)?//|@import|"""
    r"""(from|import\()\s*["'](https?:)?//|fetch\(["'](https?:)?//"""
)
FILES = sorted(p for p in STATIC_DIR.rglob("*") if p.is_file())
SCRIPTS = [p for p in FILES if p.suffix == ".js"]


def test_the_console_ships_only_our_own_readable_files():
    assert {p.suffix for p in FILES} <= {".html", ".js", ".css", ".svg"}
    for path in FILES:
        text = path.read_text(encoding="utf-8")
        longest = max(len(line) for line in text.splitlines())
        assert longest <= 120, f"{path.name}: a {longest}-character line (minified?)"
        assert not REMOTE.search(text), f"{path.name} loads something from the web"


def _code(text: str) -> str:
    """A script without its comments (which may name what the code avoids)."""
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.DOTALL)
    return "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("//"))


@pytest.mark.parametrize("path", SCRIPTS, ids=lambda p: str(p.relative_to(STATIC_DIR)))
def test_no_script_turns_strings_into_markup(path: Path):
    text = _code(path.read_text(encoding="utf-8"))
    for sink in (
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
        "new Function",
        'setAttribute("style',
        "localStorage",
        "document.cookie",
    ):
        assert sink not in text, f"{path.name} uses {sink}"


def test_the_page_has_no_inline_script_or_style():
    html = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
    assert "style=" not in html and "<style" not in html
    assert re.findall(r"<script[^>]*>", html) == ['<script type="module" src="js/main.js">']
    assert not re.search(r"\son[a-z]+=", html)
