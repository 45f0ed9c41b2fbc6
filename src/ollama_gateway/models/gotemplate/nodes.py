"""The nodes of a parsed Go template (``parse.py`` builds them, ``execute.py`` walks them), the
error every stage raises, and :func:`identifiers` (the names a template uses).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class TemplateError(ValueError):
    """A template that is not valid, or uses a construct this renderer does not support."""


# --- nodes ------------------------------------------------------------------------------------
@dataclass(slots=True)
class Text:
    text: str


@dataclass(slots=True)
class Field:
    ident: list[str]  # .A.B -> ["A", "B"]


@dataclass(slots=True)
class Dot:
    pass


@dataclass(slots=True)
class Variable:
    name: str  # "$" or "$x"
    ident: list[str] = field(default_factory=list)  # $x.A.B -> ["A", "B"]


@dataclass(slots=True)
class Identifier:
    name: str  # a function name


@dataclass(slots=True)
class Literal:
    value: Any


@dataclass(slots=True)
class Chain:
    node: Any  # a parenthesised Pipe
    ident: list[str]


@dataclass(slots=True)
class Command:
    args: list[Any]


@dataclass(slots=True)
class Pipe:
    cmds: list[Command]
    decl: list[str] = field(default_factory=list)
    is_assign: bool = False


@dataclass(slots=True)
class Action:
    pipe: Pipe


@dataclass(slots=True)
class Branch:
    kind: str  # "if", "range", "with"
    pipe: Pipe
    body: list[Any]
    else_body: list[Any] = field(default_factory=list)


@dataclass(slots=True)
class Break:
    pass


@dataclass(slots=True)
class Continue:
    pass


def identifiers(nodes: list[Any]) -> set[str]:
    """Lower-cased field and variable names used anywhere (Ollama's ``Template.Vars``)."""
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for n in node:
                walk(n)
        elif isinstance(node, Action):
            walk(node.pipe)
        elif isinstance(node, Branch):
            walk(node.pipe)
            walk(node.body)
            walk(node.else_body)
        elif isinstance(node, Pipe):
            for cmd in node.cmds:
                walk(cmd.args)
        elif isinstance(node, Field):
            names.update(i.lower() for i in node.ident)
        elif isinstance(node, Variable):
            names.add(node.name.lower())
            names.update(i.lower() for i in node.ident)

    walk(nodes)
    return names
