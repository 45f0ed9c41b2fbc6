"""Prompt building: raw, Ollama Go templates, GGUF Jinja chat templates, the fallback."""

from __future__ import annotations

import pytest

from ollama_gateway.backends.llama_cpp.prompt import ModelPromptInfo, build_prompt, render_jinja
from ollama_gateway.core.types import GenerationRequest, Message
from ollama_gateway.errors import BadRequest, Unsupported
from tests.support.gguf_models import TINY_CHAT_TEMPLATE, deepseek_template

BOS, EOS = "<｜begin▁of▁sentence｜>", "<｜end▁of▁sentence｜>"  # noqa: RUF001


def info(**values) -> ModelPromptInfo:
    base = {
        "name": "m",
        "go_template": None,
        "chat_template": TINY_CHAT_TEMPLATE,
        "system": None,
        "bos_text": "<s>",
        "eos_text": "</s>",
    }
    return ModelPromptInfo(**{**base, **values})


def chat(*messages, **extra) -> GenerationRequest:
    return GenerationRequest(
        model="m", kind="chat", messages=[Message(*m) for m in messages], **extra
    )


def test_jinja_chat_template_of_the_gguf():
    text = build_prompt(chat(("system", "Be brief."), ("user", "Hi")), info())
    assert text == "<s><|system|>Be brief.<|end|><|user|>Hi<|end|><|assistant|>"


def test_generate_wraps_the_prompt_in_the_chat_template_with_the_default_system():
    request = GenerationRequest(model="m", prompt="Hi")
    text = build_prompt(request, info(system="Sys"))
    assert text == "<s><|system|>Sys<|end|><|user|>Hi<|end|><|assistant|>"


def test_raw_prompt_goes_as_it_is():
    request = GenerationRequest(model="m", prompt="<|user|>x", raw=True)
    assert build_prompt(request, info()) == "<|user|>x"


def test_deepseek_r1_template_renders_like_the_real_model():
    template = deepseek_template()
    request = chat(
        ("system", "You are terse."),
        ("user", "2+2?"),
        ("assistant", "<think>\nsum\n</think>\n\n4"),
        ("user", "3+3?"),
    )
    text = build_prompt(request, info(chat_template=template, bos_text=BOS, eos_text=EOS))
    assert text == (
        f"{BOS}You are terse.<｜User｜>2+2?<｜Assistant｜>\n\n4{EOS}"  # noqa: RUF001
        "<｜User｜>3+3?<｜Assistant｜><think>\n"  # noqa: RUF001
    )


def test_deepseek_r1_template_with_thinking_off_closes_the_think_block():
    request = chat(("user", "hi"), think=False)
    text = build_prompt(request, info(chat_template=deepseek_template(), bos_text=BOS))
    assert text.endswith("<｜Assistant｜><think>\n</think>")  # noqa: RUF001


def test_an_ollama_go_template_wins_over_the_gguf_template():
    go = "{{ if .System }}[{{ .System }}]{{ end }}Q: {{ .Prompt }} A:"
    request = GenerationRequest(model="m", prompt="2+2?", system="Be brief.")
    assert build_prompt(request, info(go_template=go)) == "[Be brief.]Q: 2+2? A:"


def test_a_request_template_wins_over_the_model_template():
    request = GenerationRequest(model="m", prompt="x", template="<<{{ .Prompt }}>>")
    assert build_prompt(request, info(go_template="{{ .Prompt }}")) == "<<x>>"


def test_fallback_without_any_template():
    none = info(chat_template=None)
    assert build_prompt(GenerationRequest(model="m", prompt="plain"), none) == "plain"
    text = build_prompt(chat(("user", "Hi"), ("assistant", "Hello"), ("user", "Bye")), none)
    assert text == "User: Hi\n\nAssistant: Hello\n\nUser: Bye\n\nAssistant:"


@pytest.mark.parametrize(
    ("request_", "what"),
    [
        (GenerationRequest(model="m", prompt="x", images=["aGk="]), "images"),
        (GenerationRequest(model="m", prompt="x", suffix="y"), "insert"),
    ],
)
def test_unsupported_features_are_a_400_naming_the_model(request_, what):
    with pytest.raises(Unsupported) as err:
        build_prompt(request_, info(name="tiny"))
    assert err.value.status_code == 400
    assert what in err.value.message
    assert "tiny" in err.value.message


def test_template_raise_exception_is_a_bad_request():
    template = "{{ raise_exception('roles must alternate') }}"
    with pytest.raises(BadRequest) as err:
        render_jinja(template, [])
    assert "roles must alternate" in err.value.message


def test_templates_run_in_a_sandbox():
    template = "{{ messages.__class__.__mro__ }}"
    with pytest.raises(BadRequest):
        render_jinja(template, [])


TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
    },
}
# A Jinja chat template that shows tools, past calls and their results (Hugging Face's names).
JINJA_TOOLS = (
    "{% if tools %}[tools]{% for t in tools %}{{ t.function.name }};{% endfor %}{% endif %}"
    "{% for m in messages %}<{{ m.role }}>{{ m.content }}"
    "{% for c in m.tool_calls or [] %}(call {{ c.id }} {{ c.function.name }} "
    "{{ c.function.arguments | tojson }}){% endfor %}"
    "{% if m.role == 'tool' %}[for {{ m.tool_call_id }}]{% endif %}{% endfor %}<assistant>"
)
GO_TOOLS = (
    "{{ if .Tools }}[tools]{{ range .Tools }}{{ .Function.Name }};{{ end }}{{ end }}"
    "{{ range .Messages }}<{{ .Role }}>{{ .Content }}"
    "{{ range .ToolCalls }}(call {{ .Function.Name }} {{ .Function.Arguments }}){{ end }}"
    '{{ if eq .Role "tool" }}[{{ .ToolName }}]{{ end }}{{ end }}<assistant>'
)


def _round_trip() -> GenerationRequest:
    call = {"id": "call_1", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    return GenerationRequest(
        model="m",
        kind="chat",
        messages=[
            Message("user", "Weather in Paris?"),
            Message("assistant", "", tool_calls=[call]),
            Message("tool", "18 C", tool_name="get_weather", tool_call_id="call_1"),
        ],
        tools=[TOOL],
    )


def test_tools_calls_and_results_go_through_a_jinja_template():
    text = build_prompt(_round_trip(), info(chat_template=JINJA_TOOLS, bos_text=""))
    assert text == (
        "[tools]get_weather;<user>Weather in Paris?"
        '<assistant>(call call_1 get_weather {"city": "Paris"})'
        "<tool>18 C[for call_1]<assistant>"
    )


def test_tools_calls_and_results_go_through_a_go_template():
    text = build_prompt(_round_trip(), info(go_template=GO_TOOLS))
    assert text == (
        "[tools]get_weather;<user>Weather in Paris?"
        '<assistant>(call get_weather {"city":"Paris"})<tool>18 C[get_weather]<assistant>'
    )
