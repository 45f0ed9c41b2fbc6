"""Runs last (see conftest): nothing this whole test run logged holds a key or a marked prompt.

It makes its own keyed requests first (a valid key, a wrong one, a marked prompt, a failure), so
that the audit is never vacuous, also when it runs alone.
"""

import httpx

from ollama_gateway.app import create_app
from tests.conftest import LOG_RECORDS
from tests.support.live import serve
from tests.support.secrets import KEY_A, KEY_B, NEVER_LOGGED, SECRET_PROMPT, WRONG_KEY


def _own_traffic(make_settings, fake_ollama) -> None:
    settings = make_settings(backend="ollama", ollama_url=fake_ollama.url, api_keys=[KEY_A, KEY_B])
    with serve(create_app(settings)) as url:
        ok = httpx.post(
            url + "/api/generate", json={"prompt": SECRET_PROMPT}, headers={"X-API-KEY": KEY_A}
        )
        refused = httpx.post(
            url + "/api/chat",
            json={"model": "x", "messages": [{"role": "user", "content": SECRET_PROMPT}]},
            headers={"Authorization": f"Bearer {WRONG_KEY}"},
        )
        failed = httpx.post(
            url + "/api/generate",
            json={"model": "missing", "prompt": SECRET_PROMPT},
            headers={"Authorization": f"Bearer {KEY_B}"},
        )
    assert (ok.status_code, refused.status_code, failed.status_code) == (200, 401, 404)


def test_whole_run_logs_hold_no_secret(make_settings, fake_ollama):
    before = len(LOG_RECORDS)
    _own_traffic(make_settings, fake_ollama)
    assert len(LOG_RECORDS) > before, "the log capture saw nothing: the audit would be vacuous"
    leaks = [
        (secret, record) for record in LOG_RECORDS for secret in NEVER_LOGGED if secret in record
    ]
    assert leaks == []
