"""Whitespace, containers, and any JSON value (``format: "json"``, ``{}``, free parts)."""

from __future__ import annotations

from ollama_gateway.grammar import numbers, text
from ollama_gateway.grammar.builder import Grammar
from ollama_gateway.grammar.gbnf import EMPTY, Expr, Ref, Rep, alt, chars, lit, seq

MAX_INDENT = 20


def ws(g: Grammar) -> Expr:
    """Optional whitespace: a space, or a newline and some indentation (bounded: a model
    cannot loop on it)."""
    newline = seq(lit("\n"), Rep(chars(" ", "\t"), 0, MAX_INDENT))
    return g.rule("ws", alt(lit(" "), newline, EMPTY))


def container(g: Grammar, open_: str, close: str, body: Expr, allow_empty: bool) -> Expr:
    """``open_ body close`` with whitespace where JSON writers put it; ``body`` is non-empty
    (the items and the commas between them)."""
    space = ws(g)
    inside = seq(body, space)
    if allow_empty:
        inside = g.optional("body", inside)
    return seq(lit(open_), space, inside, lit(close))


def following(g: Grammar, item: Expr) -> Expr:
    """``"," ws item``, one rule: what comes after the first item of a list."""
    return g.rule("next", seq(lit(","), ws(g), item))


def value(g: Grammar) -> Expr:
    """Any JSON value."""
    return Ref(_generic(g)[0])


def json_object(g: Grammar) -> Expr:
    """Any JSON object."""
    return Ref(_generic(g)[1])


def _generic(g: Grammar) -> tuple[str, str, str]:
    names = g.shared.get("value")
    if names is None:
        names = g.reserve("value"), g.reserve("object"), g.reserve("array")
        g.shared["value"] = names
        v, o, a = (Ref(n) for n in names)
        member = g.rule("member", seq(text.string(g), lit(":"), ws(g), v))
        for name, open_, close, item in ((names[1], "{", "}", member), (names[2], "[", "]", v)):
            more = g.repeat("more", following(g, item), 0, None)
            g.define(name, container(g, open_, close, seq(item, more), True))
        number = numbers.number(g, None, None)
        strings = text.string(g)
        g.define(names[0], alt(o, a, strings, number, lit("true"), lit("false"), lit("null")))
    return names
