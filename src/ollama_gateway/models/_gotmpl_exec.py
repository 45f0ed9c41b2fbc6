"""Executes templates parsed by :mod:`._gotmpl_parse` with Go's ``text/template`` semantics.

Data is plain Python: dicts (Go maps: a missing key is the zero value, printed ``<no value>``),
lists, strings, numbers, booleans and ``None`` (nil), plus :class:`GoJSON` for the values that
Ollama's Go types print as JSON (tools, tool calls and their arguments) and :class:`GoStruct` for
Ollama's ``api.Message``.

Go semantics kept: truthiness (empty and zero values are false), ``and`` / ``or`` evaluate lazily
and return an operand, ``eq`` takes several operands, ``len`` of a string counts bytes, map keys
print and range in sorted order, variables are scoped to their block, ``$`` is the root data.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import math
import urllib.parse
from collections.abc import Callable
from typing import Any

from ollama_gateway.models._gotmpl_parse import (
    Action,
    Branch,
    Break,
    Chain,
    Continue,
    Dot,
    Field,
    Identifier,
    Literal,
    Pipe,
    TemplateError,
    Text,
    Variable,
)

MAX_OUTPUT = 16 * 1024 * 1024  # characters; a template that writes more is refused

# Go struct field order of Ollama's tool types; JSON of other keys keeps their order
_STRUCT_ORDER = {
    k: i
    for i, k in enumerate(
        [
            "index", "id", "type", "name", "$defs", "items", "required", "properties",
            "description", "enum", "parameters", "function", "arguments",
        ]
    )
}  # fmt: skip
_CHILD_MODE = {"properties": "map_of_struct", "arguments": "any", "items": "any", "$defs": "any"}


def _go_scalar_json(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e21:
        value = int(value)
    text = json.dumps(value, ensure_ascii=False)
    # Go's json.Marshal escapes these for safe embedding in HTML
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _child_mode(mode: str, key: Any) -> str:
    """How the value under ``key`` marshals: a Go struct (field order) or a map (sorted keys)."""
    if mode == "map_of_struct":
        return "struct"
    if mode == "any":
        return "any"
    return _CHILD_MODE.get(key, "struct")


def go_json(value: Any, mode: str = "struct") -> str:
    """JSON as Go's ``json.Marshal`` writes Ollama's values (compact, HTML-escaped, Go order)."""
    if isinstance(value, GoJSON):
        value, mode = value.value, value.mode
    elif isinstance(value, GoStruct):
        value = value.value
    if isinstance(value, dict):
        if mode == "struct":
            keys = sorted(value, key=lambda k: (_STRUCT_ORDER.get(k, len(_STRUCT_ORDER)),))
        else:
            keys = sorted(value)
        parts = [
            f"{_go_scalar_json(str(k))}:{go_json(value[k], _child_mode(mode, k))}" for k in keys
        ]
        return "{" + ",".join(parts) + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(go_json(v, mode) for v in value) + "]"
    return _go_scalar_json(value)


def _go_field_key(data: dict[str, Any], name: str) -> Any:
    if name in data:
        return name
    snake = "".join("_" + c.lower() if c.isupper() else c for c in name).lstrip("_")
    for key in (snake, name[:1].lower() + name[1:], name.lower()):
        if key in data:
            return key
    return None


class GoJSON:
    """A JSON value from Ollama's Go types: fields by Go name, prints as Go's JSON.

    ``mode`` says how Go marshals it: ``struct`` (Ollama's tool types: fixed field order),
    ``map_of_struct`` (``properties``) or ``any`` (maps: keys sorted, e.g. tool call arguments).
    """

    __slots__ = ("mode", "value")

    def __init__(self, value: Any, mode: str = "struct") -> None:
        self.value = value
        self.mode = mode

    def field(self, name: str) -> Any:
        if not isinstance(self.value, dict):
            kind = type(self.value).__name__
            raise TemplateError(f"can't evaluate field {name} in a JSON {kind}")
        key = _go_field_key(self.value, name)
        if key is None:
            return None
        return wrap_json(self.value[key], _child_mode(self.mode, key))

    def items(self) -> list[tuple[Any, Any]]:
        """(key, element) pairs as ``range`` visits them (map keys sorted)."""
        if isinstance(self.value, dict):
            return [
                (k, wrap_json(self.value[k], _child_mode(self.mode, k))) for k in sorted(self.value)
            ]
        if isinstance(self.value, list):
            return [(i, wrap_json(v, self.mode)) for i, v in enumerate(self.value)]
        return []

    def __len__(self) -> int:
        return len(self.value) if isinstance(self.value, dict | list | str) else 0

    def __bool__(self) -> bool:
        return bool(self.value)

    def __str__(self) -> str:
        if isinstance(self.value, str):
            return self.value
        return go_json(self.value, self.mode)

    def __eq__(self, other: object) -> bool:
        return self.value == (other.value if isinstance(other, GoJSON) else other)

    __hash__ = None  # type: ignore[assignment]


def wrap_json(value: Any, mode: str = "struct") -> Any:
    """Dicts and lists become :class:`GoJSON`; scalars stay as they are."""
    return GoJSON(value, mode) if isinstance(value, dict | list) else value


class GoStruct:
    """A Go struct: named fields, always true, unknown fields are the zero value (None)."""

    __slots__ = ("fields", "value")

    def __init__(self, fields: dict[str, Any], value: Any = None) -> None:
        self.fields = fields
        self.value = value if value is not None else fields

    def field(self, name: str) -> Any:
        return self.fields.get(name)

    def __str__(self) -> str:
        return "{" + " ".join(go_print(v) for v in self.fields.values()) + "}"


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


def truth(value: Any) -> bool:
    """Go's notion of a true value: non-zero, non-empty, non-nil; structs are always true."""
    if value is None:
        return False
    if isinstance(value, GoStruct):
        return True
    return bool(value)


def _format_float(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if math.isnan(value):
        return "NaN"
    if value.is_integer() and abs(value) < 1e21:
        return str(int(value))
    text = repr(value)
    if "e" in text:
        mantissa, exp = text.split("e")
        sign = exp[0] if exp[0] in "+-" else "+"
        text = f"{mantissa}e{sign}{exp.lstrip('+-').zfill(2)}"
    return text


def go_print(value: Any) -> str:
    """How ``{{ value }}`` prints (fmt's %v)."""
    if value is None:
        return "<no value>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _format_float(value)
    if isinstance(value, GoJSON | GoStruct):
        return str(value)
    if isinstance(value, list | tuple):
        return "[" + " ".join(go_print(v) for v in value) + "]"
    if isinstance(value, dict):
        return "map[" + " ".join(f"{k}:{go_print(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def _unwrap(value: Any) -> Any:
    if isinstance(value, GoJSON):
        return value.value
    return value


def _eq(a: Any, *others: Any) -> bool:
    if not others:
        raise TemplateError("eq: missing argument for comparison")
    a = _unwrap(a)
    return any(a == _unwrap(b) for b in others)


def _compare(name: str, op: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def compare(a: Any, b: Any) -> bool:
        try:
            return op(_unwrap(a), _unwrap(b))
        except TypeError:
            raise TemplateError(f"{name}: incompatible types for comparison") from None

    return compare


def _len(value: Any) -> int:
    if isinstance(value, str):
        return len(value.encode())
    if value is None:
        raise TemplateError("len of nil pointer")
    try:
        return len(value)
    except TypeError:
        raise TemplateError(f"len of type {type(value).__name__}") from None


def _index(value: Any, *keys: Any) -> Any:
    for key in keys:
        key = _unwrap(key)
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
    seq = _unwrap(value)
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


class Executor:
    """Runs a parsed template against ``data`` (the root, ``$``)."""

    def __init__(self, data: Any) -> None:
        self.root = data
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.out: list[str] = []
        self.size = 0

    def run(self, nodes: list[Any]) -> str:
        try:
            self.walk(nodes, self.root)
        except (_Break, _Continue):
            raise TemplateError("break or continue outside range") from None
        return "".join(self.out)

    def write(self, text: str) -> None:
        self.size += len(text)
        if self.size > MAX_OUTPUT:
            raise TemplateError("the template output is too large")
        self.out.append(text)

    def walk(self, nodes: list[Any], dot: Any) -> None:
        for node in nodes:
            if isinstance(node, Text):
                self.write(node.text)
            elif isinstance(node, Action):
                value = self.eval_pipe(node.pipe, dot)
                if not node.pipe.decl:
                    self.write(go_print(value))
            elif isinstance(node, Branch):
                mark = len(self.vars)
                try:
                    if node.kind == "range":
                        self.run_range(node, dot)
                    else:
                        value = self.eval_pipe(node.pipe, dot)
                        if truth(value):
                            self.walk(node.body, value if node.kind == "with" else dot)
                        else:
                            self.walk(node.else_body, dot)
                finally:
                    del self.vars[mark:]
            elif isinstance(node, Break):
                raise _Break
            elif isinstance(node, Continue):
                raise _Continue

    def run_range(self, node: Branch, dot: Any) -> None:
        pipe = node.pipe
        value = self.eval_pipe(Pipe(pipe.cmds), dot)
        if isinstance(value, GoJSON) and isinstance(value.value, dict | list):
            items = value.items()
        elif value is None:
            items: list[tuple[Any, Any]] = []
        elif isinstance(value, dict):
            items = [(k, wrap_json(value[k])) for k in sorted(value)]
        elif isinstance(value, list | tuple):
            items = [(i, wrap_json(v)) for i, v in enumerate(value)]
        elif isinstance(value, int) and not isinstance(value, bool):
            items = [(i, i) for i in range(value)]
        else:
            raise TemplateError(f"range can't iterate over {go_print(value)}")
        if not items:
            self.walk(node.else_body, dot)
            return
        mark = len(self.vars)
        for key, elem in items:
            if len(pipe.decl) == 1:
                self.vars.append((pipe.decl[0], elem))
            elif len(pipe.decl) == 2:
                self.vars.append((pipe.decl[0], key))
                self.vars.append((pipe.decl[1], elem))
            try:
                self.walk(node.body, elem)
            except _Continue:
                pass
            except _Break:
                break
            finally:
                del self.vars[mark:]

    def lookup(self, name: str) -> Any:
        for var, value in reversed(self.vars):
            if var == name:
                return value
        raise TemplateError(f"undefined variable: {name}")

    def eval_pipe(self, pipe: Pipe, dot: Any) -> Any:
        value: Any = None
        for i, cmd in enumerate(pipe.cmds):
            value = self.eval_command(cmd.args, dot, value, has_final=i > 0)
        if pipe.decl:
            if pipe.is_assign:
                for n in range(len(self.vars) - 1, -1, -1):
                    if self.vars[n][0] == pipe.decl[0]:
                        self.vars[n] = (pipe.decl[0], value)
                        break
                else:
                    raise TemplateError(f"undefined variable: {pipe.decl[0]}")
            else:
                self.vars.append((pipe.decl[0], value))
        return value

    def eval_command(self, args: list[Any], dot: Any, final: Any, has_final: bool) -> Any:
        first = args[0]
        if isinstance(first, Identifier):
            return self.call(first.name, args[1:], dot, final, has_final)
        if len(args) > 1 or has_final:
            raise TemplateError("can't give argument to non-function")
        return self.eval_arg(first, dot)

    def call(self, name: str, args: list[Any], dot: Any, final: Any, has_final: bool) -> Any:
        if name in ("and", "or"):
            if not args and not has_final:
                raise TemplateError(f"{name}: missing arguments")
            value: Any = None
            for arg in args:
                value = self.eval_arg(arg, dot)
                if truth(value) != (name == "and"):
                    return value
            return final if has_final else value
        values = [self.eval_arg(a, dot) for a in args]
        if has_final:
            values.append(final)
        try:
            return FUNCS[name](*values)
        except TypeError:
            raise TemplateError(f"wrong number of arguments for {name}: {len(values)}") from None

    def eval_arg(self, node: Any, dot: Any) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Dot):
            return dot
        if isinstance(node, Field):
            return self.fields(dot, node.ident)
        if isinstance(node, Variable):
            return self.fields(self.lookup(node.name), node.ident)
        if isinstance(node, Pipe):
            return self.eval_pipe(node, dot)
        if isinstance(node, Chain):
            return self.fields(self.eval_pipe(node.node, dot), node.ident)
        if isinstance(node, Identifier):
            return self.call(node.name, [], dot, None, False)
        raise TemplateError(f"can't evaluate {type(node).__name__}")

    def fields(self, value: Any, ident: list[str]) -> Any:
        for name in ident:
            if value is None:
                return None
            if isinstance(value, GoJSON | GoStruct):
                value = value.field(name)
            elif isinstance(value, dict):
                value = value.get(name)
            else:
                raise TemplateError(f"can't evaluate field {name} in type {type(value).__name__}")
        return value
