"""Random texts from a GBNF grammar, read from its text (independent of the converter's own
expression tree), to check that everything a grammar allows is valid."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from typing import Union

Node = Union["Lit", "Cls", "Sym", "Seq", "Alt", "Rep"]


@dataclass
class Lit:
    text: str


@dataclass
class Cls:
    ranges: list[tuple[int, int]]
    negated: bool

    def matches(self, cp: int) -> bool:
        return any(lo <= cp <= hi for lo, hi in self.ranges) != self.negated


@dataclass
class Sym:
    name: str


@dataclass
class Seq:
    items: list[Node]


@dataclass
class Alt:
    items: list[Node]


@dataclass
class Rep:
    item: Node
    min: int
    max: int | None


_ESC = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", '"': '"', "[": "[", "]": "]", "-": "-"}


class _Reader:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0

    def space(self, newlines: bool) -> None:
        while self.i < len(self.s) and self.s[self.i] in (" \t\r\n" if newlines else " \t"):
            self.i += 1

    def char(self) -> str:
        c = self.s[self.i]
        if c != "\\":
            self.i += 1
            return c
        kind = self.s[self.i + 1]
        size = {"x": 2, "u": 4, "U": 8}.get(kind)
        if size:
            value = int(self.s[self.i + 2 : self.i + 2 + size], 16)
            self.i += 2 + size
            return chr(value)
        self.i += 2
        return _ESC[kind]

    def alternatives(self, nested: bool) -> Node:
        items = [self.sequence(nested)]
        while self.i < len(self.s) and self.s[self.i] == "|":
            self.i += 1
            self.space(True)
            items.append(self.sequence(nested))
        return items[0] if len(items) == 1 else Alt(items)

    def sequence(self, nested: bool) -> Node:
        items: list[Node] = []
        while self.i < len(self.s):
            c = self.s[self.i]
            if c == '"':
                self.i += 1
                text = ""
                while self.s[self.i] != '"':
                    text += self.char()
                self.i += 1
                items.append(Lit(text))
            elif c == "[":
                self.i += 1
                negated = self.s[self.i] == "^"
                self.i += negated
                ranges = []
                while self.s[self.i] != "]":
                    lo = ord(self.char())
                    hi = lo
                    if self.s[self.i] == "-" and self.s[self.i + 1] != "]":
                        self.i += 1
                        hi = ord(self.char())
                    ranges.append((lo, hi))
                self.i += 1
                items.append(Cls(ranges, negated))
            elif c == "(":
                self.i += 1
                self.space(True)
                items.append(self.alternatives(True))
                assert self.s[self.i] == ")"
                self.i += 1
            elif re.match(r"[a-zA-Z0-9-]", c):
                m = re.compile(r"[a-zA-Z0-9-]+").match(self.s, self.i)
                items.append(Sym(m.group()))
                self.i = m.end()
            elif c in "*+?":
                lo, hi = {"*": (0, None), "+": (1, None), "?": (0, 1)}[c]
                items[-1] = Rep(items[-1], lo, hi)
                self.i += 1
            elif c == "{":
                m = re.compile(r"\{(\d+)(,(\d*))?\}").match(self.s, self.i)
                lo = int(m.group(1))
                hi = lo if m.group(2) is None else (int(m.group(3)) if m.group(3) else None)
                items[-1] = Rep(items[-1], lo, hi)
                self.i = m.end()
            else:
                break
            self.space(nested)
        return items[0] if len(items) == 1 else Seq(items)


def parse(text: str) -> dict[str, Node]:
    rules: dict[str, Node] = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        name, _, body = line.partition(" ::= ")
        reader = _Reader(body)
        rules[name] = reader.alternatives(False)
        assert reader.i == len(body), f"unparsed: {body[reader.i :]!r}"
    return rules


_POOL = [chr(c) for c in range(0x20, 0x7F)] + list(
    "\x00\x01\x08\t\n\r\x1f\x7féß中😀\u2028\u00a0\ue000\U0010fffd"
)


class Sampler:
    def __init__(self, text: str, seed: int = 0) -> None:
        self.rules = parse(text)
        self.rng = random.Random(seed)
        self.shortest = self._shortest()
        self._lens: dict[int, float] = {}
        self._pools: dict[int, list[str]] = {}

    def _min(self, node: Node) -> float:
        if id(node) not in self._lens:
            self._lens[id(node)] = self._len(node, self.shortest)
        return self._lens[id(node)]

    def _shortest(self) -> dict[str, float]:
        inf = float("inf")
        best = {name: inf for name in self.rules}
        changed = True
        while changed:
            changed = False
            for name, node in self.rules.items():
                n = self._len(node, best)
                if n < best[name]:
                    best[name], changed = n, True
        return best

    def _len(self, node: Node, best: dict[str, float]) -> float:
        if isinstance(node, Lit):
            return len(node.text)
        if isinstance(node, Cls):
            return 1
        if isinstance(node, Sym):
            return best[node.name]
        if isinstance(node, Seq):
            return sum(self._len(i, best) for i in node.items)
        if isinstance(node, Alt):
            return min(self._len(i, best) for i in node.items)
        return node.min * self._len(node.item, best) if node.min else 0

    def longest(self) -> float:
        """The most UTF-8 bytes an output can have (inf: unbounded or recursive)."""
        memo: dict[str, float] = {}

        def size(node: Node, active: frozenset[str]) -> float:
            if isinstance(node, Lit):
                return len(node.text.encode())
            if isinstance(node, Cls):
                if node.negated:
                    return 4
                return max(len(chr(hi).encode("utf-8", "surrogatepass")) for _, hi in node.ranges)
            if isinstance(node, Sym):
                if node.name in active:
                    return float("inf")
                if node.name not in memo:
                    memo[node.name] = size(self.rules[node.name], active | {node.name})
                return memo[node.name]
            if isinstance(node, Seq):
                return sum(size(i, active) for i in node.items)
            if isinstance(node, Alt):
                return max(size(i, active) for i in node.items)
            inner = size(node.item, active)
            return inner * node.max if node.max is not None else float("inf")

        return size(self.rules["root"], frozenset())

    def sample(self) -> str:
        out: list[str] = []
        self._gen(self.rules["root"], 0, out)
        return "".join(out)

    def _gen(self, node: Node, depth: int, out: list[str]) -> None:
        deep = depth > 12
        if isinstance(node, Lit):
            out.append(node.text)
        elif isinstance(node, Cls):
            if id(node) not in self._pools:
                self._pools[id(node)] = [c for c in _POOL if node.matches(ord(c))]
            choices = self._pools[id(node)]
            if (not choices or self.rng.random() < 0.1) and not node.negated:
                lo, hi = self.rng.choice(node.ranges)
                cp = self.rng.randint(lo, hi)
                if not (0xD800 <= cp <= 0xDFFF):
                    choices = [chr(cp)]
            if not choices:
                raise AssertionError(f"no character fits {node}")
            out.append(self.rng.choice(choices))
        elif isinstance(node, Sym):
            self._gen(self.rules[node.name], depth + 1, out)
        elif isinstance(node, Seq):
            for item in node.items:
                self._gen(item, depth, out)
        elif isinstance(node, Alt):
            items = node.items
            if deep:
                lens = [self._min(i) for i in items]
                items = [i for i, n in zip(items, lens, strict=False) if n == min(lens)]
            self._gen(self.rng.choice(items), depth + 1, out)
        else:
            hi = node.max if node.max is not None else node.min + 4
            if deep:
                count = node.min
            elif self.rng.random() < 0.2:
                count = min(hi, node.min + 40)
            else:
                count = self.rng.randint(node.min, min(hi, node.min + 4))
            for _ in range(count):
                self._gen(node.item, depth + 1, out)
