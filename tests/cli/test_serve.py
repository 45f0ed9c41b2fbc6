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


def _descendants(pid: int) -> list[int]:
    found: list[int] = []
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            children = [int(c) for c in f.read().split()]
    except OSError:
        return found
    for child in children:
        found += [child, *_descendants(child)]
    return found


def test_workers_never_hold_a_plaintext_key(ollama):
    """``--workers``: keys reach the workers as digests, in no worker's environment or argv."""
    from_env, from_flag = "worker-env-key-0123456789abcdef", "worker-flag-key-0123456789abcdef"
    env = {**os.environ, "API_KEY": from_env}
    proc, url = start_serve(
        *("--ollama-url", ollama.url, "--backend", "ollama", "--workers", "2"),
        *("--api-key", from_env, "--api-key", from_flag),
        env=env,
        timeout=120,  # two spawned workers on a loaded machine
    )
    try:
        for key in (from_env, from_flag):
            reply = httpx.post(
                url + "/api/generate", json={"prompt": "hi"}, headers={"X-API-KEY": key}
            )
            assert reply.status_code == 200
        assert httpx.post(url + "/api/generate", json={"prompt": "hi"}).status_code == 401
        workers = _descendants(proc.pid)
        assert len(workers) >= 2
        for pid in workers:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read()
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read()
            for key in (from_env, from_flag):
                assert key.encode() not in environ, pid
                assert key.encode() not in argv, pid
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert from_env.encode() not in out and from_flag.encode() not in out


def test_workers_must_be_a_count_or_auto():
    for bad in ("0", "65", "many"):
        result = CliRunner().invoke(main, ["serve", "--backend", "ollama", "--workers", bad])
        assert result.exit_code == 2, bad
        assert "--workers" in result.output and "Traceback" not in result.output


def test_auto_workers_share_the_cpus_only_when_limits_are_shared():
    from ollama_gateway.cli.serve import auto_workers

    assert auto_workers(embedded=False, shared_limits=True, cpus=4) == 4
    assert auto_workers(embedded=False, shared_limits=True, cpus=32) == 8
    assert auto_workers(embedded=False, shared_limits=True, cpus=None) == 1
    assert auto_workers(embedded=False, shared_limits=False, cpus=4) == 1  # limits per process
    assert auto_workers(embedded=True, shared_limits=True, cpus=4) == 1  # one copy of the model
