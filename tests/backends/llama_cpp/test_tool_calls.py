"""The tool plan of a request: the format read off the template, the grammar for its
``tool_choice``, a prompt that opens the call itself, and chunks turned into calls."""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest

from ollama_gateway.backends.llama_cpp.tool_calls import plan_tools, with_tool_calls
from ollama_gateway.core.types import Chunk, GenerationRequest, Message
from ollama_gateway.models.store import ResolvedModel
from tests.support.gguf_models import chatml_caller_template, chatml_tools_template

TOOLS = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]


def request(**extra) -> GenerationRequest:
    return GenerationRequest(
        model="m", kind="chat", messages=[Message("user", "hi")], tools=TOOLS, **extra
    )


def resolved(template: str | None) -> ResolvedModel:
    return ResolvedModel(
        name="m",
        model_path=Path("/nonexistent.gguf"),  # no GGUF chat template: the Go one decides
        digest="sha256:" + "0" * 64,
        size=0,
        modified_at=datetime.now(timezone.utc),
        template=template,
    )


def test_the_plan_follows_the_template_and_the_choice():
    plan = plan_tools(request(), resolved(chatml_tools_template()))
    assert plan.format.name == "hermes" and plan.grammar.trigger == "<tool_call>"
    forced = plan_tools(request(tool_choice="required"), resolved(chatml_tools_template()))
    assert forced.grammar.trigger is None and forced.grammar.text.startswith("root ::= tool-call")
    llama = plan_tools(request(), resolved('{{ .Tools }} {"name": x, "parameters": y}'))
    assert (llama.format.name, llama.format.args_key, llama.grammar.trigger) == (
        "json",
        "parameters",
        "",
    )
    assert plan_tools(GenerationRequest(model="m"), resolved(None)) is None


def test_a_prompt_that_ends_with_the_marker_opens_the_call():
    plan = plan_tools(request(), resolved(chatml_caller_template()))
    assert plan.opened_by("<|im_start|>assistant\n<tool_call>\n") == "<tool_call>\n"
    assert plan.opened_by("<|im_start|>assistant\n") == ""
    assert plan.opened_by("say <tool_call> then") == ""
    after = plan.after_marker()
    assert after.trigger is None and after.text.startswith("root ::= [ \\n]{0,2} call")


@pytest.mark.parametrize("opened", ["", "<tool_call>\n"])
async def test_chunks_become_text_and_calls(opened):
    plan = plan_tools(request(), resolved(chatml_tools_template()))
    pieces = ['<tool_call>\n{"name": "f", ', '"arguments": {"a": 1}}\n</tool_', "call>", ""]
    if opened:
        pieces[0] = pieces[0].removeprefix(opened)

    async def chunks():
        yield Chunk(text="Sure. ") if not opened else Chunk(text="")
        for piece in pieces[:-1]:
            yield Chunk(text=piece)
        yield Chunk(done=True, done_reason="stop")

    out = [c async for c in with_tool_calls(chunks(), plan.parser(opened))]
    assert "".join(c.text for c in out) == ("" if opened else "Sure. ")
    calls = [call for c in out for call in c.tool_calls or []]
    assert [c["function"]["name"] for c in calls] == ["f"]
    assert calls[0]["function"]["arguments"] == {"a": 1}
    assert out[-1].done


async def test_closing_the_stream_closes_the_engine_side():
    """A client that leaves mid-call: the parser's stream closes the engine's at once (the
    engine cancels its sequence when its generator closes)."""
    plan = plan_tools(request(), resolved(chatml_tools_template()))
    closed = []

    async def chunks():
        try:
            yield Chunk(text="Let me check. ")
            while True:
                yield Chunk(text='<tool_call>\n{"name": ')  # held: an open call
        finally:
            closed.append(True)

    stream = with_tool_calls(chunks(), plan.parser())
    assert (await anext(stream)).text == "Let me check. "
    await stream.aclose()
    assert closed == [True]
