"""The part of ECMA-262 regular expressions (JSON Schema's ``pattern``) that a grammar can enforce.

Supported: literals and escapes (``\\n \\t \\xHH \\uHHHH \\cX``, escaped punctuation), ``.``,
classes (``[...]``, ``[^...]``, ranges, ``\\d \\w \\s`` and their negations), groups
(``(...)``, ``(?:...)``, ``(?<name>...)``), alternation, the quantifiers ``* + ? {n} {n,}
{n,m}`` (lazy or not: the set of matching strings is the same), and ``^`` / ``$`` at the start /
end of a top-level alternative. Refused: backreferences, lookaround, word boundaries, Unicode
property escapes, anchors anywhere else, and a repeated part that can match the empty string.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from ollama_gateway.grammar.errors import SchemaError, pointer

MAX_CP = 0x10FFFF
SURROGATES = (0xD800, 0xDFFF)
Ranges = tuple[tuple[int, int], ...]
Node = Union["RChars", "RSeq", "RAlt", "RRep", "RAnchor"]


@dataclass(frozen=True, slots=True)
class RChars:
    ranges: Ranges  # sorted, disjoint, no surrogates


@dataclass(frozen=True, slots=True)
class RSeq:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class RAlt:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class RRep:
    item: Node
    min: int
    max: int | None


@dataclass(frozen=True, slots=True)
class RAnchor:
    kind: str  # "^" or "$"


def normalize(ranges: list[tuple[int, int]] | Ranges) -> Ranges:
    """Sorted, merged ranges with the surrogate block cut out."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        for a, b in _cut_surrogates(lo, hi):
            if out and a <= out[-1][1] + 1:
                out[-1] = (out[-1][0], max(out[-1][1], b))
            else:
                out.append((a, b))
    return tuple(out)


def _cut_surrogates(lo: int, hi: int) -> list[tuple[int, int]]:
    s_lo, s_hi = SURROGATES
    if hi < s_lo or lo > s_hi:
        return [(lo, hi)]
    return [r for r in ((lo, s_lo - 1), (s_hi + 1, hi)) if r[0] <= r[1]]


def complement(ranges: Ranges) -> Ranges:
    out, start = [], 0
    for lo, hi in ranges:
        if lo > start:
            out.append((start, lo - 1))
        start = hi + 1
    if start <= MAX_CP:
        out.append((start, MAX_CP))
    return normalize(out)


def contains(ranges: Ranges, cp: int) -> bool:
    return any(lo <= cp <= hi for lo, hi in ranges)


DIGIT = normalize([(0x30, 0x39)])
WORD = normalize([(0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A)])
_SPACES = "\t\n\v\f\r \u00a0\u1680\u2028\u2029\u202f\u205f\u3000\ufeff"
SPACE = normalize([(ord(c), ord(c)) for c in _SPACES] + [(0x2000, 0x200A)])
DOT = complement(normalize([(0x0A, 0x0A), (0x0D, 0x0D), (0x2028, 0x2029)]))
ANY = complement(())
_CLASS_ESCAPES = {"d": DIGIT, "w": WORD, "s": SPACE}
_CHAR_ESCAPES = {"n": 0x0A, "r": 0x0D, "t": 0x09, "f": 0x0C, "v": 0x0B}
_SYNTAX = set("^$\\.*+?()[]{}|/-")


