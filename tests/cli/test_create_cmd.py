"""``ollama-gateway create NAME -f Modelfile``: against the fake Ollama (what is sent) and the
embedded engine (the model made, shown and used)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

TEMPLATE = "<|user|>{{ .Prompt }}<|end|><|assistant|>"


def _modelfile(tmp_path: Path, source: str) -> Path:
    path = tmp_path / "Modelfile"
    path.write_text(
        f"FROM {source}\n"
        f'TEMPLATE """{TEMPLATE}"""\n'
        "SYSTEM Be brief.\n"
        "PARAMETER temperature 0\n"
        "PARAMETER num_predict 3\n"
        'PARAMETER stop "<|end|>"\n'
        "MESSAGE user hi\n"
        "LICENSE MIT\n"
    )
    return path


def test_create_uploads_the_from_file_and_sends_the_modelfile(cli, gateway, ollama, tmp_path):
    (tmp_path / "w").mkdir()
    weights = tmp_path / "w" / "model.gguf"
    weights.write_bytes(b"GGUF" + bytes(1000))
    digest = "sha256:" + hashlib.sha256(weights.read_bytes()).hexdigest()
    modelfile = _modelfile(tmp_path, "./w/model.gguf")
    try:
        result = cli("create", "made", "-f", str(modelfile), "-q", "q4_K_M", url=gateway)
        assert (result.exit_code, result.stdout) == (0, "success\n"), result.output
        assert "uploading model.gguf" in result.stderr and "writing manifest" in result.stderr
        assert ollama.blobs == {digest: 1004}
        assert ollama.last("/api/create").body == {
            "model": "made",
            "stream": True,
            "files": {"model.gguf": digest},
            "template": TEMPLATE,
            "system": "Be brief.",
            "parameters": {"temperature": 0, "num_predict": 3, "stop": ["<|end|>"]},
            "messages": [{"role": "user", "content": "hi"}],
            "license": ["MIT"],
            "quantize": "q4_K_M",
        }
        by_name = cli("create", "made2", "-f", str(_modelfile(tmp_path, "made")), url=gateway)
        assert by_name.exit_code == 0, by_name.output
        assert ollama.last("/api/create").body["from"] == "made"
    finally:
        ollama.blobs.clear()
        ollama.models[:] = [m for m in ollama.models if not m.startswith("made")]


def test_bad_modelfiles_and_server_refusals(cli, gateway, tmp_path):
    missing = cli("create", "x", "-f", str(tmp_path / "nope"), url=gateway)
    assert missing.exit_code == 1 and "cannot read" in missing.stderr
    bad = tmp_path / "Bad"
    bad.write_text("FROM m\nPARAMETER temprature 1\n")
    refused = cli("create", "x", "-f", str(bad), url=gateway)
    assert refused.exit_code == 1 and "line 2: unknown parameter 'temprature'" in refused.stderr
    bad.write_text("FROM no-such-model\n")
    unknown = cli("create", "x", "-f", str(bad), url=gateway)
    assert unknown.exit_code == 1 and "blob not found" in unknown.stderr


@pytest.mark.slow  # the embedded engine
def test_create_on_the_engine_then_show_and_generate(cli, engine_gateway, tmp_path):
    from tests.support.gguf_models import write_tiny_llama

    write_tiny_llama(tmp_path / "model.gguf", n_ctx=512, seed=11)
    created = cli(
        "create", "cli-made", "-f", str(_modelfile(tmp_path, "model.gguf")), url=engine_gateway
    )
    assert (created.exit_code, created.stdout) == (0, "success\n"), created.output
    shown = cli("show", "cli-made", "--field", "template", url=engine_gateway)
    assert (shown.exit_code, shown.stdout) == (0, TEMPLATE + "\n")
    params = cli("show", "cli-made", "--field", "parameters", url=engine_gateway)
    assert "num_predict" in params.stdout and '"<|end|>"' in params.stdout
    answer = cli("generate", "hello", "-m", "cli-made", url=engine_gateway)
    assert answer.exit_code == 0, answer.output
    removed = cli("rm", "cli-made", url=engine_gateway)
    assert removed.exit_code == 0
