"""``ollama-gateway serve``: flags, refusals, and a real process answering the seed call."""

from __future__ import annotations

import os

import httpx
from click.testing import CliRunner

from ollama_gateway.cli import main
from tests.support.processes import start_serve


def test_public_bind_without_key_exits_2_naming_both_ways_out():
    result = CliRunner().invoke(main, ["serve", "--host", "0.0.0.0", "--backend", "ollama"])
    assert result.exit_code == 2
    assert "--insecure-no-auth" in result.output and "--api-key" in result.output
    assert "Traceback" not in result.output


def test_invalid_setting_is_a_usage_error():
    result = CliRunner().invoke(main, ["serve", "--port", "70000"])
    assert result.exit_code == 2
    assert "invalid setting port" in result.output


def test_every_setting_has_a_flag():
    from ollama_gateway.cli.options import flag_name
    from ollama_gateway.settings import Settings

    help_text = CliRunner().invoke(main, ["serve", "--help"]).output
    for name in Settings.model_fields:
        assert flag_name(name) in help_text, name


def test_serve_process_answers_the_seed_call(ollama):
    env = {**os.environ, "API_KEY": "process-key-0123456789"}
    proc, url = start_serve("--ollama-url", ollama.url, "--backend", "ollama", env=env)
    try:
        r = httpx.post(
            url + "/api/generate",
            json={"prompt": "hi"},
            headers={"X-API-KEY": "process-key-0123456789"},
        )
        assert r.status_code == 200
        assert r.json()["generated_text"] == "Hello, world!"
        assert httpx.post(url + "/api/generate", json={"prompt": "hi"}).status_code == 401
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert b"process-key-0123456789" not in out
