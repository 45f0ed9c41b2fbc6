"""Scrapes of /metrics never count against a key's request budget."""

import httpx

from ollama_gateway.app import create_app
from tests.support.live import serve
from tests.support.secrets import KEY_A


def test_metrics_scrapes_are_not_rate_limited(ollama, make_settings):
    settings = make_settings(
        backend="ollama", ollama_url=ollama.url, api_keys=[KEY_A], rate_limit_rpm=2
    )
    headers = {"X-API-KEY": KEY_A}
    with serve(create_app(settings)) as url:
        for _ in range(5):
            assert httpx.get(url + "/metrics", headers=headers).status_code == 200
        codes = [
            httpx.post(url + "/api/generate", json={"prompt": "x"}, headers=headers).status_code
            for _ in range(3)
        ]
    assert codes == [200, 200, 429]
