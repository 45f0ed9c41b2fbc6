"""The rule table a grammar is built in, and the checks it passes before it is rendered.

``finish`` makes the grammar safe to hand to llama.cpp: rules that can never complete are
pruned (so the model can never start something it cannot finish), left recursion is refused
(llama.cpp would refuse it), deep nesting is moved into rules of its own, and the size that
llama.cpp's parser will expand it to is checked against the limits.
"""

from __future__ import annotations

import re
from typing import Any

from ollama_gateway.grammar import gbnf
from ollama_gateway.grammar.errors import SchemaError
from ollama_gateway.grammar.gbnf import EMPTY, NEVER, Alt, Expr, Ref, Rep, Seq
from ollama_gateway.grammar.limits import Limits

BLOCK = 500  # the largest count in one x{m,n}: llama.cpp drops bounds over 2000
_MAX_NESTING = 6
_NAME = re.compile(r"[^a-zA-Z0-9]+")


class Grammar:
    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.rules: dict[str, Expr] = {}
        self.shared: dict[str, Any] = {}  # memo of rule families built once per grammar
        self._by_body: dict[Expr, str] = {}

    # -- rules --------------------------------------------------------------------------
    def reserve(self, hint: str) -> str:
        """A fresh rule name, to define later (for recursive rules)."""
        base = _NAME.sub("-", hint).strip("-").lower()[:32] or "r"
        name, n = base, 1
        while name in self.rules or name == "root":
            n += 1
            name = f"{base}-{n}"
        self.rules[name] = NEVER
        return name

    def define(self, name: str, body: Expr) -> Ref:
        self.rules[name] = body
        return Ref(name)

    def rule(self, hint: str, body: Expr) -> Expr:
        """A rule for ``body`` (the same body gets the same rule); atoms stay as they are."""
        if isinstance(body, Ref) or body in (EMPTY, NEVER):
            return body
        name = self._by_body.get(body)
        if name is None:
            name = self.reserve(hint)
            self.define(name, body)
            self._by_body[body] = name
        return Ref(name)

    def atom(self, hint: str, expr: Expr) -> Expr:
        return expr if gbnf.is_atom(expr) or expr in (EMPTY, NEVER) else self.rule(hint, expr)

    def optional(self, hint: str, expr: Expr) -> Expr:
        item = self.atom(hint, expr)
        if not gbnf.is_atom(item):  # EMPTY or NEVER: atom() gives nothing else
            return EMPTY
        return Rep(item, 0, 1)

    def repeat(self, hint: str, item: Expr, lo: int, hi: int | None) -> Expr:
        """``item`` ``lo`` to ``hi`` times, never more than BLOCK in one quantifier.

        Past BLOCK optional copies: ``opt(k) ::= item{BLOCK} opt(k - BLOCK) | item{0,BLOCK-1}``,
        which is unambiguous and keeps the rule count near BLOCK + k / BLOCK.
        """
        if hi is not None and hi < lo:
            return NEVER
        if hi == 0 or item == EMPTY:
            return EMPTY
        item = self.atom(hint, item)
        if item == NEVER:
            return EMPTY if lo == 0 else NEVER
        full, rest = divmod(lo, BLOCK)
        parts: list[Expr] = [_rep(item, BLOCK, BLOCK)] * full
        if hi is None:
            parts.append(_rep(item, rest, None))
        elif hi - lo + rest <= BLOCK:
            parts.append(_rep(item, rest, hi - lo + rest))
        else:
            parts.append(_rep(item, rest, rest))
            parts.append(self._optional_run(hint, item, hi - lo))
        return gbnf.seq(*parts)

    def _optional_run(self, hint: str, item: Expr, count: int) -> Expr:
        if count <= BLOCK:
            return _rep(item, 0, count)
        short = self.rule(f"{hint}-upto", _rep(item, 0, BLOCK - 1))
        rest = self._optional_run(hint, item, count - BLOCK)
        body = gbnf.alt(gbnf.seq(_rep(item, BLOCK, BLOCK), rest), short)
        return self.rule(f"{hint}-run", body)

    # -- output -------------------------------------------------------------------------
    def finish(self, root: Expr) -> str:
        """The grammar text with ``root`` as its start rule; SchemaError if it is unusable."""
        rules = dict(self.rules)
        rules["root"] = root
        alive: set[str] = set()
        changed = True
        while changed:
            changed = False
            for name, body in rules.items():
                if name not in alive and gbnf.productive(body, alive):
                    alive.add(name)
                    changed = True
        if "root" not in alive:
            raise SchemaError("the JSON schema matches no value that can be generated")
        rules = {name: gbnf.prune(body, alive) for name, body in rules.items() if name in alive}
        rules = _reachable(rules)
        _check_left_recursion(rules)
        rules = self._shallow(rules)
        self._check_size(rules)
        text = "".join(f"{name} ::= {gbnf.render(body)}\n" for name, body in rules.items())
        if len(text) > self.limits.max_bytes:
            raise SchemaError(
                f"the JSON schema is too large: its grammar has {len(text)} bytes "
                f"(limit {self.limits.max_bytes})"
            )
        return text

    def _shallow(self, rules: dict[str, Expr]) -> dict[str, Expr]:
        out: dict[str, Expr] = {}
        extra: dict[str, Expr] = {}

        def hoist(expr: Expr, level: int) -> Expr:
            if isinstance(expr, Seq):
                items: list[Expr] = []
                for item in expr.items:
                    if isinstance(item, Alt) and level >= _MAX_NESTING:
                        name = f"g{len(extra) + 1}"
                        while name in rules:
                            name += "x"
                        extra[name] = hoist(item, 0)
                        items.append(Ref(name))
                    else:
                        items.append(hoist(item, level + isinstance(item, Alt)))
                return Seq(tuple(items))
            if isinstance(expr, Alt):
                return Alt(tuple(hoist(item, level) for item in expr.items))
            return expr

        for name, body in rules.items():
            out[name] = hoist(body, 0)
        out.update(extra)
        return out

    def _check_size(self, rules: dict[str, Expr]) -> None:
        n_rules = n_elements = 0
        for body in rules.values():
            r, e = gbnf.expansion(body)
            n_rules, n_elements = n_rules + r + 1, n_elements + e + 1
        if n_rules > self.limits.max_rules:
            raise SchemaError(
                f"the JSON schema is too large: its grammar needs {n_rules} rules "
                f"(limit {self.limits.max_rules})"
            )
        if n_elements > self.limits.max_elements:
            raise SchemaError(
                f"the JSON schema is too large: its grammar needs {n_elements} elements "
                f"(limit {self.limits.max_elements})"
            )


