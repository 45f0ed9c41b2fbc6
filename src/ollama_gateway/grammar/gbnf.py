"""GBNF, llama.cpp's grammar format: a small expression tree and the text it renders to.

Expressions are immutable (so identical rule bodies are shared). A repetition only ever wraps a
literal, a character class or a rule reference: llama.cpp's parser then expands ``x{m,n}`` into
``n - m`` small rules, one per optional copy, chained by tail references (no parser or matcher
recursion), and its limit on repeated groups (2000 rules) never multiplies.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TypeGuard, Union

Expr = Union["Lit", "Chars", "Ref", "Seq", "Alt", "Rep"]


@dataclass(frozen=True, slots=True)
class Lit:
    """A literal string (the output text itself, not escaped); ``""`` matches nothing."""

    text: str


@dataclass(frozen=True, slots=True)
class Chars:
    """One code point out of ``ranges`` (inclusive pairs), or out of their complement."""

    ranges: tuple[tuple[int, int], ...]
    negated: bool = False


@dataclass(frozen=True, slots=True)
class Ref:
    name: str


@dataclass(frozen=True, slots=True)
class Seq:
    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Alt:
    """Alternatives; ``Alt(())`` matches nothing at all (see :data:`NEVER`)."""

    items: tuple[Expr, ...]


@dataclass(frozen=True, slots=True)
class Rep:
    """``item`` ``min`` to ``max`` times (``max`` None: unbounded); ``item`` is atomic."""

    item: Lit | Chars | Ref
    min: int
    max: int | None


EMPTY = Seq(())
NEVER = Alt(())


def lit(text: str) -> Expr:
    return Lit(text) if text else EMPTY


def chars(*ranges: tuple[int, int] | str, negated: bool = False) -> Chars:
    """A class from ``(lo, hi)`` pairs and single characters."""
    pairs = [(ord(r), ord(r)) if isinstance(r, str) else r for r in ranges]
    return Chars(tuple(pairs), negated)


def seq(*items: Expr) -> Expr:
    """A sequence, flattened, with adjacent literals joined; NEVER anywhere makes it NEVER."""
    out: list[Expr] = []
    for item in items:
        parts = item.items if isinstance(item, Seq) else (item,)
        for part in parts:
            if part == NEVER:
                return NEVER
            if out and isinstance(part, Lit) and isinstance(out[-1], Lit):
                out[-1] = Lit(out[-1].text + part.text)
            elif part != EMPTY:
                out.append(part)
    return out[0] if len(out) == 1 else Seq(tuple(out))


def alt(*items: Expr) -> Expr:
    """Alternatives, flattened and without duplicates; NEVER ones are dropped."""
    out = dict.fromkeys(
        part for item in items for part in (item.items if isinstance(item, Alt) else (item,))
    )
    return next(iter(out)) if len(out) == 1 else Alt(tuple(out))


def is_atom(expr: Expr) -> TypeGuard[Lit | Chars | Ref]:
    return isinstance(expr, Lit | Chars | Ref)


# -- analysis -------------------------------------------------------------------------------


def productive(expr: Expr, known: set[str]) -> bool:
    """Whether ``expr`` derives some finite text, given the rules in ``known`` do."""
    if isinstance(expr, Lit | Chars):
        return True
    if isinstance(expr, Ref):
        return expr.name in known
    if isinstance(expr, Seq):
        return all(productive(item, known) for item in expr.items)
    if isinstance(expr, Alt):
        return any(productive(item, known) for item in expr.items)
    return expr.min == 0 or productive(expr.item, known)


def nullable(expr: Expr, empty: set[str]) -> bool:
    """Whether ``expr`` can match the empty text, given the rules in ``empty`` can."""
    if isinstance(expr, Lit):
        return not expr.text
    if isinstance(expr, Chars):
        return False
    if isinstance(expr, Ref):
        return expr.name in empty
    if isinstance(expr, Seq):
        return all(nullable(item, empty) for item in expr.items)
    if isinstance(expr, Alt):
        return any(nullable(item, empty) for item in expr.items)
    return expr.min == 0 or nullable(expr.item, empty)


def prune(expr: Expr, alive: set[str]) -> Expr:
    """``expr`` without the references to rules outside ``alive`` (those that derive nothing)."""
    if isinstance(expr, Ref):
        return expr if expr.name in alive else NEVER
    if isinstance(expr, Seq):
        return seq(*(prune(item, alive) for item in expr.items))
    if isinstance(expr, Alt):
        return alt(*(prune(item, alive) for item in expr.items))
    if isinstance(expr, Rep):
        item = prune(expr.item, alive)
        if item == NEVER:
            return EMPTY if expr.min == 0 else NEVER
        return expr
    return expr


def refs(expr: Expr) -> list[str]:
    """The rule names ``expr`` refers to, in order."""
    if isinstance(expr, Ref):
        return [expr.name]
    if isinstance(expr, Seq | Alt):
        return [name for item in expr.items for name in refs(item)]
    if isinstance(expr, Rep):
        return refs(expr.item)
    return []


def leading_refs(expr: Expr, empty: set[str]) -> list[str]:
    """The rules ``expr`` can start with before it has matched any character."""
    if isinstance(expr, Ref):
        return [expr.name]
    if isinstance(expr, Alt):
        return [name for item in expr.items for name in leading_refs(item, empty)]
    if isinstance(expr, Rep):
        return leading_refs(expr.item, empty)
    if isinstance(expr, Seq):
        out: list[str] = []
        for item in expr.items:
            out.extend(leading_refs(item, empty))
            if not nullable(item, empty):
                break
        return out
    return []


def max_chars(expr: Expr, rules: dict[str, Expr], seen: frozenset[str] = frozenset()) -> float:
    """The most code points ``expr`` can match (``inf`` when unbounded or recursive)."""
    if isinstance(expr, Lit):
        return len(expr.text)
    if isinstance(expr, Chars):
        return 1
    if isinstance(expr, Ref):
        if expr.name in seen:
            return float("inf")
        return max_chars(rules[expr.name], rules, seen | {expr.name})
    if isinstance(expr, Seq):
        return sum(max_chars(item, rules, seen) for item in expr.items)
    if isinstance(expr, Alt):
        return max((max_chars(item, rules, seen) for item in expr.items), default=0)
    if expr.max is None:
        return float("inf")
    return expr.max * max_chars(expr.item, rules, seen) if expr.max else 0


# -- rendering ------------------------------------------------------------------------------


_PLAIN = re.compile(r"[ !#-\[\]-~]*")  # printable ASCII but " and \


def _char(cp: int, in_class: bool) -> str:
    if cp == 0x5C:
        return "\\\\"
    if cp == 0x22 and not in_class:
        return '\\"'
    if 0x20 <= cp < 0x7F and chr(cp) not in ('"[]-^' if in_class else '"'):
        return chr(cp)
    if cp == 0x0A:
        return "\\n"
    if cp < 0x100:
        return f"\\x{cp:02X}"
    if cp < 0x10000:
        return f"\\u{cp:04X}"
    return f"\\U{cp:08X}"


def render(expr: Expr, in_seq: bool = False) -> str:
    """GBNF text for ``expr`` (pure ASCII: everything else is escaped)."""
    if isinstance(expr, Lit):
        if _PLAIN.fullmatch(expr.text):
            return f'"{expr.text}"'
        return '"' + "".join(_char(ord(c), False) for c in expr.text) + '"'
    if isinstance(expr, Chars):
        body = "".join(
            _char(lo, True) if lo == hi else f"{_char(lo, True)}-{_char(hi, True)}"
            for lo, hi in expr.ranges
        )
        return f"[{'^' if expr.negated else ''}{body}]"
    if isinstance(expr, Ref):
        return expr.name
    if isinstance(expr, Rep):
        return render(expr.item) + _quantifier(expr.min, expr.max)
    if isinstance(expr, Seq):
        return " ".join(render(item, True) for item in expr.items) if expr.items else '""'
    if not expr.items:
        raise ValueError("an empty alternative cannot be rendered")
    text = " | ".join(render(item) for item in expr.items)
    return f"({text})" if in_seq else text


def _quantifier(lo: int, hi: int | None) -> str:
    if (lo, hi) == (0, 1):
        return "?"
    if hi is None:
        return {0: "*", 1: "+"}.get(lo, f"{{{lo},}}")
    return f"{{{lo}}}" if lo == hi else f"{{{lo},{hi}}}"


def expansion(expr: Expr) -> tuple[int, int]:
    """What llama.cpp's parser makes of ``expr``: (rules it creates, elements it stores)."""
    if isinstance(expr, Lit):
        return 0, len(expr.text)
    if isinstance(expr, Chars):
        return 0, 2 * len(expr.ranges) + 1
    if isinstance(expr, Ref):
        return 0, 1
    if isinstance(expr, Seq | Alt):
        rules = elements = 0
        for item in expr.items:
            r, e = expansion(item)
            rules, elements = rules + r, elements + e + 1
        return rules + (1 if isinstance(expr, Alt) else 0), elements
    _, size = expansion(expr.item)
    optional = 1 if expr.max is None else expr.max - expr.min
    return optional, size * max(expr.min, 1) + optional * (size + 3)


