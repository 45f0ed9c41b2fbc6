"""A generation request made ready for the engine, in a worker thread: the prompt rendered
from the model's template, tokenized and checked against the context, and its sampler compiled
(with the tool-call grammar when tools constrain the output).

Nothing here runs on the event loop or the decode thread: a request that fails here fails alone.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, replace

from ollama_gateway.backends.llama_cpp.loaded import LoadedModel
from ollama_gateway.backends.llama_cpp.options import EngineOptions
from ollama_gateway.backends.llama_cpp.prompt import ModelPromptInfo, build_prompt
from ollama_gateway.backends.llama_cpp.sampling import Sampler
from ollama_gateway.backends.llama_cpp.text import stop_matcher
from ollama_gateway.backends.llama_cpp.tool_calls import ToolPlan
from ollama_gateway.core.types import GenerationRequest
from ollama_gateway.errors import BadRequest
from ollama_gateway.models.store import ResolvedModel

THINK_OPEN = "<think>"


@dataclass(slots=True)
class Prepared:
    """A request ready for the engine: its tokens, context limit and compiled sampler."""

    tokens: list[int]
    opened: str  # the reasoning opener the prompt ended with ("" if none)
    limit: int
    sampler: Sampler
    call_opened: str = ""  # the tool-call marker the prompt ended with ("" if none)

    def free(self) -> None:
        """Free the sampler of a request that went away before it was submitted."""
        self.sampler.free()


def prepare(
    loaded: LoadedModel,
    resolved: ResolvedModel,
    request: GenerationRequest,
    options: EngineOptions,
    tools: ToolPlan | None,
    cancel: threading.Event,
) -> Prepared:
    """Blocking: render the prompt, tokenize it, check it and compile its sampler.

    ``resolved`` is the model as the request named it: names sharing one loaded model may
    each have their own template and system prompt.

    Also returns the reasoning opener (``<think>`` and what follows it) when the template
    ended the prompt inside one (DeepSeek-R1's does): the output is then prefixed with it,
    so it reads as the model's own ``<think>...</think>`` as Ollama returns it; and the
    tool-call marker the prompt ended with (tool_calls.py): the call is then constrained
    from the first token.
    """
    engine = loaded.engine
    with loaded.lease() as model:
        context = request.context if request.kind == "generate" else None
        if context:
            engine.check_tokens(context, "context")
        info = ModelPromptInfo(
            name=resolved.name,
            go_template=resolved.template,
            chat_template=model.chat_template,
            system=resolved.system,
            bos_text=model.token_text(model.bos),
            eos_text=model.token_text(model.eos),
        )
        text = build_prompt(request, info, cancel)
        add_bos = not (info.bos_text and text.startswith(info.bos_text))
        tokens, exact = model.tokenize_upto(
            text, add_special=add_bos, parse_special=True, cancel=cancel, limit=engine.n_ctx
        )
        if context:
            tokens = list(context) + tokens
        if not tokens:
            raise BadRequest("the prompt is empty after applying the template")
        limit = engine.check_prompt(len(tokens), options.num_ctx, exact=exact)
        if options.sampling.stop:
            stop_matcher(options.sampling.stop)  # built here, not on the decode thread
        sampling = options.sampling
        call_opened = tools.opened_by(text) if tools is not None else ""
        if call_opened and tools is not None and tools.constrained:
            after = tools.after_marker()
            sampling = replace(sampling, grammar=after.text, grammar_trigger=None)
        sampler = engine.new_sampler(sampling, limit, tokens)
    opened = open_reasoning(text) if not request.raw else ""
    return Prepared(tokens, opened, limit, sampler, call_opened)


def constrain_calls(options: EngineOptions, tools: ToolPlan, request: GenerationRequest) -> None:
    """Put the tool grammar on the sampler. With a ``format`` grammar too, the format holds
    (calls are still parsed), unless a call is required: the two cannot both hold."""
    sampling = options.sampling
    if sampling.grammar is not None:
        if request.tool_choice == "required":
            raise BadRequest("a required tool call cannot be combined with a response format")
        tools.constrained = False
        return
    sampling.grammar = tools.grammar.text
    sampling.grammar_trigger = tools.grammar.trigger


def open_reasoning(prompt: str) -> str:
    """``<think>`` plus the whitespace after it when ``prompt`` ends inside a think block."""
    _, tag, tail = prompt.rpartition(THINK_OPEN)
    if tag and not tail.strip():
        return tag + tail
    return ""