class _Parser:
    def __init__(self, source: str, path: tuple[str | int, ...], max_repeat: int) -> None:
        self.s = source
        self.i = 0
        self.path = path
        self.max_repeat = max_repeat

    def fail(self, why: str) -> SchemaError:
        return SchemaError(
            f'JSON schema keyword "pattern" at {pointer(self.path)} is not supported: {why}'
        )

    def peek(self) -> str:
        return self.s[self.i] if self.i < len(self.s) else ""

    def parse(self) -> Node:
        node = self.alternatives(0)
        if self.i < len(self.s):
            raise self.fail("unbalanced ')'")
        return node

    def alternatives(self, depth: int) -> Node:
        if depth > 32:
            raise self.fail("groups nested too deeply")
        items = [self.sequence(depth)]
        while self.peek() == "|":
            self.i += 1
            items.append(self.sequence(depth))
        return items[0] if len(items) == 1 else RAlt(tuple(items))

    def sequence(self, depth: int) -> Node:
        items: list[Node] = []
        while self.peek() not in ("", "|", ")"):
            items.append(self.quantified(self.atom(depth)))
        return items[0] if len(items) == 1 else RSeq(tuple(items))

    def atom(self, depth: int) -> Node:
        c = self.s[self.i]
        self.i += 1
        if c == "(":
            return self.group(depth)
        if c == "[":
            return RChars(self.char_class())
        if c == ".":
            return RChars(DOT)
        if c in "^$":
            return RAnchor(c)
        if c == "\\":
            return RChars(self.escape(in_class=False))
        if c in "*+?":
            raise self.fail(f"nothing to repeat before '{c}'")
        if c == "{" and self.counts(self.i - 1) is not None:
            raise self.fail("nothing to repeat before '{'")
        return RChars(normalize([(ord(c), ord(c))]))

    def group(self, depth: int) -> Node:
        if self.s.startswith("?:", self.i):
            self.i += 2
        elif self.s.startswith("?<", self.i) and self.s[self.i + 2 : self.i + 3] not in "=!":
            end = self.s.find(">", self.i)
            if end < 0:
                raise self.fail("unterminated group name")
            self.i = end + 1
        elif self.peek() == "?":
            raise self.fail("lookaround and other (?...) groups")
        node = self.alternatives(depth + 1)
        if self.peek() != ")":
            raise self.fail("missing ')'")
        self.i += 1
        return node

    def counts(self, at: int) -> tuple[int, int | None, int] | None:
        """``{n}``, ``{n,}`` or ``{n,m}`` at ``at``: (min, max, end), else None (a literal)."""
        end = self.s.find("}", at)
        if end < 0:
            return None
        body = self.s[at + 1 : end]
        lo, comma, hi = body.partition(",")
        if not lo.isdigit() or not (hi.isdigit() or hi == "") or not lo.isascii():
            return None
        if not hi.isascii():
            return None
        high = int(hi) if hi else (None if comma else int(lo))
        return int(lo), high, end + 1

    def quantified(self, node: Node) -> Node:
        c = self.peek()
        if c in ("*", "+", "?"):
            lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
            self.i += 1
        elif c == "{" and (found := self.counts(self.i)) is not None:
            lo, hi, self.i = found
        else:
            return node
        if self.peek() == "?":
            self.i += 1  # lazy: the same strings match
        if self.peek() in ("*", "+", "?") or (
            self.peek() == "{" and self.counts(self.i) is not None
        ):
            raise self.fail("a quantifier cannot follow a quantifier")
        if isinstance(node, RAnchor):
            raise self.fail("a quantified anchor")
        largest = max(lo, hi or 0)
        if largest > self.max_repeat:
            raise SchemaError(
                f'JSON schema keyword "pattern" at {pointer(self.path)}: the count {largest} '
                f"is over the limit of {self.max_repeat}"
            )
        if hi is not None and hi < lo:
            raise self.fail(f"{{{lo},{hi}}} is out of order")
        if (hi is None or hi > 1) and min_length(node) == 0:
            raise self.fail("a repeated part that can match the empty string")
        return RRep(node, lo, hi)

    def char_class(self) -> Ranges:
        negated = self.peek() == "^"
        if negated:
            self.i += 1
        ranges: list[tuple[int, int]] = []
        while True:
            c = self.peek()
            if c == "":
                raise self.fail("unterminated character class")
            if c == "]":
                self.i += 1
                break
            first = self.class_atom()
            if self.peek() == "-" and self.s[self.i + 1 : self.i + 2] not in ("]", ""):
                self.i += 1
                last = self.class_atom()
                if len(first) != 1 or len(last) != 1 or first[0][0] != first[0][1]:
                    raise self.fail("a class escape as the end of a range")
                if last[0][0] != last[0][1] or last[0][0] < first[0][0]:
                    raise self.fail("a range out of order")
                ranges.append((first[0][0], last[0][0]))
            else:
                ranges.extend(first)
        result = normalize(ranges)
        return complement(result) if negated else result

    def class_atom(self) -> Ranges:
        c = self.s[self.i]
        self.i += 1
        if c == "\\":
            return self.escape(in_class=True)
        return ((ord(c), ord(c)),)

    def escape(self, *, in_class: bool) -> Ranges:
        c = self.peek()
        if not c:
            raise self.fail("a trailing backslash")
        self.i += 1
        if c.lower() in _CLASS_ESCAPES:
            base = _CLASS_ESCAPES[c.lower()]
            return complement(base) if c.isupper() else base
        if c in _CHAR_ESCAPES:
            return _one(_CHAR_ESCAPES[c])
        if c == "b" and in_class:
            return _one(0x08)
        if c == "0" and not self.peek().isdigit():
            return _one(0)
        if c in "xu":
            size = 2 if c == "x" else 4
            digits = self.s[self.i : self.i + size]
            if len(digits) == size and all(d in "0123456789abcdefABCDEF" for d in digits):
                self.i += size
                cp = int(digits, 16)
                if SURROGATES[0] <= cp <= SURROGATES[1]:
                    raise self.fail("a surrogate code point")
                return _one(cp)
            raise self.fail(f"the escape \\{c} without {size} hex digits")
        if c == "c" and self.peek().isascii() and self.peek().isalpha():
            self.i += 1
            return _one(ord(self.s[self.i - 1]) % 32)
        if c in _SYNTAX or not (c.isalnum() or c == "_"):
            return _one(ord(c))
        if c.isdigit():
            raise self.fail(f"backreferences (\\{c})")
        names = {
            "b": "word boundaries",
            "B": "word boundaries",
            "p": "Unicode property escapes",
            "P": "Unicode property escapes",
            "k": "named backreferences",
        }
        raise self.fail(f"{names.get(c, 'the escape')} (\\{c})")