def to_regex(expr: Expr, rules: dict[str, Expr]) -> str:
    """A Python regular expression for a non-recursive ``expr`` (references inlined)."""
    if isinstance(expr, Lit):
        return "".join(f"\\U{ord(c):08X}" for c in expr.text)
    if isinstance(expr, Chars):
        body = "".join(
            f"\\U{lo:08X}" + ("" if lo == hi else f"-\\U{hi:08X}") for lo, hi in expr.ranges
        )
        return f"[{'^' if expr.negated else ''}{body}]"
    if isinstance(expr, Ref):
        return to_regex(rules[expr.name], rules)
    if isinstance(expr, Seq):
        return "".join(to_regex(item, rules) for item in expr.items)
    if isinstance(expr, Alt):
        return "(?:" + "|".join(to_regex(item, rules) for item in expr.items) + ")"
    hi = "" if expr.max is None else str(expr.max)
    return f"(?:{to_regex(expr.item, rules)}){{{expr.min},{hi}}}"


def min_chars(expr: Expr, rules: dict[str, Expr]) -> int:
    """The fewest code points a non-recursive ``expr`` matches."""
    if isinstance(expr, Lit):
        return len(expr.text)
    if isinstance(expr, Chars):
        return 1
    if isinstance(expr, Ref):
        return min_chars(rules[expr.name], rules)
    if isinstance(expr, Seq):
        return sum(min_chars(item, rules) for item in expr.items)
    if isinstance(expr, Alt):
        return min((min_chars(item, rules) for item in expr.items), default=0)
    return expr.min * min_chars(expr.item, rules)
