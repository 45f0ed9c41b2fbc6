"""A grammar that makes a tool call valid by construction: one of the request's tools, by
name, with arguments that satisfy its ``parameters`` schema, in the model's call format.

- ``tool_choice: "required"`` (or one named function): the whole reply is the call(s),
  constrained from the first token (:attr:`ToolGrammar.trigger` is None).
- ``auto``: the model writes what it likes until it opens a call; from the call's marker on
  (``<tool_call>``, ``[TOOL_CALLS]``), or from the first character of a ``json`` reply when
  that is ``{``, the rest is constrained: a lazy grammar, whose start rule is what follows the
  marker (the sampler does the waiting: backends/llama_cpp/sampling.py).

The arguments' grammar comes from the JSON-schema converter (``ollama_gateway.grammar``), so
its keyword table (docs/api.md) says what is enforced, and its limits bound every schema; the
rules of every tool share one grammar, bounded as a whole.
"""

from __future__ import annotations

from dataclasses import dataclass

from ollama_gateway.grammar.builder import Grammar
from ollama_gateway.grammar.compile import Compiler
from ollama_gateway.grammar.errors import SchemaError
from ollama_gateway.grammar.gbnf import Expr, Rep, alt, chars, lit, seq
from ollama_gateway.grammar.limits import DEFAULT_LIMITS
from ollama_gateway.grammar.schema import Normalizer
from ollama_gateway.grammar.text import json_text
from ollama_gateway.tools.definitions import MAX_PARALLEL_CALLS, ToolChoice, ToolSpec
from ollama_gateway.tools.formats import ToolFormat

# The converter's own bounds, for every schema and for the grammar of all tools together (the
# engine checks the text once more: backends/llama_cpp/grammar_check.py).
LIMITS = DEFAULT_LIMITS


@dataclass(frozen=True, slots=True)
class ToolGrammar:
    """GBNF text, and the marker it waits for: None = from the first token, "" = the start of
    the reply if it opens with a call, else the text that opens a call."""

    text: str
    trigger: str | None


def tool_grammar(
    specs: list[ToolSpec], fmt: ToolFormat, choice: ToolChoice, *, parallel: bool = False
) -> ToolGrammar:
    """The grammar for calls of ``specs`` (only ``choice.name`` when it names one) in ``fmt``.

    Blocking (schemas compile here); SchemaError (400) naming the tool whose schema cannot be
    enforced or is over a limit.
    """
    g = Grammar(LIMITS)
    chosen = [s for s in specs if choice.name is None or s.name == choice.name]
    call = g.rule("call", alt(*(_call(g, spec, fmt, i) for i, spec in enumerate(chosen))))
    most = MAX_PARALLEL_CALLS if parallel and fmt.name != "json" else 1
    lazy = not choice.forced
    if fmt.name == "hermes":
        one = g.rule("tool-call", seq(lit(fmt.markers[0] + "\n"), call, lit("\n" + fmt.close)))
        more = g.repeat("more-calls", seq(lit("\n"), one), 0, most - 1)
        after = seq(Rep(chars(" ", "\n"), 0, 2), call, lit("\n" + fmt.close))
        first = after if lazy else one
        return ToolGrammar(g.finish(seq(first, more)), fmt.trigger if lazy else None)
    if fmt.name == "mistral":
        more = g.repeat("more-calls", seq(lit(", "), call), 0, most - 1)
        calls = seq(lit("["), call, more, lit("]"))
        root = calls if lazy else seq(lit(fmt.markers[0]), calls)
        return ToolGrammar(g.finish(root), fmt.trigger if lazy else None)
    if lazy:  # json: the reply is a call when its first visible character opens one
        return ToolGrammar(g.finish(seq(Rep(chars(" ", "\n"), 0, 4), call)), "")
    return ToolGrammar(g.finish(call), None)


def _call(g: Grammar, spec: ToolSpec, fmt: ToolFormat, index: int) -> Expr:
    parameters = spec.parameters
    if "type" not in parameters:
        parameters = {**parameters, "type": "object"}
    elif parameters["type"] != "object":
        raise SchemaError(f"tools[{index}] ({spec.name}): parameters must describe an object")
    try:
        normalizer = Normalizer(parameters, LIMITS)
        arguments = Compiler(normalizer, g).expr(normalizer.node(parameters, (), 0))
    except SchemaError as exc:
        raise SchemaError(f"tools[{index}] ({spec.name}) parameters: {exc.message}") from None
    except RecursionError:
        raise SchemaError(f"tools[{index}] ({spec.name}): parameters nested too deeply") from None
    head = '{"name": ' + json_text(spec.name) + ', "' + fmt.args_key + '": '
    return seq(lit(head), arguments, lit("}"))
