"""``pull``, ``list``/``ls``, ``ps``, ``show``, ``rm``, ``cp`` on a scripted loopback server."""

from __future__ import annotations

import json

from tests.support.fake_ollama import Reply

MiB = 1 << 20


def test_pull_shows_a_progress_bar_and_prints_success(cli, standin):
    layer = {"status": "pulling 6e4c38e1172f", "digest": "sha256:6e4c38e1172f" + "0" * 52}
    events = [
        {"status": "pulling manifest"},
        {**layer, "total": 300 * MiB, "completed": 0},
        {**layer, "total": 300 * MiB, "completed": 150 * MiB},
        {**layer, "total": 300 * MiB, "completed": 300 * MiB},
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    ]
    standin.queue("POST", "/api/pull", Reply(body=events))
    result = cli("pull", "qwen2.5:0.5b", url=standin.url)
    assert result.exit_code == 0, result.output
    assert result.stdout == "success\n"
    lines = result.stderr.splitlines()
    assert lines[0] == "pulling manifest"
    assert lines[1:3] == ["verifying sha256 digest", "writing manifest"]
    bar = lines[-1]
    assert bar.startswith("pulling 6e4c38e1172f")
    assert "314.6/314.6 MB" in bar  # size, in rich's decimal units
    assert "0:00:00" in bar  # time left
    assert standin.requests[0].body == {"model": "qwen2.5:0.5b", "stream": True}


def test_pull_error_inside_the_stream_is_exit_1(cli, standin):
    events = [{"status": "pulling manifest"}, {"error": "pull model manifest: file does not exist"}]
    standin.queue("POST", "/api/pull", Reply(body=events))
    result = cli("pull", "nope", url=standin.url)
    assert result.exit_code == 1
    assert result.stderr.endswith("Error: pull model manifest: file does not exist\n")
    assert "Traceback" not in result.output


TAGS = {
    "models": [
        {
            "name": "qwen2.5:0.5b",
            "model": "qwen2.5:0.5b",
            "size": 397_821_319,
            "digest": "sha256:a8b0c51577010a279d933d14c2a8ab4b268079d44c5c8830c0a93900f1827c67",
            "modified_at": "2020-01-01T00:00:00Z",
            "details": {"family": "qwen2", "parameter_size": "494M"},
        }
    ]
}


def test_list_and_ls(cli, standin):
    standin.queue("GET", "/api/tags", Reply(body=TAGS))
    standin.queue("GET", "/api/tags", Reply(body=TAGS))
    listed, ls = cli("list", url=standin.url), cli("ls", url=standin.url)
    assert listed.exit_code == ls.exit_code == 0
    assert listed.stdout == ls.stdout
    header, row = listed.stdout.splitlines()
    assert header.split() == ["NAME", "ID", "SIZE", "MODIFIED"]
    assert row.split()[:4] == ["qwen2.5:0.5b", "a8b0c5157701", "398", "MB"]
    assert row.endswith("years ago")


def test_list_json(cli, standin):
    standin.queue("GET", "/api/tags", Reply(body=TAGS))
    result = cli("list", "--json", url=standin.url)
    assert json.loads(result.stdout) == TAGS


def test_ps(cli, standin):
    model = {**TAGS["models"][0], "size_vram": 0, "context_length": 4096}
    model["expires_at"] = "2999-01-01T00:00:00Z"
    standin.queue("GET", "/api/ps", Reply(body={"models": [model]}))
    result = cli("ps", url=standin.url)
    assert result.exit_code == 0, result.output
    header, row = result.stdout.splitlines()
    assert header.split() == ["NAME", "ID", "SIZE", "PROCESSOR", "CONTEXT", "UNTIL"]
    assert "100% CPU" in row and "4096" in row and row.endswith("from now")


def test_show(cli, standin):
    shown = {
        "parameters": 'stop "<|im_end|>"\ntemperature 0.7',
        "template": "{{ .Prompt }}",
        "license": "Apache 2.0\nmore",
        "details": {"family": "qwen2", "parameter_size": "494M", "quantization_level": "Q4_K_M"},
        "model_info": {"general.architecture": "qwen2", "qwen2.context_length": 32768},
        "capabilities": ["completion", "tools"],
    }
    standin.queue("POST", "/api/show", Reply(body=shown))
    standin.queue("POST", "/api/show", Reply(body=shown))
    result = cli("show", "qwen2.5:0.5b", url=standin.url)
    assert result.exit_code == 0, result.output
    text = [line.split() for line in result.stdout.splitlines()]
    assert ["architecture", "qwen2"] in text
    assert ["context", "length", "32768"] in text
    assert ["quantization", "Q4_K_M"] in text
    assert ["tools"] in text
    assert ["temperature", "0.7"] in text
    assert ["Apache", "2.0"] in text
    template = cli("show", "qwen2.5:0.5b", "--field", "template", url=standin.url)
    assert template.stdout == "{{ .Prompt }}\n"


def test_rm_and_cp(cli, standin):
    standin.queue("DELETE", "/api/delete", Reply(200, b""))
    standin.queue("DELETE", "/api/delete", Reply(200, b""))
    standin.queue("POST", "/api/copy", Reply(200, b""))
    removed = cli("rm", "a", "b", url=standin.url)
    assert (removed.exit_code, removed.stdout) == (0, "deleted 'a'\ndeleted 'b'\n")
    copied = cli("cp", "a", "c", url=standin.url)
    assert (copied.exit_code, copied.stdout) == (0, "copied 'a' to 'c'\n")
    assert [(s.method, s.body) for s in standin.requests] == [
        ("DELETE", {"model": "a"}),
        ("DELETE", {"model": "b"}),
        ("POST", {"source": "a", "destination": "c"}),
    ]


def test_rm_of_a_missing_model_is_exit_1(cli, standin):
    standin.queue("DELETE", "/api/delete", Reply(404, {"error": "model 'zz' not found"}))
    result = cli("rm", "zz", url=standin.url)
    assert result.exit_code == 1
    assert result.stderr == "Error: model 'zz' not found (status 404)\n"
