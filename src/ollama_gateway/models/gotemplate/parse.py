"""Lexer and parser for the subset of Go's ``text/template`` that Ollama model templates use.

Supported: text, ``{{ pipeline }}``, ``{{- `` / `` -}}`` trimming, ``{{/* comments */}}``,
``if / else if / else with / else / end``, ``range`` (with ``$i, $x :=``), ``with``,
``break`` / ``continue``, variables (``$x := ...``, ``$x = ...``, ``$``, ``$x.Field``),
fields (``.A.B``), parenthesised pipelines with field chains, ``|`` pipes, string (interpreted
and raw), number, character, ``true`` / ``false`` / ``nil`` literals and the functions in
``FUNCTIONS``. ``define``, ``template`` and ``block`` raise :class:`TemplateError`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

FUNCTIONS = frozenset(
    {
        "and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index", "slice",
        "print", "printf", "println", "json", "html", "urlquery", "js", "currentDate",
    }
)  # fmt: skip
_KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue"}
_UNSUPPORTED = {"define", "template", "block", "call"}
_SPACE = " \t\r\n"


class TemplateError(ValueError):
    """A template that is not valid, or uses a construct this renderer does not support."""


# --- nodes ------------------------------------------------------------------------------------
@dataclass(slots=True)
class Text:
    text: str


@dataclass(slots=True)
class Field:
    ident: list[str]  # .A.B -> ["A", "B"]


@dataclass(slots=True)
class Dot:
    pass


@dataclass(slots=True)
class Variable:
    name: str  # "$" or "$x"
    ident: list[str] = field(default_factory=list)  # $x.A.B -> ["A", "B"]


@dataclass(slots=True)
class Identifier:
    name: str  # a function name


@dataclass(slots=True)
class Literal:
    value: Any


@dataclass(slots=True)
class Chain:
    node: Any  # a parenthesised Pipe
    ident: list[str]


@dataclass(slots=True)
class Command:
    args: list[Any]


@dataclass(slots=True)
class Pipe:
    cmds: list[Command]
    decl: list[str] = field(default_factory=list)
    is_assign: bool = False


@dataclass(slots=True)
class Action:
    pipe: Pipe


@dataclass(slots=True)
class Branch:
    kind: str  # "if", "range", "with"
    pipe: Pipe
    body: list[Any]
    else_body: list[Any] = field(default_factory=list)


@dataclass(slots=True)
class Break:
    pass


@dataclass(slots=True)
class Continue:
    pass


# --- lexer ------------------------------------------------------------------------------------
_NUMBER_RE = re.compile(
    r"[+-]?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+"
    r"|(\d[\d_]*(\.\d*)?|\.\d+)([eE][+-]?\d+)?)"
)
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELDS_RE = re.compile(r"(\.[A-Za-z_][A-Za-z0-9_]*)+")
_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", '"': '"', "'": "'",
}  # fmt: skip


def _unquote(body: str, pos: int) -> str:
    out: list[str] = []
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out.append(c)
            i += 1
            continue
        nxt = body[i + 1 : i + 2]
        if nxt in _ESCAPES:
            out.append(_ESCAPES[nxt])
            i += 2
        elif nxt in ("x", "u", "U"):
            width = {"x": 2, "u": 4, "U": 8}[nxt]
            digits = body[i + 2 : i + 2 + width]
            if len(digits) != width or not all(d in "0123456789abcdefABCDEF" for d in digits):
                raise TemplateError(f"bad escape in string at offset {pos}")
            out.append(chr(int(digits, 16)))
            i += 2 + width
        elif nxt.isdigit():
            out.append(chr(int(body[i + 1 : i + 4], 8)))
            i += 4
        else:
            raise TemplateError(f"unknown escape \\{nxt} in string at offset {pos}")
    return "".join(out)


def _parse_number(text: str, pos: int) -> int | float:
    clean = text.replace("_", "")
    try:
        if re.fullmatch(r"[+-]?0[xXoObB].*", clean):
            return int(clean, 0)
        if re.fullmatch(r"[+-]?\d+", clean):
            return int(clean)
        return float(clean)
    except ValueError:
        raise TemplateError(f"bad number {text!r} at offset {pos}") from None


def _lex_action(src: str, pos: int) -> tuple[list[tuple[str, Any]], int, bool]:
    """Tokens of the action starting at ``pos``; returns (tokens, end offset, trim right)."""
    tokens: list[tuple[str, Any]] = []
    n = len(src)
    while True:
        start = pos
        while pos < n and src[pos] in _SPACE:
            pos += 1
        if pos >= n:
            raise TemplateError("unclosed action: missing }}")
        if src.startswith("-}}", pos) and pos > start:
            return tokens, pos + 3, True
        if src.startswith("}}", pos):
            return tokens, pos + 2, False
        c = src[pos]
        after_paren = bool(tokens) and tokens[-1][0] == "rparen" and pos == start
        if c == '"':
            end = pos + 1
            while end < n and src[end] != '"':
                if src[end] == "\n":
                    raise TemplateError(f"unterminated string at offset {pos}")
                end += 2 if src[end] == "\\" else 1
            if end >= n:
                raise TemplateError(f"unterminated string at offset {pos}")
            tokens.append(("string", _unquote(src[pos + 1 : end], pos)))
            pos = end + 1
        elif c == "`":
            end = src.find("`", pos + 1)
            if end < 0:
                raise TemplateError(f"unterminated raw string at offset {pos}")
            tokens.append(("string", src[pos + 1 : end]))
            pos = end + 1
        elif c == "'":
            end = src.find("'", pos + 1)
            if end < 0:
                raise TemplateError(f"unterminated character constant at offset {pos}")
            value = _unquote(src[pos + 1 : end], pos)
            if len(value) != 1:
                raise TemplateError(f"bad character constant at offset {pos}")
            tokens.append(("number", ord(value)))
            pos = end + 1
        elif c == "(":
            tokens.append(("lparen", None))
            pos += 1
        elif c == ")":
            tokens.append(("rparen", None))
            pos += 1
        elif c == "|" and not src.startswith("||", pos):
            tokens.append(("pipe", None))
            pos += 1
        elif c == ",":
            tokens.append(("comma", None))
            pos += 1
        elif src.startswith(":=", pos):
            tokens.append(("declare", None))
            pos += 2
        elif c == "=" and not src.startswith("==", pos):
            tokens.append(("assign", None))
            pos += 1
        elif c == "$":
            m = _IDENT_RE.match(src, pos + 1)
            name = "$" + (m.group(0) if m else "")
            pos = m.end() if m else pos + 1
            fields = _FIELDS_RE.match(src, pos)
            ident = fields.group(0)[1:].split(".") if fields else []
            pos = fields.end() if fields else pos
            tokens.append(("variable", (name, ident)))
        elif c == "." and _FIELDS_RE.match(src, pos):
            m = _FIELDS_RE.match(src, pos)
            assert m is not None
            tokens.append(("chain" if after_paren else "field", m.group(0)[1:].split(".")))
            pos = m.end()
        elif c == "." and not (pos + 1 < n and src[pos + 1].isdigit()):
            tokens.append(("dot", None))
            pos += 1
        elif (m := _NUMBER_RE.match(src, pos)) and (c.isdigit() or c in "+-."):
            tokens.append(("number", _parse_number(m.group(0), pos)))
            pos = m.end()
        elif m := _IDENT_RE.match(src, pos):
            word = m.group(0)
            if word in ("true", "false"):
                tokens.append(("bool", word == "true"))
            elif word == "nil":
                tokens.append(("nil", None))
            else:
                tokens.append(("ident", word))
            pos = m.end()
        else:
            raise TemplateError(f"unexpected {c!r} in action at offset {pos}")


def _lex(src: str) -> list[tuple[str, Any]]:
    """Split a template into ("text", str) and ("action", tokens) items, trimming applied."""
    items: list[tuple[str, Any]] = []
    pos = 0
    trim_next = False
    while True:
        i = src.find("{{", pos)
        text = src[pos:] if i < 0 else src[pos:i]
        if trim_next:
            text = text.lstrip(_SPACE)
        if i < 0:
            if text:
                items.append(("text", text))
            return items
        j = i + 2
        if src.startswith("-", j) and j + 1 < len(src) and src[j + 1] in _SPACE:
            text = text.rstrip(_SPACE)
            j += 1
        if text:
            items.append(("text", text))
        k = j
        while k < len(src) and src[k] in _SPACE:
            k += 1
        if src.startswith("/*", k):
            end = src.find("*/", k + 2)
            if end < 0:
                raise TemplateError(f"unclosed comment at offset {i}")
            pos = end + 2
            m = re.compile(r"[ \t\r\n]+-}}|}}").match(src, pos)
            if not m:
                raise TemplateError(f"comment ends without }} at offset {i}")
            trim_next = m.group(0) != "}}"
            pos = m.end()
            continue
        tokens, pos, trim_next = _lex_action(src, j)
        if not tokens:
            raise TemplateError(f"missing value in empty action at offset {i}")
        items.append(("action", tokens))


# --- parser -----------------------------------------------------------------------------------
class _Parser:
    def __init__(self, items: list[tuple[str, Any]]) -> None:
        self.items = items
        self.pos = 0

    def parse(self) -> list[Any]:
        nodes, term = self.parse_list()
        if term is not None:
            raise TemplateError(f"unexpected {{{{ {term[0]} }}}}")
        return nodes

    def parse_list(self) -> tuple[list[Any], tuple[str, list[Any]] | None]:
        """Nodes up to an ``end`` or ``else`` (returned as the terminator) or the end."""
        nodes: list[Any] = []
        while self.pos < len(self.items):
            kind, value = self.items[self.pos]
            self.pos += 1
            if kind == "text":
                nodes.append(Text(value))
                continue
            first_kind, first = value[0]
            if first_kind == "ident" and first in _UNSUPPORTED:
                raise TemplateError(f'"{first}" is not supported in model templates')
            if first_kind == "ident" and first in _KEYWORDS:
                if first in ("end", "else"):
                    return nodes, (first, value[1:])
                if first in ("break", "continue"):
                    if len(value) != 1:
                        raise TemplateError(f"unexpected arguments to {first}")
                    nodes.append(Break() if first == "break" else Continue())
                    continue
                nodes.append(self.parse_branch(first, value[1:]))
                continue
            nodes.append(Action(parse_pipe(value)))
        return nodes, None

    def parse_branch(self, kind: str, tokens: list[tuple[str, Any]]) -> Branch:
        if not tokens:
            raise TemplateError(f"missing pipeline in {kind}")
        pipe = parse_pipe(tokens, allow_two=(kind == "range"))
        body, term = self.parse_list()
        if term is None:
            raise TemplateError(f"unexpected end of template: {kind} has no {{{{ end }}}}")
        node = Branch(kind, pipe, body)
        word, rest = term
        if word == "end":
            if rest:
                raise TemplateError("unexpected arguments to end")
            return node
        if rest and rest[0] in (("ident", "if"), ("ident", "with")):
            node.else_body = [self.parse_branch(rest[0][1], rest[1:])]
            return node
        if rest:
            raise TemplateError("unexpected arguments to else")
        node.else_body, term = self.parse_list()
        if term is None or term[0] != "end" or term[1]:
            raise TemplateError(f"expected {{{{ end }}}} after the else of {kind}")
        return node


def _split(tokens: list[tuple[str, Any]], sep: str) -> list[list[tuple[str, Any]]]:
    parts: list[list[tuple[str, Any]]] = [[]]
    depth = 0
    for token in tokens:
        if token[0] == "lparen":
            depth += 1
        elif token[0] == "rparen":
            depth -= 1
            if depth < 0:
                raise TemplateError("unexpected )")
        if token[0] == sep and depth == 0:
            parts.append([])
        else:
            parts[-1].append(token)
    if depth:
        raise TemplateError("unclosed (")
    return parts


def parse_pipe(tokens: list[tuple[str, Any]], allow_two: bool = False) -> Pipe:
    decl: list[str] = []
    is_assign = False
    for i, (kind, _v) in enumerate(tokens):
        if kind in ("declare", "assign"):
            names = _split(tokens[:i], "comma")
            if len(names) > (2 if allow_two else 1) or any(
                len(n) != 1 or n[0][0] != "variable" or n[0][1][1] for n in names
            ):
                raise TemplateError("bad variable declaration")
            decl = [n[0][1][0] for n in names]
            is_assign = kind == "assign"
            tokens = tokens[i + 1 :]
            break
        if kind not in ("variable", "comma"):
            break
    cmds = []
    for part in _split(tokens, "pipe"):
        if not part:
            raise TemplateError("missing command in pipeline")
        cmds.append(Command(_parse_operands(part)))
    return Pipe(cmds, decl, is_assign)


def _parse_operands(tokens: list[tuple[str, Any]]) -> list[Any]:
    args: list[Any] = []
    i = 0
    while i < len(tokens):
        kind, value = tokens[i]
        i += 1
        if kind == "lparen":
            depth, j = 1, i
            while depth:
                if j >= len(tokens):
                    raise TemplateError("unclosed (")
                depth += {"lparen": 1, "rparen": -1}.get(tokens[j][0], 0)
                j += 1
            node: Any = parse_pipe(tokens[i : j - 1])
            i = j
            if i < len(tokens) and tokens[i][0] == "chain":
                node = Chain(node, tokens[i][1])
                i += 1
            args.append(node)
        elif kind == "field":
            args.append(Field(value))
        elif kind == "variable":
            args.append(Variable(value[0], value[1]))
        elif kind == "dot":
            args.append(Dot())
        elif kind in ("string", "number", "bool", "nil"):
            args.append(Literal(value))
        elif kind == "ident":
            if value in _UNSUPPORTED:
                raise TemplateError(f'"{value}" is not supported in model templates')
            if value not in FUNCTIONS:
                raise TemplateError(f'function "{value}" not defined')
            args.append(Identifier(value))
        else:
            raise TemplateError(f"unexpected {kind} in command")
    return args


def parse_template(src: str) -> list[Any]:
    """Parse ``src`` into a list of nodes; raises :class:`TemplateError`."""
    return _Parser(_lex(src)).parse()


def identifiers(nodes: list[Any]) -> set[str]:
    """Lower-cased field and variable names used anywhere (Ollama's ``Template.Vars``)."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for n in node:
                walk(n)
        elif isinstance(node, Action):
            walk(node.pipe)
        elif isinstance(node, Branch):
            walk(node.pipe)
            walk(node.body)
            walk(node.else_body)
        elif isinstance(node, Pipe):
            for cmd in node.cmds:
                walk(cmd.args)
        elif isinstance(node, Field):
            names.update(i.lower() for i in node.ident)
        elif isinstance(node, Variable):
            names.add(node.name.lower())
            names.update(i.lower() for i in node.ident)

    walk(nodes)
    return names
