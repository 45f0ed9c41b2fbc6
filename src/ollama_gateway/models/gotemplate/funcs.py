"""The template functions (Go's builtins that model templates use, plus Ollama's ``json``)."""

from __future__ import annotations

import datetime as _dt
import html
import json
import urllib.parse
from collections.abc import Callable
from typing import Any

from ollama_gateway.models.gotemplate.nodes import TemplateError
from ollama_gateway.models.gotemplate.values import (
    GoJSON,
    go_json,
    go_print,
    truth,
    unwrap,
)


def _eq(a: Any, *others: Any) -> bool:
    if not others:
        raise TemplateError("eq: missing argument for comparison")
    a = unwrap(a)
    return any(a == unwrap(b) for b in others)


def _compare(name: str, op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        try:
            return op(unwrap(a), unwrap(b))
        except TypeError:
            raise TemplateError(f"{name}: incompatible types for comparison") from None

    return compare


def _len(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if value is None:
        return 0  # a nil slice (ToolCalls, Images) has length 0
    try:
        return len(value)
    except TypeError:
        raise TemplateError(f"len of type {type(value).__name__}") from None


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        key = unwrap(key)
        if isinstance(value, GoJSON):
            items = dict(value.items())
            if isinstance(value.value, list) and not 0 <= key < len(items):
                raise TemplateError(f"index out of range: {key}")
            value = items.get(key)
        elif isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, str):
            data = value.encode()
            if not isinstance(key, int) or not 0 <= key < len(data):
                raise TemplateError(f"index out of range: {key}")
            value = data[key]  # Go indexes a string by byte
        elif isinstance(value, list | tuple):
            if not isinstance(key, int) or not 0 <= key < len(value):
                raise TemplateError(f"index out of range: {key}")
            value = value[key]
        else:
            raise TemplateError(f"can't index item of type {type(value).__name__}")
    return value


def _slice(value: Any, *indexes: Any) -> Any:
    wrapped = isinstance(value, GoJSON)
    seq = unwrap(value)
    if not isinstance(seq, list | tuple | str):
        raise TemplateError(f"can't slice item of type {type(seq).__name__}")
    if len(indexes) > 3:
        raise TemplateError("too many slice indexes")
    if not all(isinstance(i, int) for i in indexes):
        raise TemplateError("slice indexes must be integers")
    bounds = [0, len(seq)]
    for n, i in enumerate(indexes[:2]):
        bounds[n] = i
    if not 0 <= bounds[0] <= bounds[1] <= len(seq):
        raise TemplateError(f"slice: index out of range [{bounds[0]}:{bounds[1]}]")
    out = seq[bounds[0] : bounds[1]]
    return GoJSON(out, value.mode) if wrapped else out


def _sprint(*args: Any) -> str:
    out = []
    for i, arg in enumerate(args):
        if i and not isinstance(arg, str) and not isinstance(args[i - 1], str):
            out.append(" ")
        out.append(go_print(arg))
    return "".join(out)


def _printf(fmt: str, *args: Any) -> str:
    out: list[str] = []
    it = iter(args)
    i = 0
    while i < len(fmt):
        c = fmt[i]
        if c != "%" or i + 1 >= len(fmt):
            out.append(c)
            i += 1
            continue
        verb = fmt[i + 1]
        i += 2
        if verb == "%":
            out.append("%")
            continue
        arg = next(it, None)
        if verb in "vsd":
            out.append(go_print(arg))
        elif verb == "q":
            out.append(json.dumps(go_print(arg), ensure_ascii=False))
        elif verb == "t":
            out.append(go_print(bool(arg)))
        else:
            raise TemplateError(f"printf: the %{verb} verb is not supported")
    return "".join(out)


FUNCS: dict[str, Callable[..., Any]] = {
    "not": lambda x: not truth(x),
    "eq": _eq,
    "ne": _compare("ne", lambda a, b: a != b),
    "lt": _compare("lt", lambda a, b: a < b),
    "le": _compare("le", lambda a, b: a <= b),
    "gt": _compare("gt", lambda a, b: a > b),
    "ge": _compare("ge", lambda a, b: a >= b),
    "len": _len,
    "index": _index,
    "slice": _slice,
    "print": _sprint,
    "printf": _printf,
    "println": lambda *a: " ".join(go_print(x) for x in a) + "\n",
    "json": go_json,
    "html": lambda *a: html.escape(_sprint(*a)),
    "urlquery": lambda *a: urllib.parse.quote_plus(_sprint(*a)),
    "js": lambda *a: json.dumps(_sprint(*a))[1:-1],
    "currentDate": lambda: _dt.date.today().isoformat(),
}
