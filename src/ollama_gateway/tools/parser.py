"""Tool calls out of a model's streamed output, in the format its template teaches.

:class:`ToolCallParser` is fed the output as it arrives and gives back the text that may be
sent now and the calls completed so far: text before a call streams as text; a call is
emitted once it is complete (its closing tag, or the end of its JSON); a marker split across
chunks is held back until it is known to be one. What looks like a call but does not parse
into one (bad JSON, a name that is not one of the request's tools) is given back as text,
exactly as the model wrote it, as Ollama does.

Calls come out in Ollama's shape, ``{"id": ..., "function": {"index": i, "name": ...,
"arguments": {...}}}``; the OpenAI renderer turns ``arguments`` into a JSON string.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from ollama_gateway.tools.formats import PYTHON_TAG, ToolFormat

_SPACE = " \t\r\n"


def scan_json(text: str, start: int = 0) -> int | None:
    """Where the JSON object or array starting at ``text[start]`` (after spaces) ends: the
    index just past it, None when it is not complete yet, -1 when no object or array starts
    there. Strings and escapes are followed; nothing is parsed."""
    i, n = start, len(text)
    while i < n and text[i] in _SPACE:
        i += 1
    if i == n:
        return None
    if text[i] not in "{[":
        return -1
    depth, in_string, escaped = 0, False, False
    for j in range(i, n):
        ch = text[j]
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return j + 1
    return None


def _json_values(text: str) -> list[Any] | None:
    """Every JSON value of ``text`` (objects and arrays, separated by spaces), or None."""
    values, i = [], 0
    while text[i:].strip(_SPACE):
        end = scan_json(text, i)
        if end is None or end < 0:
            return None
        try:
            values.append(json.loads(text[i:end]))
        except ValueError:
            return None
        i = end
    return values


class ToolCallParser:
    """Splits one stream of output into text and tool calls (see the module docstring)."""

    def __init__(self, fmt: ToolFormat, names: Iterable[str] | None = None) -> None:
        self.fmt = fmt
        self.names = set(names) if names is not None else None
        self.markers = fmt.markers or (PYTHON_TAG,)
        self._buf = ""
        self._mode = "text" if fmt.markers else "start"
        self._marker = ""  # the marker that opened the call being read
        self._index = 0  # of the next call

    # -- public -------------------------------------------------------------------------
    def start_inside(self, opened: str) -> None:
        """The output starts inside a call that ``opened`` (a marker, the prompt's end) began."""
        self._mode, self._marker = "call", opened

    def feed(self, text: str) -> tuple[str, list[dict[str, Any]]]:
        """The text that may be sent now, and the calls completed by ``text``."""
        self._buf += text
        out: list[str] = []
        calls: list[dict[str, Any]] = []
        while self._step(out, calls):
            pass
        return "".join(out), calls

    def flush(self) -> tuple[str, list[dict[str, Any]]]:
        """At the end of the output: whatever is held, as calls when it parses, else as text."""
        out: list[str] = []
        calls: list[dict[str, Any]] = []
        buf, self._buf = self._buf, ""
        if self._mode == "call" and self.fmt.close:
            parsed = self._calls(_json_values(buf))  # the closing tag never came
            if parsed is not None:
                return "", parsed
        if self._mode in ("call", "json"):
            out.append(self._marker + buf)
        else:
            out.append(buf)
        self._mode = "text"
        return "".join(out), calls

    # -- states -------------------------------------------------------------------------
    def _step(self, out: list[str], calls: list[dict[str, Any]]) -> bool:
        """One move of the state machine; False when it needs more text."""
        if self._mode == "start":
            return self._start()
        if self._mode == "text":
            return self._text(out)
        if self._mode == "call" and self.fmt.close:
            return self._closed_call(out, calls)
        return self._json_call(out, calls)

    def _start(self) -> bool:
        """Before the first visible character of a ``json`` reply: is it a call?"""
        stripped = self._buf.lstrip(_SPACE)
        if not stripped:
            return False
        self._mode = "json" if stripped[0] == "{" else "text"
        if self._mode == "json":
            self._marker, self._buf = self._buf[: len(self._buf) - len(stripped)], stripped
        return True

    def _text(self, out: list[str]) -> bool:
        buf = self._buf
        found = [(buf.find(m), m) for m in self.markers]
        found = [(i, m) for i, m in found if i >= 0]
        if found:
            i, marker = min(found)
            out.append(buf[:i])
            self._buf, self._marker, self._mode = buf[i + len(marker) :], marker, "call"
            return True
        keep = _partial_marker(buf, self.markers)
        out.append(buf[: len(buf) - keep])
        self._buf = buf[len(buf) - keep :]
        return False

    def _closed_call(self, out: list[str], calls: list[dict[str, Any]]) -> bool:
        """``<tool_call>`` read: wait for ``</tool_call>``, then parse what is between."""
        end = self._buf.find(self.fmt.close)
        if end < 0:
            return False
        body, rest = self._buf[:end], self._buf[end + len(self.fmt.close) :]
        parsed = self._calls(_json_values(body))
        if parsed is None:
            out.append(self._marker + body + self.fmt.close)
        else:
            calls.extend(parsed)
        self._buf, self._mode = rest, "text"
        return True

    def _json_call(self, out: list[str], calls: list[dict[str, Any]]) -> bool:
        """A JSON value after a marker (or at the start of a ``json`` reply)."""
        end = scan_json(self._buf)
        if end is None:
            return False
        if end < 0:
            out.append(self._marker)
            self._mode = "text"
            return True
        raw, self._buf = self._buf[:end], self._buf[end:]
        parsed = self._calls(_json_values(raw))
        if parsed is None:
            out.append(self._marker + raw)
            self._mode = "text"
        else:
            calls.extend(parsed)
            self._mode = "text" if self.fmt.markers else "start"  # json: another may follow
        return True

    # -- calls --------------------------------------------------------------------------
    def _calls(self, values: list[Any] | None) -> list[dict[str, Any]] | None:
        """The calls ``values`` hold (objects, or arrays of them); None unless all are calls."""
        if not values:
            return None
        items: list[Any] = []
        for value in values:
            items.extend(value if isinstance(value, list) else [value])
        calls = [self._call(item) for item in items]
        if not calls or any(call is None for call in calls):
            return None
        for call in calls:
            call["function"]["index"] = self._index  # type: ignore[index]
            self._index += 1
        return calls  # type: ignore[return-value]

    def _call(self, item: Any) -> dict[str, Any] | None:
        if isinstance(item, dict) and isinstance(item.get("function"), dict):
            item = item["function"]  # {"type": "function", "function": {...}}
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            return None
        name = item["name"]
        if self.names is not None and name not in self.names:
            return None
        arguments = item.get("arguments", item.get("parameters", {}))
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments) if arguments.strip() else {}
            except ValueError:
                return None
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            return None
        return {
            "id": "call_" + uuid.uuid4().hex[:24],
            "function": {"index": 0, "name": name, "arguments": arguments},
        }


def _partial_marker(text: str, markers: tuple[str, ...]) -> int:
    """The length of the longest end of ``text`` that some marker starts with."""
    best = 0
    for marker in markers:
        for k in range(min(len(marker) - 1, len(text)), best, -1):
            if text.endswith(marker[:k]):
                best = k
                break
    return best
