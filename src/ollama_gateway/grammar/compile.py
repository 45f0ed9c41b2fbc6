"""Checked schema nodes into grammar expressions.

Objects keep the order of ``properties``: each property in turn, the required ones always, the
optional ones or not, commas only between what is there; then additional properties, when the
schema asks for them. Arrays: the ``prefixItems`` in order, then ``items`` up to the counts.
"""

from __future__ import annotations

from fractions import Fraction

from ollama_gateway.grammar import formats, numbers, text, trie, values
from ollama_gateway.grammar import regex as regexes
from ollama_gateway.grammar.builder import Grammar
from ollama_gateway.grammar.errors import invalid
from ollama_gateway.grammar.gbnf import EMPTY, NEVER, Expr, Ref, alt, lit, seq
from ollama_gateway.grammar.nodes import NEVER as NEVER_NODE
from ollama_gateway.grammar.nodes import (
    AnyNode,
    ArrayNode,
    ConstNode,
    LiteralTypeNode,
    Node,
    NumberNode,
    ObjectNode,
    Path,
    RefNode,
    StringNode,
    UnionNode,
)
from ollama_gateway.grammar.schema import Normalizer


class Compiler:
    def __init__(self, normalizer: Normalizer, g: Grammar) -> None:
        self.norm = normalizer
        self.g = g
        self._refs: dict[str, str] = {}

    def expr(self, node: Node, path: Path = ()) -> Expr:
        if isinstance(node, RefNode):
            return self.ref(node)
        if isinstance(node, AnyNode):
            return values.value(self.g)
        if isinstance(node, ConstNode):
            return trie.choice(self.g, [text.json_text(v) for v in node.values])
        if isinstance(node, UnionNode):
            return self.g.atom("any-of", alt(*(self.expr(a, path) for a in node.alts)))
        if isinstance(node, StringNode):
            return self.string(node, path)
        if isinstance(node, NumberNode):
            return self.number(node, path)
        if isinstance(node, LiteralTypeNode):
            return {"boolean": alt(lit("true"), lit("false")), "null": lit("null")}[node.type]
        if isinstance(node, ObjectNode):
            return self.object(node, path)
        if isinstance(node, ArrayNode):
            return self.array(node, path)
        return NEVER

    def ref(self, node: RefNode) -> Expr:
        name = self._refs.get(node.key)
        if name is None:
            name = self.g.reserve("ref-" + node.key.rsplit("/", 1)[-1])
            self._refs[node.key] = name
            target = self.norm.target(node.key)
            self.g.define(name, self.expr(target, node.path))
        return Ref(name)

    # -- scalars ------------------------------------------------------------------------
    def string(self, node: StringNode, path: Path) -> Expr:
        g = self.g
        if node.format is not None:
            body = formats.FORMATS[node.format](g)
        elif node.pattern is not None:
            body = self.pattern(node.pattern[1], path)
        else:
            body = g.repeat("chars", text.char(g), node.min_length, node.max_length)
        return g.atom("string", seq(lit('"'), body, lit('"')))

    def pattern(self, ast: regexes.Node, path: Path) -> Expr:
        g = self.g
        anything = g.repeat("chars", text.char(g), 0, None)
        options = []
        for start, body, end in regexes.branches(ast, path):
            head = EMPTY if start else anything
            tail = EMPTY if end else anything
            options.append(seq(head, self._regex(body), tail))
        return g.atom("pattern", alt(*options))

    def _regex(self, node: regexes.Node) -> Expr:
        g = self.g
        if isinstance(node, regexes.RChars):
            return text.encode(g, node.ranges) if node.ranges else NEVER
        if isinstance(node, regexes.RSeq):
            return seq(*(self._regex(item) for item in node.items))
        if isinstance(node, regexes.RAlt):
            return g.atom("pattern-alt", alt(*(self._regex(item) for item in node.items)))
        if isinstance(node, regexes.RRep):
            return g.repeat("pattern-rep", self._regex(node.item), node.min, node.max)
        return EMPTY  # anchors were taken off by branches()

    def number(self, node: NumberNode, path: Path) -> Expr:
        try:
            if node.integer:
                lo, hi = numbers.integer_bounds(
                    None if node.minimum is None else Fraction(node.minimum),
                    None if node.maximum is None else Fraction(node.maximum),
                    node.min_exclusive,
                    node.max_exclusive,
                )
                return numbers.integer(self.g, lo, hi)
            low = high = None
            if node.minimum is not None:
                low = numbers.decimal_bound(node.minimum, node.min_exclusive, True)
            if node.maximum is not None:
                high = numbers.decimal_bound(node.maximum, node.max_exclusive, False)
            return numbers.number(self.g, low, high)
        except numbers.BoundError as exc:
            keyword = "minimum" if node.minimum is not None else "maximum"
            raise invalid(keyword, path, f"cannot be enforced: {exc}") from None

    # -- containers ---------------------------------------------------------------------
    def object(self, node: ObjectNode, path: Path) -> Expr:
        g = self.g
        if node.generic and not node.min_properties:
            return values.json_object(g)
        space = values.ws(g)
        members: list[tuple[Expr, bool]] = []
        for prop in node.properties:
            if prop.node == NEVER_NODE:
                continue
            value = self.expr(prop.node, (*path, "properties", prop.name))
            member = seq(lit(text.json_text(prop.name)), lit(":"), space, value)
            members.append((g.atom("kv", member), prop.required))
        extra: Expr = EMPTY
        first_extra: Expr = NEVER
        if node.extra:
            key = trie.excluding(g, [p.name for p in node.properties])
            value = self.expr(node.additional, (*path, "additionalProperties"))
            first_extra = g.atom("extra-kv", seq(key, lit(":"), space, value))
            extra = g.repeat("extras", values.following(g, first_extra), 0, None)
        # rests[i]: what may follow once something was written, from property i on.
        rests: list[Expr] = [extra]
        for member, required in reversed(members):
            step = values.following(g, member)
            part = step if required else g.optional("opt", step)
            rests.insert(0, g.atom("rest", seq(part, rests[0])))
        options: list[Expr] = []
        for i, (member, required) in enumerate(members):
            options.append(seq(member, rests[i + 1]))
            if required:
                break
        else:
            options.append(seq(first_extra, extra))
        allow_empty = not any(r for _, r in members) and node.min_properties == 0
        body = g.atom("members", alt(*options))
        return g.atom("object", values.container(g, "{", "}", body, allow_empty))

    def array(self, node: ArrayNode, path: Path) -> Expr:
        g = self.g
        prefix: list[Expr] = []
        for i, item in enumerate(node.prefix):
            expr = self.expr(item, (*path, "prefixItems", i))
            if expr == NEVER:
                break
            prefix.append(expr)
        items = self.expr(node.items, (*path, "items"))
        high = node.max_items
        if items == NEVER or len(prefix) < len(node.prefix):
            high = len(prefix) if high is None else min(high, len(prefix))
        low = node.min_items
        if high is not None and low > high:
            return NEVER
        if high == 0:
            return lit("[]")

        def after(i: int) -> Expr:
            """The items after the first i (i >= 1)."""
            if i >= len(prefix):
                room = None if high is None else high - i
                return g.repeat("items", values.following(g, items), max(low - i, 0), room)
            if high is not None and i >= high:
                return EMPTY
            step = seq(values.following(g, prefix[i]), after(i + 1))
            return g.atom("tuple", step) if i < low else g.optional("tuple", step)

        first = prefix[0] if prefix else items
        body = g.atom("items", seq(first, after(1)))
        return g.atom("array", values.container(g, "[", "]", body, low == 0))
