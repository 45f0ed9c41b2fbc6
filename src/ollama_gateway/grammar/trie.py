"""Sets of strings as prefix trees, so that the matcher follows one branch, not one per string.

``choice``: exactly one of the strings (enum values). ``excluding``: any key of raw characters
that is none of the strings (keys of additional properties, which must not repeat a declared
property; raw characters only, so an escape cannot spell a declared name another way).
"""

from __future__ import annotations

from typing import Any

from ollama_gateway.grammar.builder import Grammar
from ollama_gateway.grammar.gbnf import EMPTY, Chars, Expr, alt, lit, seq
from ollama_gateway.grammar.text import RAW

KEY_MAX = 64  # characters in a generated key of an additional property


def _build(strings: list[str]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for s in strings:
        node = root
        for c in s:
            node = node.setdefault(c, {})
        node[""] = True  # end marker (no real edge is the empty string)
    return root


def choice(g: Grammar, strings: list[str]) -> Expr:
    return _choice(g, _build(strings))


def _choice(g: Grammar, node: dict[str, Any]) -> Expr:
    options: list[Expr] = []
    for c, child in node.items():
        if c == "":
            options.append(EMPTY)
            continue
        text = c
        while len(child) == 1 and "" not in child:  # follow a chain of single children
            ((c, child),) = child.items()
            text += c
        options.append(seq(lit(text), _choice(g, child) if child != {"": True} else EMPTY))
    return g.atom("choice", alt(*options))


def excluding(g: Grammar, names: list[str]) -> Expr:
    """A quoted key of at most KEY_MAX raw characters that is not in ``names``."""
    raw = [n for n in names if len(n) <= KEY_MAX and all(_is_raw(c) for c in n)]
    tails = _tails(g)
    return seq(lit('"'), _excluding(g, _build(raw), tails, KEY_MAX), lit('"'))


def _tails(g: Grammar) -> list[Expr]:
    """tails[k]: up to k raw characters, as a chain of rules that share their ends."""
    tails: list[Expr] | None = g.shared.get("key-tails")
    if tails is None:
        tails = [EMPTY]
        for k in range(1, KEY_MAX):
            tails.append(g.rule(f"key-tail-{k}", alt(seq(RAW, tails[-1]), EMPTY)))
        g.shared["key-tails"] = tails
    return tails


def _excluding(g: Grammar, node: dict[str, Any], tails: list[Expr], room: int) -> Expr:
    """The rest of a key of at most ``room`` more characters, having matched ``node``'s path."""
    children = [c for c in node if c]
    options: list[Expr] = []
    if room > 0:
        others = Chars(RAW.ranges + tuple((ord(c), ord(c)) for c in children), negated=True)
        options.append(seq(others, tails[room - 1]))
        for c in children:
            options.append(seq(lit(c), _excluding(g, node[c], tails, room - 1)))
    if "" not in node:
        options.append(EMPTY)  # this prefix is not a name: the key may end here
    return g.atom("key", alt(*options))


def _is_raw(c: str) -> bool:
    cp = ord(c)
    return not (cp <= 0x1F or cp == 0x7F or c in '"\\' or 0xD800 <= cp <= 0xDFFF)
