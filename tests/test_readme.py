"""The README stays true: its settings table is the Settings class, its first lines two commands."""

from pathlib import Path

from ollama_gateway.cli.options import settings_table

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def test_settings_table_matches_the_settings_class():
    assert settings_table() in README


def test_first_lines_give_the_run_and_test_commands():
    head = README.splitlines()[:6]
    assert head[3].startswith("pip install -e '.[embedded]' && ollama-gateway serve")
    assert head[4].startswith("pip install -e '.[dev]' && python3 -m pytest -q")
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "python3 -m pytest -q" in ci
