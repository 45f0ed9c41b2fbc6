"""How streamed answers reach the terminal: reasoning on stderr, errors after partial text."""

from __future__ import annotations

from tests.support.fake_ollama import Reply


def test_reasoning_goes_to_stderr_and_the_answer_to_stdout(cli, standin):
    lines = [
        {"response": "", "thinking": "Two plus", "done": False},
        {"response": "", "thinking": " two.", "done": False},
        {"response": "4", "done": False},
        {"response": "", "done": True},
    ]
    standin.queue("POST", "/api/generate", Reply(body=lines))
    result = cli("generate", "2+2?", "--think", url=standin.url)
    assert result.exit_code == 0, result.output
    assert result.stdout == "4\n"
    assert result.stderr == "Thinking...\nTwo plus two.\n...done thinking.\n\n"
    assert standin.requests[0].body["think"] is True


def test_chat_think_shows_reasoning_apart(cli, standin):
    lines = [
        {"message": {"role": "assistant", "content": "", "thinking": "hmm"}, "done": False},
        {"message": {"role": "assistant", "content": "Hi"}, "done": True},
    ]
    standin.queue("POST", "/api/chat", Reply(body=lines))
    result = cli("chat", "--think", url=standin.url, input="hello\n")
    assert result.exit_code == 0, result.output
    assert result.stdout == "Hi\n\n"
    assert "hmm" in result.stderr
    assert standin.requests[0].body["think"] is True


def test_an_error_midway_ends_the_line_then_says_why(cli, standin):
    lines = [{"response": "Hel", "done": False}, {"error": "model runner crashed"}]
    standin.queue("POST", "/api/generate", Reply(body=lines))
    result = cli("generate", "hi", url=standin.url)
    assert result.exit_code == 1
    assert result.stdout == "Hel\n"
    assert result.stderr == "Error: model runner crashed\n"


def test_format_schema_and_images_are_sent(cli, standin, tmp_path):
    picture = tmp_path / "pixel.gif"
    picture.write_bytes(b"GIF89a")
    standin.queue("POST", "/api/generate", Reply(body=[{"response": "{}", "done": True}]))
    schema = '{"type": "object", "properties": {"age": {"type": "integer"}}}'
    result = cli("generate", "age?", "--format", schema, "-i", str(picture), url=standin.url)
    assert result.exit_code == 0, result.output
    sent = standin.requests[0].body
    assert sent["format"] == {"type": "object", "properties": {"age": {"type": "integer"}}}
    assert sent["images"] == ["R0lGODlh"]


def test_a_format_that_is_not_json_is_a_usage_error(cli, standin):
    result = cli("generate", "x", "--format", "{oops", url=standin.url)
    assert result.exit_code == 2
    assert "not a JSON schema" in result.stderr
    assert standin.requests == []


def test_a_multi_line_server_message_is_printed_on_one_line(cli, standin):
    body = {"error": "llama runner process has terminated:\n  exit status 2"}
    standin.queue("POST", "/api/generate", Reply(500, body))
    result = cli("generate", "hi", url=standin.url)
    assert result.exit_code == 1
    assert result.stderr == (
        "Error: llama runner process has terminated: exit status 2 (status 500)\n"
    )
