"""``/docs`` works with no internet: every file the page loads is served by the gateway itself.

The page is parsed as a browser would read it: each script and stylesheet URL must be on the
gateway (no scheme, no host: a CDN URL fails here) and answer 200 with the right type, and the
schema URL the page points Swagger UI at must answer the schema. Behind the key unless
``docs_public``; then only the page, its assets and the schema are public. And a real browser
(Debian's ``chromium``; ``.ci/run`` installs it) with every host but the gateway unreachable
renders the operations from the schema.
"""

from __future__ import annotations

import shutil
import subprocess
from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx
import pytest

from ollama_gateway.app import create_app
from tests.support.live import serve
from tests.support.secrets import KEY_A

KEY = {"X-API-KEY": KEY_A}


class _Assets(HTMLParser):
    """Every URL a page loads: script src, link href, img src; and the inline scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []
        self.inline: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        for name in ("src", "href"):
            if found.get(name):
                self.urls.append(found[name] or "")
        self._in_script = tag == "script" and not found.get("src")

    def handle_data(self, data: str) -> None:
        if self._in_script and data.strip():
            self.inline.append(data)

    def handle_endtag(self, tag: str) -> None:
        self._in_script = False


@pytest.fixture
def gateway(ollama, make_settings):
    def run(**settings):
        app = create_app(
            make_settings(backend="ollama", ollama_url=ollama.url, api_keys=KEY_A, **settings)
        )
        return serve(app)

    return run


def test_docs_load_only_files_the_gateway_serves(gateway):
    with gateway() as url:
        page = httpx.get(url + "/docs", headers=KEY)
        assert page.status_code == 200
        assert page.headers["content-type"].startswith("text/html")
        parser = _Assets()
        parser.feed(page.text)
        assert len(parser.urls) >= 3  # the bundle, the stylesheet, the icon
        kinds = set()
        for link in parser.urls:
            parts = urlsplit(link)
            assert not parts.scheme and not parts.netloc, f"{link} is not served locally"
            asset = httpx.get(url + link, headers=KEY)
            assert asset.status_code == 200, link
            kinds.add(asset.headers["content-type"].split(";")[0])
            if link.endswith(".js"):
                assert "SwaggerUIBundle" in asset.text  # swagger-ui itself, not a stub
        assert {"text/javascript", "text/css", "image/png"} <= kinds
        (script,) = parser.inline
        assert "url: '/openapi.json'" in script
        schema = httpx.get(url + "/openapi.json", headers=KEY, timeout=60).json()
        assert schema["info"]["title"] == "ollama-gateway"
        assert "/api/generate" in schema["paths"]


def test_docs_and_schema_need_the_key_by_default(gateway):
    with gateway() as url:
        for path in ("/docs", "/openapi.json", "/docs/assets/swagger-ui-bundle.js"):
            assert httpx.get(url + path).status_code == 401, path
            assert httpx.get(url + path, headers=KEY, timeout=60).status_code == 200, path


def test_docs_public_opens_the_docs_and_nothing_else(gateway):
    with gateway(docs_public=True) as url:
        page = httpx.get(url + "/docs")
        assert page.status_code == 200
        parser = _Assets()
        parser.feed(page.text)
        for path in ["/openapi.json", *parser.urls]:
            assert httpx.get(url + path, timeout=60).status_code == 200, path
        assert httpx.get(url + "/api/tags").status_code == 401
        assert httpx.get(url + "/info").status_code == 401
        assert httpx.get(url + "/docs/assets/swagger-ui.js.map").status_code == 401


def test_swagger_ui_renders_the_api_in_a_browser_with_no_network(gateway):
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.fail("this test needs Chromium: apt-get install -y chromium (.ci/run does)")
    with gateway(docs_public=True) as url:
        dom = subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                # nothing but the gateway can be reached: a CDN URL would fail to load
                "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                "--proxy-server=http://127.0.0.1:9",
                "--proxy-bypass-list=127.0.0.1",
                "--virtual-time-budget=20000",
                "--dump-dom",
                url + "/docs",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        ).stdout
    # Swagger UI fetched /openapi.json, read it (OpenAPI 3.1) and drew each operation
    assert 'data-path="/api/generate"' in dom
    assert 'data-path="/v1/chat/completions"' in dom
    assert dom.count("opblock-summary-path") >= 24
