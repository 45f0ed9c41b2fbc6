"""The parser for the subset of Go's ``text/template`` that Ollama model templates use.

Supported: text, ``{{ pipeline }}``, ``{{- `` / `` -}}`` trimming, ``{{/* comments */}}``,
``if / else if / else with / else / end``, ``range`` (with ``$i, $x :=``), ``with``,
``break`` / ``continue``, variables (``$x := ...``, ``$x = ...``, ``$``, ``$x.Field``),
fields (``.A.B``), parenthesised pipelines with field chains, ``|`` pipes, string (interpreted
and raw), number, character, ``true`` / ``false`` / ``nil`` literals and the functions in
``FUNCTIONS``. ``define``, ``template`` and ``block`` raise :class:`TemplateError`.

The tokens come from ``lex.py``; the nodes built are those of ``nodes.py``.
"""

from __future__ import annotations

from typing import Any

from ollama_gateway.models.gotemplate.lex import lex
from ollama_gateway.models.gotemplate.nodes import (
    Action,
    Branch,
    Break,
    Chain,
    Command,
    Continue,
    Dot,
    Field,
    Identifier,
    Literal,
    Pipe,
    TemplateError,
    Text,
    Variable,
)

FUNCTIONS = frozenset(
    {
        "and", "or", "not", "eq", "ne", "lt", "le", "gt", "ge", "len", "index", "slice",
        "print", "printf", "println", "json", "html", "urlquery", "js", "currentDate",
    }
)  # fmt: skip
_KEYWORDS = {"if", "else", "end", "range", "with", "break", "continue"}
_UNSUPPORTED = {"define", "template", "block", "call"}


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
    return _Parser(lex(src)).parse()