def _rep(item: Expr, lo: int, hi: int | None) -> Expr:
    if hi == 0:
        return EMPTY
    if lo == hi == 1:
        return item
    return Rep(item, lo, hi)  # type: ignore[arg-type]


def _reachable(rules: dict[str, Expr]) -> dict[str, Expr]:
    seen = {"root"}
    todo = ["root"]
    while todo:
        for name in gbnf.refs(rules[todo.pop()]):
            if name not in seen:
                seen.add(name)
                todo.append(name)
    ordered = ["root"] + [name for name in rules if name in seen and name != "root"]
    return {name: rules[name] for name in ordered}


def _check_left_recursion(rules: dict[str, Expr]) -> None:
    """Refuse a rule that can reach itself before matching a character (llama.cpp would)."""
    empty: set[str] = set()
    changed = True
    while changed:
        changed = False
        for name, body in rules.items():
            if name not in empty and gbnf.nullable(body, empty):
                empty.add(name)
                changed = True
    edges = {name: set(gbnf.leading_refs(body, empty)) for name, body in rules.items()}
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for start in rules:
        if state.get(start):
            continue
        stack = [(start, iter(edges[start]))]
        state[start] = 1
        while stack:
            node, it = stack[-1]
            nxt = next(it, None)
            if nxt is None:
                state[node] = 2
                stack.pop()
            elif state.get(nxt) == 1:
                raise SchemaError(
                    "the JSON schema refers to itself ($ref) without any value in between"
                )
            elif not state.get(nxt):
                state[nxt] = 1
                stack.append((nxt, iter(edges[nxt])))
