"""Size limits every request meets before any work starts (docs/limits.md lists them all).

Counted on the neutral request, so every API family and every backend gets the same bounds:
how many messages, how much text (prompt, system, suffix and message contents together), how
large a client-supplied template, how many embedding inputs, how many and how large the tools
(``ollama_gateway.tools.definitions``). Each breach is a 400 naming the limit.
"""

from __future__ import annotations

from ollama_gateway.core.types import EmbedRequest, GenerationRequest
from ollama_gateway.errors import BadRequest
from ollama_gateway.settings import Settings
from ollama_gateway.tools.definitions import ToolChoice, check_tools

# A model's own templates are a few kilobytes; one sent with a request may not be larger than
# this. Its execution is bounded too (models/gotemplate/execute.py).
MAX_TEMPLATE_CHARS = 64 * 1024
# OpenAI's limit on inputs per embeddings request.
MAX_EMBED_INPUTS = 2048


def check_generation(request: GenerationRequest, settings: Settings) -> None:
    """BadRequest when ``request`` is over a size limit (cheap: no tokenizing, no rendering)."""
    if len(request.messages) > settings.max_messages:
        raise BadRequest(
            f"too many messages: {len(request.messages)} (the limit is {settings.max_messages})"
        )
    if request.template is not None and len(request.template) > MAX_TEMPLATE_CHARS:
        raise BadRequest(
            f"the template is {len(request.template)} characters long "
            f"(the limit is {MAX_TEMPLATE_CHARS})"
        )
    total = len(request.prompt) + len(request.system or "") + len(request.suffix or "")
    for message in request.messages:
        total += len(message.content) + len(message.thinking or "")
    _check_chars(total, settings.max_prompt_chars)
    if request.tools or request.tool_choice != "auto":
        check_tools(request.tools, ToolChoice(request.tool_choice, request.forced_tool))


def check_embedding(request: EmbedRequest, settings: Settings) -> None:
    """BadRequest when an embedding request has too many inputs or too much text."""
    if len(request.inputs) > MAX_EMBED_INPUTS:
        raise BadRequest(
            f"too many inputs: {len(request.inputs)} (the limit is {MAX_EMBED_INPUTS})"
        )
    _check_chars(sum(len(text) for text in request.inputs), settings.max_prompt_chars)


def _check_chars(total: int, limit: int) -> None:
    if total > limit:
        raise BadRequest(
            f"the request holds {total} characters of text (the limit is {limit}, max_prompt_chars)"
        )
