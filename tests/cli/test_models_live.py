"""``list``/``ps``/``show``/``pull``/``cp``/``rm`` through the real gateway and the fake Ollama."""

from __future__ import annotations

import pytest


@pytest.fixture
def models(ollama):
    before = list(ollama.models)
    yield ollama.models
    ollama.models[:] = before


def test_list_ps_show(cli, gateway, models):
    listed = cli("ls", url=gateway)
    assert listed.exit_code == 0, listed.output
    rows = [line.split()[0] for line in listed.stdout.splitlines()[1:]]
    assert rows == models
    assert "1.1 GB" in listed.stdout
    loaded = cli("ps", url=gateway)
    assert loaded.exit_code == 0, loaded.output
    assert loaded.stdout.splitlines()[1].split()[0] == models[0]
    shown = cli("show", models[0], "--field", "template", url=gateway)
    assert (shown.exit_code, shown.stdout) == (0, "{{ .Prompt }}\n")


def test_pull_cp_rm(cli, gateway, models):
    pulled = cli("pull", "tiny:latest", url=gateway)
    assert (pulled.exit_code, pulled.stdout) == (0, "success\n")
    assert "pulling manifest" in pulled.stderr
    assert "tiny:latest" in models
    copied = cli("cp", "tiny:latest", "mine:latest", url=gateway)
    assert copied.exit_code == 0 and "mine:latest" in models
    removed = cli("rm", "mine:latest", url=gateway)
    assert (removed.exit_code, removed.stdout) == (0, "deleted 'mine:latest'\n")
    assert "mine:latest" not in models


def test_show_and_rm_of_a_missing_model(cli, gateway, models):
    for command in (("show", "missing"), ("rm", "missing")):
        result = cli(*command, url=gateway)
        assert result.exit_code == 1
        assert result.stderr == (
            'Error: model "missing" not found, try pulling it first (status 404)\n'
        )
