"""The lexer of Go templates: text and actions, ``{{-``/``-}}`` trimming and comments applied,
each action split into tokens ``(kind, value)``.

Kinds: ``string``, ``number`` (character constants too), ``bool``, ``nil``, ``ident``,
``field`` (``.A.B``), ``chain`` (``.A`` right after a ``)``), ``variable`` (``$x.A``),
``dot``, ``lparen``, ``rparen``, ``pipe``, ``comma``, ``declare`` (``:=``), ``assign``.
"""

from __future__ import annotations

import re
from typing import Any

from ollama_gateway.models.gotemplate.nodes import TemplateError

Token = tuple[str, Any]

SPACE = " \t\r\n"
_NUMBER_RE = re.compile(
    r"[+-]?(0[xX][0-9a-fA-F_]+|0[oO][0-7_]+|0[bB][01_]+"
    r"|(\d[\d_]*(\.\d*)?|\.\d+)([eE][+-]?\d+)?)"
)
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_FIELDS_RE = re.compile(r"(\.[A-Za-z_][A-Za-z0-9_]*)+")
_COMMENT_END_RE = re.compile(r"[ \t\r\n]+-}}|}}")
_ESCAPES = {
    "a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
    "\\": "\\", '"': '"', "'": "'",
}  # fmt: skip


def lex(src: str) -> list[Token]:
    """Split a template into ("text", str) and ("action", tokens) items, trimming applied."""
    items: list[Token] = []
    pos = 0
    trim_next = False
    while True:
        i = src.find("{{", pos)
        text = src[pos:] if i < 0 else src[pos:i]
        if trim_next:
            text = text.lstrip(SPACE)
        if i < 0:
            if text:
                items.append(("text", text))
            return items
        j = i + 2
        if src.startswith("-", j) and j + 1 < len(src) and src[j + 1] in SPACE:
            text = text.rstrip(SPACE)
            j += 1
        if text:
            items.append(("text", text))
        k = j
        while k < len(src) and src[k] in SPACE:
            k += 1
        if src.startswith("/*", k):
            end = src.find("*/", k + 2)
            if end < 0:
                raise TemplateError(f"unclosed comment at offset {i}")
            m = _COMMENT_END_RE.match(src, end + 2)
            if not m:
                raise TemplateError(f"comment ends without }} at offset {i}")
            trim_next = m.group(0) != "}}"
            pos = m.end()
            continue
        tokens, pos, trim_next = _lex_action(src, j)
        if not tokens:
            raise TemplateError(f"missing value in empty action at offset {i}")
        items.append(("action", tokens))


def _lex_action(src: str, pos: int) -> tuple[list[Token], int, bool]:
    """Tokens of the action starting at ``pos``; returns (tokens, end offset, trim right)."""
    tokens: list[Token] = []
    n = len(src)
    while True:
        start = pos
        while pos < n and src[pos] in SPACE:
            pos += 1
        if pos >= n:
            raise TemplateError("unclosed action: missing }}")
        if src.startswith("-}}", pos) and pos > start:
            return tokens, pos + 3, True
        if src.startswith("}}", pos):
            return tokens, pos + 2, False
        after_paren = bool(tokens) and tokens[-1][0] == "rparen" and pos == start
        token, pos = _lex_token(src, pos, after_paren)
        tokens.append(token)


def _lex_token(src: str, pos: int, after_paren: bool) -> tuple[Token, int]:
    """The token at ``pos`` (not a space, not the action's end) and the offset after it."""
    c = src[pos]
    if c in "\"`'":
        return _lex_quoted(src, pos)
    symbol = _symbol(src, pos)
    if symbol is not None:
        return (symbol, None), pos + (2 if symbol == "declare" else 1)
    if c == "$":
        m = _IDENT_RE.match(src, pos + 1)
        name = "$" + (m.group(0) if m else "")
        pos = m.end() if m else pos + 1
        fields = _FIELDS_RE.match(src, pos)
        ident = fields.group(0)[1:].split(".") if fields else []
        return ("variable", (name, ident)), fields.end() if fields else pos
    if c == ".":
        if m := _FIELDS_RE.match(src, pos):
            return ("chain" if after_paren else "field", m.group(0)[1:].split(".")), m.end()
        if not (pos + 1 < len(src) and src[pos + 1].isdigit()):
            return ("dot", None), pos + 1
    if (m := _NUMBER_RE.match(src, pos)) and (c.isdigit() or c in "+-."):
        return ("number", _parse_number(m.group(0), pos)), m.end()
    if m := _IDENT_RE.match(src, pos):
        word = m.group(0)
        if word in ("true", "false"):
            return ("bool", word == "true"), m.end()
        if word == "nil":
            return ("nil", None), m.end()
        return ("ident", word), m.end()
    raise TemplateError(f"unexpected {c!r} in action at offset {pos}")


def _symbol(src: str, pos: int) -> str | None:
    """The punctuation token at ``pos`` (``||`` and ``==`` are none: Go has no such operators)."""
    c = src[pos]
    if c == "(":
        return "lparen"
    if c == ")":
        return "rparen"
    if c == "|" and not src.startswith("||", pos):
        return "pipe"
    if c == ",":
        return "comma"
    if src.startswith(":=", pos):
        return "declare"
    if c == "=" and not src.startswith("==", pos):
        return "assign"
    return None


def _lex_quoted(src: str, pos: int) -> tuple[Token, int]:
    """An interpreted string, a raw string or a character constant (a number, as in Go)."""
    c, n = src[pos], len(src)
    if c == '"':
        end = pos + 1
        while end < n and src[end] != '"':
            if src[end] == "\n":
                raise TemplateError(f"unterminated string at offset {pos}")
            end += 2 if src[end] == "\\" else 1
        if end >= n:
            raise TemplateError(f"unterminated string at offset {pos}")
        return ("string", _unquote(src[pos + 1 : end], pos)), end + 1
    end = src.find(c, pos + 1)
    if c == "`":
        if end < 0:
            raise TemplateError(f"unterminated raw string at offset {pos}")
        return ("string", src[pos + 1 : end]), end + 1
    if end < 0:
        raise TemplateError(f"unterminated character constant at offset {pos}")
    value = _unquote(src[pos + 1 : end], pos)
    if len(value) != 1:
        raise TemplateError(f"bad character constant at offset {pos}")
    return ("number", ord(value)), end + 1


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
