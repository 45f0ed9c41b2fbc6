"""The access log and the request id: one JSON object per request, with the fields documented."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator

import httpx
import orjson
import pytest

from ollama_gateway.app import create_app
from ollama_gateway.http.auth import digest_of, key_id_of
from ollama_gateway.observability.logs import JsonFormatter
from tests.support.fake_ollama import BUSY
from tests.support.live import serve
from tests.support.secrets import KEY_A, SECRET_PROMPT, WRONG_KEY

AUTH = {"X-API-KEY": KEY_A}
ACCESS_FIELDS = {
    "time",
    "level",
    "logger",
    "message",
    "request_id",
    "method",
    "path",
    "route",
    "status",
    "duration_ms",
    "key_id",
}
TOKEN_FIELDS = {"model", "prompt_tokens", "generated_tokens"}


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(JsonFormatter())

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def objects(self, logger: str) -> list[dict]:
        out = [orjson.loads(line) for line in self.lines]
        return [o for o in out if o["logger"] == logger]


@pytest.fixture
def json_log() -> Iterator[_Lines]:
    handler = _Lines()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@pytest.fixture
def gateway(ollama, make_settings):
    settings = make_settings(backend="ollama", ollama_url=ollama.url, api_keys=[KEY_A])
    with serve(create_app(settings)) as url:
        yield url


def _access(json_log: _Lines, request_id: str) -> dict:
    """The access line of one request (written just after its response ends: wait a little)."""
    deadline = time.monotonic() + 5
    while True:
        found = [
            o for o in json_log.objects("ollama_gateway.access") if o["request_id"] == request_id
        ]
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert len(found) == 1, json_log.lines
    return found[0]


def test_success_line_holds_every_field_and_the_client_request_id(gateway, json_log):
    r = httpx.post(
        gateway + "/api/generate",
        json={"prompt": SECRET_PROMPT},
        headers={**AUTH, "X-Request-ID": "client-req-0001"},
    )
    assert r.status_code == 200
    assert r.headers["x-request-id"] == "client-req-0001"
    line = _access(json_log, "client-req-0001")
    assert set(line) == ACCESS_FIELDS | TOKEN_FIELDS
    assert line["level"] == "info"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", line["time"])
    assert (line["method"], line["path"], line["route"], line["status"]) == (
        "POST",
        "/api/generate",
        "/api/generate",
        200,
    )
    assert line["key_id"] == key_id_of(digest_of(KEY_A))
    assert (line["model"], line["prompt_tokens"], line["generated_tokens"]) == (
        "deepseek-r1:1.5b",
        3,
        4,
    )
    assert isinstance(line["duration_ms"], float) and 0 < line["duration_ms"] < 60_000
    assert SECRET_PROMPT not in "".join(json_log.lines)
    assert KEY_A not in "".join(json_log.lines)


def test_streamed_generation_carries_its_tokens_into_the_line(gateway, json_log):
    with httpx.stream(
        "POST",
        gateway + "/api/chat",
        json={"messages": [{"role": "user", "content": "hi"}]},
        headers={**AUTH, "X-Request-ID": "stream-req-1"},
    ) as r:
        assert r.headers["x-request-id"] == "stream-req-1"
        r.read()
    line = _access(json_log, "stream-req-1")
    assert (line["route"], line["prompt_tokens"], line["generated_tokens"]) == ("/api/chat", 3, 4)


@pytest.mark.parametrize(
    ("headers", "body", "status"),
    [
        ({"X-API-KEY": WRONG_KEY}, {"prompt": "x"}, 401),
        (AUTH, {"model": "busy", "prompt": "x"}, 503),
        (AUTH, {"model": "missing", "prompt": "x"}, 404),
        (AUTH, {"prompt": 5}, 400),
    ],
)
def test_errors_keep_the_request_id_and_are_logged(
    ollama, gateway, json_log, headers, body, status
):
    ollama.script("busy", status=503, error=BUSY)
    rid = f"err-{status}"
    r = httpx.post(gateway + "/api/generate", json=body, headers={**headers, "X-Request-ID": rid})
    assert r.status_code == status
    assert r.headers["x-request-id"] == rid
    line = _access(json_log, rid)
    assert line["status"] == status
    assert line["route"] == "/api/generate"
    assert not TOKEN_FIELDS & set(line)  # no generation happened
    assert line["key_id"] == ("-" if status == 401 else key_id_of(digest_of(KEY_A)))
    assert WRONG_KEY not in "".join(json_log.lines)


def test_a_request_id_is_generated_when_missing_or_unusable(gateway, json_log):
    for sent in (None, "has space", "semi;colon"):
        headers = dict(AUTH)
        if sent is not None:
            headers["X-Request-ID"] = sent
        r = httpx.get(gateway + "/api/nothing", headers=headers)
        rid = r.headers["x-request-id"]
        assert re.fullmatch(r"[0-9a-f]{32}", rid), rid
        assert _access(json_log, rid)["status"] == 404
    long = httpx.get(gateway + "/health", headers={"X-Request-ID": "x" * 500})
    assert long.headers["x-request-id"] == "x" * 128  # kept, but bounded
    assert _access(json_log, "x" * 128)["route"] == "/health"


def test_two_requests_never_share_an_id(gateway):
    ids = {httpx.get(gateway + "/health").headers["x-request-id"] for _ in range(5)}
    assert len(ids) == 5


def test_prompts_and_outputs_are_logged_only_when_asked(ollama, make_settings, json_log):
    visible = "a prompt the operator asked to see"
    settings = make_settings(backend="ollama", ollama_url=ollama.url, log_prompts=True)
    with serve(create_app(settings)) as url:
        r = httpx.post(
            url + "/api/generate", json={"prompt": visible}, headers={"X-Request-ID": "lp-1"}
        )
        assert r.status_code == 200
    lines = [o for o in json_log.objects("ollama_gateway.prompts") if o["request_id"] == "lp-1"]
    assert [o["message"].split()[1] for o in lines] == ["prompt", "output"]
    assert lines[0]["prompt"] == visible and visible in lines[0]["message"]
    assert lines[1]["output"] == "Hello, world!"

    json_log.lines.clear()
    quiet = make_settings(backend="ollama", ollama_url=ollama.url)
    with serve(create_app(quiet)) as url:
        httpx.post(url + "/api/generate", json={"prompt": visible}, headers={"X-Request-ID": "q"})
    assert _access(json_log, "q")["status"] == 200
    assert json_log.objects("ollama_gateway.prompts") == []
    assert visible not in "".join(json_log.lines)
    assert "Hello, world!" not in "".join(json_log.lines)


def test_cors_preflight_is_counted_and_logged(ollama, make_settings, json_log):
    settings = make_settings(
        backend="ollama", ollama_url=ollama.url, api_keys=[KEY_A], cors_origins="https://a.example"
    )
    with serve(create_app(settings)) as url:
        r = httpx.options(
            url + "/api/generate",
            headers={
                "Origin": "https://a.example",
                "Access-Control-Request-Method": "POST",
            },
        )
        assert r.status_code == 200
    lines = [o for o in json_log.objects("ollama_gateway.access") if o["method"] == "OPTIONS"]
    assert [(o["route"], o["status"]) for o in lines] == [("/api/generate", 200)]


class _BrokenBackend:
    """A backend with a bug: generation raises a plain exception."""

    name = "broken"
    splits_thinking = False

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def generate(self, request):
        raise RuntimeError("a bug in the backend")
        yield  # pragma: no cover - makes this an async generator

    async def check_ready(self):
        return True, ""


def test_an_unexpected_error_is_a_500_naming_the_request_id(make_settings, json_log):
    app = create_app(make_settings(), backend=_BrokenBackend())
    with serve(app) as url:
        r = httpx.post(
            url + "/api/generate", json={"prompt": "x"}, headers={"X-Request-ID": "bug-1"}
        )
    assert r.status_code == 500
    assert r.headers["x-request-id"] == "bug-1"
    assert r.json()["detail"] == "internal error (request bug-1)"
    assert _access(json_log, "bug-1")["status"] == 500
    errors = json_log.objects("ollama_gateway.errors")
    assert any("bug-1" in o["message"] and "RuntimeError" in o["exception"] for o in errors)


def test_a_client_that_leaves_before_the_answer_is_a_499(ollama, gateway, json_log):
    ollama.script("slow", delay=0.3)
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(
            gateway + "/api/generate",
            json={"model": "slow", "prompt": "x"},
            headers={**AUTH, "X-Request-ID": "gone-1"},
            timeout=httpx.Timeout(5, read=0.05),
        )
    line = _access(json_log, "gone-1")
    assert line["status"] == 499
    assert line["route"] == "/api/generate"


def test_a_text_record_is_one_line_whatever_its_message_holds():
    from ollama_gateway.observability.logs import TextFormatter

    formatter = TextFormatter()
    message = "model=%s"
    forged = "x\n2026-01-01 00:00:00,000 INFO ollama_gateway.access: forged\r\x1b[2J\u2028\x85"
    record = logging.LogRecord("t", logging.INFO, __file__, 1, message, (forged,), None)
    line = formatter.format(record)
    assert len(line.splitlines()) == 1
    escaped = "x\\n2026-01-01 00:00:00,000 INFO ollama_gateway.access: forged"
    assert line.endswith("model=" + escaped + "\\r\\x1b[2J\\u2028\\x85")
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        failed = logging.LogRecord("t", logging.ERROR, __file__, 1, "a\nb", (), sys.exc_info())
    lines = formatter.format(failed).splitlines()
    assert lines[0].endswith("t: a\\nb") and lines[1] == "Traceback (most recent call last):"