def _one(cp: int) -> Ranges:
    return ((cp, cp),)


def parse(source: str, path: tuple[str | int, ...], max_repeat: int) -> Node:
    return _Parser(source, path, max_repeat).parse()


def min_length(node: Node) -> int:
    if isinstance(node, RChars):
        return 1
    if isinstance(node, RAnchor):
        return 0
    if isinstance(node, RSeq):
        return sum(min_length(item) for item in node.items)
    if isinstance(node, RAlt):
        return min(min_length(item) for item in node.items)
    return node.min * min_length(node.item)


def max_length(node: Node) -> float:
    if isinstance(node, RChars):
        return 1 if node.ranges else 0
    if isinstance(node, RAnchor):
        return 0
    if isinstance(node, RSeq):
        return sum(max_length(item) for item in node.items)
    if isinstance(node, RAlt):
        return max(max_length(item) for item in node.items)
    inner = max_length(node.item)
    if node.max is None:
        return float("inf") if inner else 0
    return node.max * inner


def branches(node: Node, path: tuple[str | int, ...]) -> list[tuple[bool, Node, bool]]:
    """The top-level alternatives as (anchored at start, body, anchored at end).

    Anchors anywhere but at the ends of a top-level alternative are refused.
    """
    while isinstance(node, RSeq) and len(node.items) == 1:
        node = node.items[0]
    out = []
    for item in node.items if isinstance(node, RAlt) else (node,):
        items = list(item.items) if isinstance(item, RSeq) else [item]
        start = end = False
        while items and items[0] == RAnchor("^"):
            items.pop(0)
            start = True
        while items and items[-1] == RAnchor("$"):
            items.pop()
            end = True
        body = items[0] if len(items) == 1 else RSeq(tuple(items))
        if _has_anchor(body):
            raise SchemaError(
                f'JSON schema keyword "pattern" at {pointer(path)} is not supported: '
                "an anchor inside the pattern"
            )
        out.append((start, body, end))
    return out


def _has_anchor(node: Node) -> bool:
    if isinstance(node, RAnchor):
        return True
    if isinstance(node, RSeq | RAlt):
        return any(_has_anchor(item) for item in node.items)
    if isinstance(node, RRep):
        return _has_anchor(node.item)
    return False


def to_python(node: Node) -> str:
    """The same language as a Python ``re`` pattern (for checking enum values)."""
    if isinstance(node, RChars):
        if not node.ranges:
            return "(?!)"
        body = "".join(_py(lo) + ("" if lo == hi else "-" + _py(hi)) for lo, hi in node.ranges)
        return f"[{body}]"
    if isinstance(node, RAnchor):
        return r"\A" if node.kind == "^" else r"\Z"
    if isinstance(node, RSeq):
        return "".join(to_python(item) for item in node.items)
    if isinstance(node, RAlt):
        return "(?:" + "|".join(to_python(item) for item in node.items) + ")"
    hi = "" if node.max is None else str(node.max)
    return f"(?:{to_python(node.item)}){{{node.min},{hi}}}"


def _py(cp: int) -> str:
    return f"\\U{cp:08X}"
