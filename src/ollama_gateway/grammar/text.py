"""JSON text: string characters as they may appear inside quotes, and literal values.

A character inside a generated string is never a raw control character (U+0000-U+001F, U+007F)
nor a lone surrogate: those only appear escaped. Each escape stands for exactly one character,
so ``minLength`` / ``maxLength`` count escapes right (``\\u`` escapes of surrogates, which would
pair up into one character, are not generated).
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ollama_gateway.grammar.builder import Grammar
from ollama_gateway.grammar.gbnf import Chars, Expr, Rep, alt, chars, lit, seq
from ollama_gateway.grammar.regex import Ranges, contains, normalize

_NOT_RAW = normalize([(0x00, 0x1F), (0x22, 0x22), (0x5C, 0x5C), (0x7F, 0x7F)])
RAW = Chars((*_NOT_RAW, (55296, 57343)), negated=True)
"""A character that may appear unescaped in a JSON string."""
HEX = chars((0x30, 0x39), (0x41, 0x46), (0x61, 0x66))
_SHORT = {0x08: "b", 0x09: "t", 0x0A: "n", 0x0C: "f", 0x0D: "r", 0x22: '"', 0x5C: "\\"}


def char(g: Grammar) -> Expr:
    """Any one character of a JSON string: raw, or escaped (no surrogate escapes)."""
    not_d = chars((0x30, 0x39), (0x41, 0x43), (0x45, 0x46), (0x61, 0x63), (0x65, 0x66))
    non_surrogate = alt(
        seq(not_d, Rep(HEX, 3, 3)), seq(chars("d", "D"), chars((0x30, 0x37)), Rep(HEX, 2, 2))
    )
    named = chars('"', "\\", "/", "b", "f", "n", "r", "t")
    escape = seq(lit("\\"), alt(named, seq(lit("u"), g.atom("hex4", non_surrogate))))
    return g.rule("char", alt(RAW, escape))


def string(g: Grammar) -> Expr:
    """Any JSON string."""
    return g.rule("string", seq(lit('"'), g.repeat("chars", char(g), 0, None), lit('"')))


def encode(g: Grammar, ranges: Ranges) -> Expr:
    """One character out of ``ranges`` as it is written inside a JSON string.

    Printable characters are written raw; quote, backslash and control characters escaped.
    """
    raw = _subtract(ranges, _NOT_RAW)
    options: list[Expr] = [Chars(raw)] if raw else []
    specials = [cp for cp in (0x22, 0x5C) if contains(ranges, cp)]
    controls = [cp for cp in [*range(0x20), 0x7F] if contains(ranges, cp)]
    for cp in specials + controls:
        options.append(lit("\\" + _SHORT[cp] if cp in _SHORT else f"\\u{cp:04x}"))
    return g.atom("pchar", alt(*options))


def _subtract(ranges: Ranges, remove: Ranges) -> Ranges:
    out: list[tuple[int, int]] = []
    for lo, hi in ranges:
        pieces = [(lo, hi)]
        for r_lo, r_hi in remove:
            nxt = []
            for a, b in pieces:
                if r_hi < a or r_lo > b:
                    nxt.append((a, b))
                    continue
                if a < r_lo:
                    nxt.append((a, r_lo - 1))
                if r_hi < b:
                    nxt.append((r_hi + 1, b))
            pieces = nxt
        out.extend(pieces)
    return normalize(out)


def json_text(value: Any) -> str:
    """The JSON text of ``value``: compact, raw non-ASCII, escaped controls, DEL, surrogates."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError("not a JSON value")
    if isinstance(value, str):
        return '"' + _SPECIAL.sub(lambda m: _string_char(m.group()), value) + '"'
    if isinstance(value, list):
        return "[" + ",".join(json_text(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json_text(k)}:{json_text(v)}" for k, v in value.items()) + "}"
    return json.dumps(value)


_SPECIAL = re.compile('[\x00-\x1f"\\\\\x7f\ud800-\udfff]')


def _string_char(c: str) -> str:
    cp = ord(c)
    if cp in _SHORT:
        return "\\" + _SHORT[cp]
    if cp <= 0x1F or cp == 0x7F or 0xD800 <= cp <= 0xDFFF:
        return f"\\u{cp:04x}"
    return c
