"""``ollama-gateway generate/chat`` and friends against the live gateway (CliRunner)."""

from __future__ import annotations

import json
import socket

import pytest

from tests.client.gateway import BAD_KEY


def test_generate_streams_the_answer(cli, gateway, ollama):
    result = cli("generate", "Why is the sky blue?", "-m", "llama2", url=gateway)
    assert result.exit_code == 0, result.output
    assert result.stdout == "Hello, world!\n"
    assert result.stderr == ""
    sent = ollama.last("/api/generate").body
    assert (sent["model"], sent["prompt"], sent["stream"]) == (
        "llama2",
        "Why is the sky blue?",
        True,
    )


def test_generate_json_is_the_seed_answer(cli, gateway):
    result = cli("generate", "hi", "--json", url=gateway)
    assert result.exit_code == 0, result.output
    answer = json.loads(result.stdout)
    assert answer["generated_text"] == "Hello, world!"
    assert answer["model"] == "deepseek-r1:1.5b"
    assert isinstance(answer["elapsed_time"], float)
    assert answer["done"] is True


def test_generate_reads_piped_stdin_before_the_argument(cli, gateway, ollama):
    result = cli("generate", "Summarize.", "--system", "terse", url=gateway, input="notes\n")
    assert result.exit_code == 0, result.output
    sent = ollama.last("/api/generate").body
    assert (sent["prompt"], sent["system"]) == ("notes Summarize.", "terse")


def test_generate_sends_think_options_and_keep_alive(cli, gateway, ollama):
    args = ("generate", "hi", "--think", "-o", "temperature=0", "-o", 'stop=["x"]')
    result = cli(*args, "--keep-alive", "0", url=gateway)
    assert result.exit_code == 0, result.output
    sent = ollama.last("/api/generate").body
    assert sent["think"] is True
    assert (sent["options"]["temperature"], sent["options"]["stop"]) == (0, ["x"])


def test_generate_without_a_prompt_is_a_usage_error(cli, gateway):
    result = cli("generate", url=gateway)
    assert result.exit_code == 2
    assert "no prompt" in result.stderr


def test_a_bad_option_is_a_usage_error(cli, gateway):
    result = cli("generate", "hi", "-o", "temperature", url=gateway)
    assert result.exit_code == 2
    assert "'temperature' is not KEY=VALUE" in result.stderr


@pytest.mark.parametrize("command", [("generate", "hi"), ("chat",)])
def test_a_wrong_key_is_one_line_and_exit_1(cli, gateway, command):
    result = cli(*command, url=gateway, key=BAD_KEY, input="hello\n")
    assert result.exit_code == 1
    assert result.stderr == "Error: Invalid or missing API key (status 401)\n"
    assert BAD_KEY not in result.output


def test_a_missing_model_is_one_line_and_exit_1(cli, gateway):
    result = cli("generate", "hi", "--model", "missing", url=gateway)
    assert result.exit_code == 1
    assert result.stderr == (
        'Error: model "missing" not found, try pulling it first (status 404)\n'
    )


def _closed_port_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


@pytest.mark.parametrize(
    "command", [("generate", "hi"), ("chat",), ("list",), ("ps",), ("pull", "x")]
)
def test_an_unreachable_gateway_is_one_line_naming_the_url(cli, command):
    url = _closed_port_url()
    result = cli(*command, url=url, input="hi\n")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"Error: cannot connect to the gateway at {url}/api/")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.output


def test_url_flag_and_a_bad_url(cli, gateway):
    ok = cli("generate", "hi", "--url", gateway.removeprefix("http://"), url=None)
    assert (ok.exit_code, ok.stdout) == (0, "Hello, world!\n")
    bad = cli("generate", "hi", "--url", "ftp://x", url=None)
    assert bad.exit_code == 2
    assert "unsupported scheme 'ftp'" in bad.stderr


def test_chat_reads_turns_from_stdin_and_keeps_history(cli, gateway, ollama):
    turns = "hello\n\n/clear\nfirst\nsecond\n/bye\nnever sent\n"
    result = cli("chat", "-m", "llama2", "--system", "be kind", url=gateway, input=turns)
    assert result.exit_code == 0, result.output
    assert result.stdout == "Hello, world!\n\n" * 3
    chats = [r.body for r in ollama.requests if r.path == "/api/chat"]
    assert [c["messages"] for c in chats] == [
        [{"role": "system", "content": "be kind"}, {"role": "user", "content": "hello"}],
        [{"role": "system", "content": "be kind"}, {"role": "user", "content": "first"}],
        [
            {"role": "system", "content": "be kind"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "Hello, world!"},
            {"role": "user", "content": "second"},
        ],
    ]
    assert all(c["stream"] is True and c["model"] == "llama2" for c in chats)
    assert "Cleared the conversation." in result.stderr


def test_chat_ends_at_end_of_input(cli, gateway):
    result = cli("chat", url=gateway, input="")
    assert (result.exit_code, result.stdout) == (0, "")
