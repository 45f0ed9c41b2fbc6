"""Executes templates parsed by :mod:`._gotmpl_parse` with Go's ``text/template`` semantics.

Go semantics kept: truthiness (empty and zero values are false), ``and`` / ``or`` evaluate lazily
and return an operand, ``eq`` takes several operands, ``len`` of a string counts bytes, map keys
print and range in sorted order, variables are scoped to their block, ``$`` is the root data.
Values and functions live in :mod:`._gotmpl_values` and :mod:`._gotmpl_funcs`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from typing import Any

from ollama_gateway.models.gotemplate.funcs import FUNCS
from ollama_gateway.models.gotemplate.nodes import (
    Action,
    Branch,
    Break,
    Chain,
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
from ollama_gateway.models.gotemplate.values import (
    GoJSON,
    GoStruct,
    go_print,
    truth,
    wrap_json,
)

__all__ = ["Budget", "Cancelled", "Executor", "GoJSON", "GoStruct"]

# Bounds on one render (every turn of a legacy template together). A model's template rendering
# a chat of thousands of messages takes a few hundred thousand steps and well under a second.
MAX_OUTPUT = 4 * 1024 * 1024  # characters written, and the longest string a function may build
MAX_STEPS = 1_000_000  # nodes walked, range iterations and function calls
MAX_SECONDS = 10.0  # wall-clock time
_CHECK_EVERY = 1024  # steps between two looks at the clock and the cancel flag


class Cancelled(Exception):
    """The render was cancelled (its request went away)."""


class Budget:
    """What one render may still spend: steps, output characters, time; and its cancel flag.

    Shared by every :class:`Executor` of a render; not thread-safe (one render, one thread).
    """

    __slots__ = ("_next_check", "cancel", "deadline", "output", "steps")

    def __init__(
        self,
        *,
        steps: int = MAX_STEPS,
        output: int = MAX_OUTPUT,
        seconds: float = MAX_SECONDS,
        cancel: threading.Event | None = None,
    ) -> None:
        self.steps = steps
        self.output = output
        self.deadline = time.monotonic() + seconds
        self.cancel = cancel
        self._next_check = steps - _CHECK_EVERY

    def step(self) -> None:
        self.steps -= 1
        if self.steps < self._next_check:
            self._next_check = self.steps - _CHECK_EVERY
            if self.steps < 0:
                raise TemplateError(f"the template took more than {MAX_STEPS} steps")
            if self.cancel is not None and self.cancel.is_set():
                raise Cancelled
            if time.monotonic() > self.deadline:
                raise TemplateError(f"the template took longer than {MAX_SECONDS:g} seconds")

    def write(self, size: int) -> None:
        self.output -= size
        if self.output < 0:
            raise TemplateError(f"the template output is longer than {MAX_OUTPUT} characters")


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Executor:
    """Runs a parsed template against ``data`` (the root, ``$``)."""

    def __init__(self, data: Any, budget: Budget | None = None) -> None:
        self.root = data
        self.vars: list[tuple[str, Any]] = [("$", data)]
        self.out: list[str] = []
        self.budget = budget or Budget()

    def run(self, nodes: list[Any]) -> str:
        try:
            self.walk(nodes, self.root)
        except (_Break, _Continue):
            raise TemplateError("break or continue outside range") from None
        return "".join(self.out)

    def write(self, text: str) -> None:
        self.budget.write(len(text))
        self.out.append(text)

    def walk(self, nodes: list[Any], dot: Any) -> None:
        step = self.budget.step
        for node in nodes:
            step()
            if isinstance(node, Text):
                self.write(node.text)
            elif isinstance(node, Action):
                value = self.eval_pipe(node.pipe, dot)
                if not node.pipe.decl:
                    self.write(go_print(value))
            elif isinstance(node, Branch):
                mark = len(self.vars)
                try:
                    if node.kind == "range":
                        self.run_range(node, dot)
                    else:
                        value = self.eval_pipe(node.pipe, dot)
                        if truth(value):
                            self.walk(node.body, value if node.kind == "with" else dot)
                        else:
                            self.walk(node.else_body, dot)
                finally:
                    del self.vars[mark:]
            elif isinstance(node, Break):
                raise _Break
            elif isinstance(node, Continue):
                raise _Continue

    def run_range(self, node: Branch, dot: Any) -> None:
        pipe = node.pipe
        value = self.eval_pipe(Pipe(pipe.cmds), dot)
        items: Iterable[tuple[Any, Any]]
        if isinstance(value, GoJSON) and isinstance(value.value, dict | list):
            items = value.items()
            empty = not items
        elif value is None:
            items, empty = (), True
        elif isinstance(value, dict):
            items = [(k, wrap_json(value[k])) for k in sorted(value)]
            empty = not items
        elif isinstance(value, list | tuple):
            items = [(i, wrap_json(v)) for i, v in enumerate(value)]
            empty = not items
        elif isinstance(value, int) and not isinstance(value, bool):
            items = ((i, i) for i in range(value))  # lazily: never a list of N pairs
            empty = value <= 0
        else:
            raise TemplateError(f"range can't iterate over {go_print(value)}")
        if empty:
            self.walk(node.else_body, dot)
            return
        mark = len(self.vars)
        step = self.budget.step
        for key, elem in items:
            step()
            if len(pipe.decl) == 1:
                self.vars.append((pipe.decl[0], elem))
            elif len(pipe.decl) == 2:
                self.vars.append((pipe.decl[0], key))
                self.vars.append((pipe.decl[1], elem))
            try:
                self.walk(node.body, elem)
            except _Continue:
                pass
            except _Break:
                break
            finally:
                del self.vars[mark:]

    def lookup(self, name: str) -> Any:
        for var, value in reversed(self.vars):
            if var == name:
                return value
        raise TemplateError(f"undefined variable: {name}")

    def eval_pipe(self, pipe: Pipe, dot: Any) -> Any:
        value: Any = None
        for i, cmd in enumerate(pipe.cmds):
            value = self.eval_command(cmd.args, dot, value, has_final=i > 0)
        if pipe.decl:
            if pipe.is_assign:
                for n in range(len(self.vars) - 1, -1, -1):
                    if self.vars[n][0] == pipe.decl[0]:
                        self.vars[n] = (pipe.decl[0], value)
                        break
                else:
                    raise TemplateError(f"undefined variable: {pipe.decl[0]}")
            else:
                self.vars.append((pipe.decl[0], value))
        return value

    def eval_command(self, args: list[Any], dot: Any, final: Any, has_final: bool) -> Any:
        first = args[0]
        if isinstance(first, Identifier):
            return self.call(first.name, args[1:], dot, final, has_final)
        if len(args) > 1 or has_final:
            raise TemplateError("can't give argument to non-function")
        return self.eval_arg(first, dot)

    def call(self, name: str, args: list[Any], dot: Any, final: Any, has_final: bool) -> Any:
        if name in ("and", "or"):
            if not args and not has_final:
                raise TemplateError(f"{name}: missing arguments")
            value: Any = None
            for arg in args:
                value = self.eval_arg(arg, dot)
                if truth(value) != (name == "and"):
                    return value
            return final if has_final else value
        self.budget.step()
        values = [self.eval_arg(a, dot) for a in args]
        if has_final:
            values.append(final)
        try:
            result = FUNCS[name](*values)
        except TypeError:
            raise TemplateError(f"wrong number of arguments for {name}: {len(values)}") from None
        if isinstance(result, str) and len(result) > MAX_OUTPUT:
            raise TemplateError(f"{name} built a string longer than {MAX_OUTPUT} characters")
        return result

    def eval_arg(self, node: Any, dot: Any) -> Any:
        if isinstance(node, Literal):
            return node.value
        if isinstance(node, Dot):
            return dot
        if isinstance(node, Field):
            return self.fields(dot, node.ident)
        if isinstance(node, Variable):
            return self.fields(self.lookup(node.name), node.ident)
        if isinstance(node, Pipe):
            return self.eval_pipe(node, dot)
        if isinstance(node, Chain):
            return self.fields(self.eval_pipe(node.node, dot), node.ident)
        if isinstance(node, Identifier):
            return self.call(node.name, [], dot, None, False)
        raise TemplateError(f"can't evaluate {type(node).__name__}")

    def fields(self, value: Any, ident: list[str]) -> Any:
        for name in ident:
            if value is None:
                return None
            if isinstance(value, GoJSON | GoStruct):
                value = value.field(name)
            elif isinstance(value, dict):
                value = value.get(name)
            else:
                raise TemplateError(f"can't evaluate field {name} in type {type(value).__name__}")
        return value
