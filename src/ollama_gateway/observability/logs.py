"""Logging setup: text or JSON lines, one level for the whole service; prompt logging (opt-in).

``--log-format json`` writes one JSON object per line: ``time`` (UTC, RFC 3339), ``level``,
``logger``, ``message``, plus the structured fields a record carries in ``extra={"fields": ...}``
(the access line's ``request_id``, ``method``, ``route``, ``status``...). ``--log-format text``
writes ``time level logger: message``, where the access line's message already holds its fields.

A text record is always one line (a traceback follows on its own lines): anything in a message
that is not printable (a newline in a model name, a carriage return, an escape sequence) is
written as a backslash escape (:func:`one_line`), so client-supplied text cannot forge a line.
Client fields of the access line are quoted when they hold anything beyond a plain token
(:func:`quote_field`) and clipped to 200 characters.

Prompts and outputs are never logged unless ``--log-prompts`` is given; then the generation service
logs them through :func:`log_prompt` and :func:`log_output` (logger ``ollama_gateway.prompts``,
level INFO) with the request id.
"""

from __future__ import annotations

import logging
import re
import sys
import time
from typing import TYPE_CHECKING

import orjson

from ollama_gateway.errors import clip
from ollama_gateway.settings import Settings

if TYPE_CHECKING:
    from ollama_gateway.core.types import GenerationRequest

prompt_log = logging.getLogger("ollama_gateway.prompts")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries whose DEBUG output is noise even at --log-level debug.
_QUIET = ("asyncio", "aiohttp.access", "multipart", "httpcore", "httpx")


_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_PLAIN_FIELD = re.compile(r"[A-Za-z0-9_.:/@+%=,~-]*")


def _escape_char(char: str) -> str:
    if char in _ESCAPES:
        return _ESCAPES[char]
    code = ord(char)
    return (
        f"\\x{code:02x}"
        if code < 0x100
        else f"\\u{code:04x}"
        if code < 0x10000
        else (f"\\U{code:08x}")
    )


def one_line(text: str) -> str:
    """``text`` with every non-printable character backslash-escaped: one line, always.

    >>> one_line("ok"), one_line("a\\nb 200 key=x"), one_line("\\x1b[2Jx\\u2028")
    ('ok', 'a\\\\nb 200 key=x', '\\\\x1b[2Jx\\\\u2028')
    """
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else _escape_char(c) for c in text)


def quote_field(text: str) -> str:
    """A client-supplied value for a ``key=value`` log field: bare when it is a plain token,
    else double-quoted with ``"`` and ``\\`` escaped; clipped to 200 characters.

    >>> quote_field("llama3:8b"), quote_field('a b"c'), quote_field("")
    ('llama3:8b', '"a b\\\\"c"', '""')
    """
    text = clip(text)
    if text and _PLAIN_FIELD.fullmatch(text):
        return text
    return '"' + one_line(text.replace("\\", "\\\\").replace('"', '\\"')) + '"'


class _SecondCache:
    """``strftime`` once per second, not once per record (it is a large part of a line's cost)."""

    def __init__(self, converter, fmt: str) -> None:
        self.converter = converter
        self.fmt = fmt
        self.second = -1
        self.text = ""

    def __call__(self, created: float) -> str:
        second = int(created)
        if second != self.second:  # a benign race between threads writes the same text
            self.text = time.strftime(self.fmt, self.converter(second))
            self.second = second
        return self.text


class TextFormatter(logging.Formatter):
    """``time level logger: message``; local time with milliseconds, ``2025-01-01 12:00:00,123``."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)
        self._seconds = _SecondCache(time.localtime, "%Y-%m-%d %H:%M:%S")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        if datefmt is not None:
            return super().formatTime(record, datefmt)
        return f"{self._seconds(record.created)},{int(record.msecs):03d}"

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = one_line(record.message)
        return super().formatMessage(record)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, times in UTC."""

    def __init__(self) -> None:
        super().__init__()
        self.converter = time.gmtime
        self._seconds = _SecondCache(time.gmtime, "%Y-%m-%dT%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": f"{self._seconds(record.created)}.{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            data.update(extra)
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(data, default=str).decode()


def make_formatter(log_format: str) -> logging.Formatter:
    if log_format == "json":
        return JsonFormatter()
    return TextFormatter()


def configure_logging(settings: Settings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(make_formatter(settings.log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level.upper())
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True  # our own access line replaces it
    # The logging HOWTO's "Optimization": skip what no line of ours shows (the caller's file and
    # line, thread and process names); a few microseconds per record, i.e. per request.
    logging._srcfile = None
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    if settings.log_level == "debug":
        for name in _QUIET:
            logging.getLogger(name).setLevel(logging.INFO)


def log_prompt(request: GenerationRequest) -> None:
    """The prompt of a generation (only called with ``--log-prompts``)."""
    if request.kind == "generate":
        prompt: object = request.prompt
        if request.system:
            prompt = {"system": request.system, "prompt": request.prompt}
    else:
        prompt = [{"role": m.role, "content": m.content} for m in request.messages]
    prompt_log.info(
        "%s prompt model=%s %s",
        request.request_id or "-",
        orjson.dumps(request.model).decode(),  # the client's text: quoted, escaped
        orjson.dumps(prompt).decode(),
        extra={
            "fields": {"request_id": request.request_id, "model": request.model, "prompt": prompt}
        },
    )


def log_output(request_id: str, text: str) -> None:
    """The output of a generation (only called with ``--log-prompts``)."""
    prompt_log.info(
        "%s output %s",
        request_id or "-",
        orjson.dumps(text).decode(),
        extra={"fields": {"request_id": request_id, "output": text}},
    )
