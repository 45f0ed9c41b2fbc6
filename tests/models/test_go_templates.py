"""Ollama's Go templates rendered against Ollama's own expected outputs, plus Go semantics."""

# ruff: noqa: RUF001, E501 - DeepSeek's tokens use full-width bars; templates read best whole

from __future__ import annotations

import time

import pytest

from ollama_gateway.core.types import Message
from ollama_gateway.errors import BadRequest
from ollama_gateway.models.gotemplate.render import collate, render_go_template, template_variables
from tests.models import ollama_templates as T

SYSTEM = "You are a helpful assistant."
CHAT = [
    Message("system", SYSTEM),
    Message("user", "Hello, how are you?"),
    Message("assistant", "I'm doing great. How can I help you today?"),
    Message("user", "I'd like to show off how chat templating works!"),
]
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the weather",
        "parameters": {
            "type": "object",
            "required": ["city"],
            "properties": {"city": {"type": "string", "description": "City name"}},
        },
    },
}
WEATHER_JSON = (
    '{"name":"get_weather","description":"Get the weather","parameters":{"type":"object",'
    '"required":["city"],"properties":{"city":{"type":"string","description":"City name"}}}}'
)
TOOL_CHAT = [
    Message("system", "S"),
    Message("user", "What's the weather in Paris?"),
    Message(
        "assistant",
        "",
        tool_calls=[{"function": {"name": "get_weather", "arguments": {"city": "Paris"}}}],
    ),
    Message("tool", "22C", tool_name="get_weather"),
]


def render(template: str, messages=CHAT, **kwargs) -> str:
    kwargs.setdefault("system", None)
    kwargs.setdefault("prompt", None)
    return render_go_template(template, messages=messages, **kwargs)


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        (T.LLAMA3_INSTRUCT, T.EXPECTED["llama3"]),
        (T.LLAMA3_LEGACY, T.EXPECTED["llama3"]),
        (T.CHATML, T.EXPECTED["chatml"]),
        (T.PHI3, T.EXPECTED["phi3"]),
        (T.GEMMA_INSTRUCT, T.EXPECTED["gemma"]),
        (T.MISTRAL_INSTRUCT, T.EXPECTED["mistral"]),
        (T.CODELLAMA_70B, T.EXPECTED["codellama-70b"]),
    ],
    ids=["llama3", "llama3-legacy", "chatml", "phi3-legacy", "gemma", "mistral", "codellama-70b"],
)
def test_real_templates_render_as_ollama_expects(template, expected):
    assert render(template) == expected


def test_single_user_message_legacy_and_messages_agree():
    one = [Message("user", "Hello, how are you?")]
    expected = (
        "<|start_header_id|>user<|end_header_id|>\n\nHello, how are you?<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )
    assert render(T.LLAMA3_INSTRUCT, one) == expected
    assert render(T.LLAMA3_LEGACY, one) == expected


def test_deepseek_r1_chat():
    assert render(T.DEEPSEEK_R1) == (
        "You are a helpful assistant.<｜User｜>Hello, how are you?<｜Assistant｜>I'm doing great. "
        "How can I help you today?<｜end▁of▁sentence｜><｜User｜>I'd like to show off how chat "
        "templating works!<｜Assistant｜>"
    )


def test_deepseek_r1_generate_uses_system_and_prompt():
    out = render_go_template(T.DEEPSEEK_R1, messages=None, system="Be brief.", prompt="2+2?")
    assert out == "Be brief.<｜User｜>2+2?<｜Assistant｜>"


def test_deepseek_r1_assistant_prefill_is_continued():
    chat = [Message("user", "Hi"), Message("assistant", "<think>")]
    assert render(T.DEEPSEEK_R1, chat) == "<｜User｜>Hi<｜Assistant｜><think>"


def test_chat_system_default_applies_only_without_a_system_message():
    chat = [Message("user", "Hi")]
    assert render(T.DEEPSEEK_R1, chat, system="Default.") == "Default.<｜User｜>Hi<｜Assistant｜>"
    assert render(T.DEEPSEEK_R1, CHAT, system="Default.").startswith(SYSTEM + "<｜User｜>")


def test_qwen25_with_tools_and_tool_calls():
    expected = (
        "<|im_start|>system\nS\n\n# Tools\n\nYou may call one or more functions to assist with "
        "the user query.\n\nYou are provided with function signatures within <tools></tools> XML "
        "tags:\n<tools>\n"
        '{"type": "function", "function": ' + WEATHER_JSON + "}\n</tools>\n\n"
        "For each function call, return a json object with function name and arguments within "
        "<tool_call></tool_call> XML tags:\n<tool_call>\n"
        '{"name": <function-name>, "arguments": <args-json-object>}\n</tool_call><|im_end|>\n'
        "<|im_start|>user\nWhat's the weather in Paris?<|im_end|>\n"
        "<|im_start|>assistant\n<tool_call>\n"
        '{"name": "get_weather", "arguments": {"city":"Paris"}}\n</tool_call><|im_end|>\n'
        "<|im_start|>user\n<tool_response>\n22C\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n"
    )
    assert render(T.QWEN25, TOOL_CHAT, tools=[WEATHER_TOOL]) == expected


def test_qwen25_generate_without_messages_uses_the_messages_branch():
    out = render_go_template(T.QWEN25, messages=None, system=None, prompt="Hi")
    assert out == "<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n"


def test_openai_style_string_arguments_render_as_json():
    chat = [
        Message("user", "q"),
        Message(
            "assistant",
            "",
            tool_calls=[
                {"function": {"name": "f", "arguments": '{"b": 1.0, "a": "x<y"}'}, "id": "c1"}
            ],
        ),
    ]
    out = render(T.QWEN25, chat)
    # Go's json.Marshal: map keys sorted, 1.0 -> 1, "<" escaped
    assert '{"name": "f", "arguments": {"a":"x\\u003cy","b":1}}' in out


def test_mistral_v03_prints_tools_as_json_on_the_last_user_turn():
    chat = [Message("user", "Hi"), Message("assistant", "Hello!"), Message("user", "Weather?")]
    out = render(T.MISTRAL_V03, chat, tools=[WEATHER_TOOL])
    assert out == (
        "[INST] Hi[/INST]Hello!</s>"
        '[AVAILABLE_TOOLS] [{"type":"function","function":' + WEATHER_JSON + "}]"
        "[/AVAILABLE_TOOLS][INST] Weather?[/INST]"
    )


def test_deepseek_tools_template_with_think_flags():
    chat = [Message("user", "Hi")]
    assert render(T.DEEPSEEK_TOOLS, chat) == "<｜User｜>Hi<｜Assistant｜>"
    assert render(T.DEEPSEEK_TOOLS, chat, think=True) == "<｜User｜>Hi<｜Assistant｜>"
    assert (
        render(T.DEEPSEEK_TOOLS, chat, think=False)
        == "<｜User｜>Hi<｜Assistant｜><think> </think>\n    "
    )


def test_deepseek_tools_template_renders_tool_calls():
    out = render(T.DEEPSEEK_TOOLS, TOOL_CHAT[1:], tools=[WEATHER_TOOL])
    assert out.startswith("\n# Tools\n")
    assert "<tools>\n" + WEATHER_JSON + "\n</tools>" in out
    assert (
        "<｜Assistant｜>\n<｜tool▁calls▁begin｜>\n<｜tool▁call▁begin｜>function<｜tool▁sep｜>"
        'get_weather\n```json\n{"city":"Paris"}\n```<｜tool▁call▁end｜>\n<｜tool▁calls▁end｜>'
        "<｜end▁of▁sentence｜>"
    ) in out
    assert out.endswith("\n<｜tool▁output▁begin｜>22C<｜tool▁output▁end｜>\n<｜Assistant｜>")


def test_legacy_template_without_response_gets_one_appended():
    chat = [Message("user", "U1"), Message("assistant", "A1"), Message("user", "U2")]
    assert render(T.MIXTRAL, chat) == "[INST] U1 [/INST]A1[INST] U2 [/INST]"
    assert render(T.MIXTRAL, None, system="S", prompt="P") == "[INST] S P [/INST]"


def test_legacy_cut_drops_everything_after_response_in_the_last_turn():
    template = (
        "{{ if .Prompt }}Q:{{ .Prompt }}{{ end }} A:{{ .Response }}<end>{{ if .Prompt }}!{{ end }}"
    )
    chat = [Message("user", "1"), Message("assistant", "one"), Message("user", "2")]
    assert render(template, chat) == "Q:1 A:one<end>!Q:2 A:"


def test_fill_in_the_middle_with_suffix():
    template = "{{- if .Suffix }}<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>\n{{- else }}{{ .Prompt }}\n{{- end }}"
    out = render_go_template(
        template, messages=None, system=None, prompt="def add(", suffix="return x"
    )
    assert out == "<PRE> def add( <SUF>return x <MID>"
    assert render_go_template(template, messages=None, system=None, prompt="hello") == "hello"


def test_collate_merges_same_role_but_not_tools():
    system, merged = collate(
        [
            Message("system", "a"),
            Message("system", "b"),
            Message("user", "x"),
            Message("user", "y"),
            Message("tool", "t1"),
            Message("tool", "t2"),
        ]
    )
    assert system == "a\n\nb"
    assert [(m.role, m.content) for m in merged] == [
        ("system", "a\n\nb"),
        ("user", "x\n\ny"),
        ("tool", "t1"),
        ("tool", "t2"),
    ]


def test_template_variables():
    assert {"messages", "role", "content", "system"} <= template_variables(
        T.LLAMA3_INSTRUCT + "{{ .System }}"
    )
    assert template_variables("{{ .Prompt }}") == {"prompt", "response"}


# --- Go text/template semantics --------------------------------------------------------------
def go(template: str, **data) -> str:
    """Render through the legacy path with .Prompt set (enough to test expressions)."""
    return render_go_template(
        template, messages=None, system=data.get("system"), prompt=data.get("prompt", "p")
    )


@pytest.mark.parametrize(
    ("template", "expected"),
    [
        ("a  {{- .Prompt -}}  b{{ .Response }}", "apb"),
        ("a {{/* a comment */}} b{{ .Response }}", "a  b"),
        ("a \n{{- /* trimmed */ -}}\n b{{ .Response }}", "ab"),
        ('{{ "x\\ty" }}{{ `raw\\n` }}{{ .Response }}', "x\tyraw\\n"),
        (
            "{{ 3 }} {{ -2 }} {{ 1.5 }} {{ 2.0 }} {{ 0x10 }} {{ 'a' }} {{ true }}{{ .Response }}",
            "3 -2 1.5 2 16 97 true",
        ),
        ("{{ .Missing }}|{{ .Response }}", "<no value>|"),
        (
            '{{ and 1 0 "x" }}|{{ and 1 "x" }}|{{ or 0 "" "y" }}|{{ or 0 "" }}|{{ .Response }}',
            "0|x|y||",
        ),
        ('{{ if eq .Prompt "a" "p" }}yes{{ end }}{{ if ne 1 2 }}!{{ end }}{{ .Response }}', "yes!"),
        (
            "{{ if lt 1 2 }}a{{ end }}{{ if le 2 2 }}b{{ end }}{{ if gt 1 2 }}c{{ else }}d{{ end }}{{ if ge 3 2 }}e{{ end }}{{ .Response }}",
            "abde",
        ),
        ('{{ len "héllo" }} {{ slice "hello" 1 3 }} {{ index "abc" 1 }}{{ .Response }}', "6 el 98"),
        ('{{ printf "%s=%d %v %q %%" "a" 1 true "x" }}{{ .Response }}', 'a=1 true "x" %'),
        ('{{ print "a" 1 2 "b" }}{{ .Response }}', "a1 2b"),
        ('{{ .Prompt | printf "<%s>" }}{{ .Response }}', "<p>"),
        ('{{ json .Prompt }} {{ json "<&>" }}{{ .Response }}', '"p" "\\u003c\\u0026\\u003e"'),
        (
            '{{ $x := "a" }}{{ if true }}{{ $x = "b" }}{{ $y := "c" }}{{ end }}{{ $x }}{{ .Response }}',
            "b",
        ),
        (
            "{{ with .Prompt }}[{{ . }}]{{ else }}none{{ end }}{{ with .System }}x{{ else }}none{{ end }}{{ .Response }}",
            "[p]none",
        ),
        (
            "{{ if not .System }}no system{{ else if .Prompt }}x{{ end }}{{ .Response }}",
            "no system",
        ),
        ("{{ if .System }}s{{ else if .Prompt }}p{{ else }}n{{ end }}{{ .Response }}", "p"),
        (
            "{{ range $i, $c := 3 }}{{ $i }}{{ end }}{{ range 0 }}x{{ else }}empty{{ end }}{{ .Response }}",
            "012empty",
        ),
        (
            "{{ range $i, $_ := 5 }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ if eq $i 3 }}{{ break }}{{ end }}{{ $i }}{{ end }}{{ .Response }}",
            "02",
        ),
        ("{{ (print .Prompt) }}{{ .Response }}", "p"),
    ],
)
def test_go_semantics(template, expected):
    assert go(template) == expected


def test_range_over_messages_with_index_and_dollar():
    template = "{{ range $i, $m := .Messages }}{{ $i }}:{{ $m.Role }}:{{ .Content }}:{{ len $.Messages }};{{ end }}"
    chat = [Message("user", "a"), Message("assistant", "b")]
    assert render(template, chat) == "0:user:a:2;1:assistant:b:2;"


def test_index_and_field_chains_on_messages():
    template = '{{ (index .Messages 1).Content }}|{{ index (slice .Messages 1) 0 | printf "%v" }}'
    chat = [Message("user", "a"), Message("assistant", "b")]
    assert render(template, chat).startswith("b|")


@pytest.mark.parametrize(
    ("template", "fragment"),
    [
        ('{{ define "x" }}y{{ end }}', '"define" is not supported'),
        ('{{ template "x" }}', '"template" is not supported'),
        ('{{ block "x" . }}y{{ end }}', '"block" is not supported'),
        ("{{ nosuch .Prompt }}", 'function "nosuch" not defined'),
        ("{{ .Prompt ", "unclosed action"),
        ("{{ if .Prompt }}x", "has no {{ end }}"),
        ("{{ end }}", "unexpected {{ end }}"),
        ("{{ }}", "missing value"),
        ('{{ "unterminated }}', "unterminated string"),
        ("{{ .Prompt 1 }}", "can't give argument to non-function"),
        ("{{ $nope }}", "undefined variable: $nope"),
        ("{{ index .Messages 5 }}{{ .Messages }}", "index out of range"),
        ("{{ break }}", "break or continue outside range"),
        ("{{ eq 1 }}", "missing argument"),
        ("{{ /* open", "unclosed comment"),
        ("{{ .Prompt & }}", "unexpected '&'"),
    ],
)
def test_unsupported_or_broken_templates_are_bad_requests(template, fragment):
    with pytest.raises(BadRequest) as info:
        render(template, [Message("user", "x")])
    assert fragment in info.value.message


def test_garbage_never_hangs():
    start = time.monotonic()
    for template in ["{{" * 20_000, "{{ (" * 5_000 + "}}", "{{ if 1 }}" * 3_000, "{{ (" * 500]:
        with pytest.raises(BadRequest):
            render(template, [Message("user", "x")])
    assert render("x" * 100_000 + "{{ .Prompt }}", None, prompt="y").endswith("xy")
    assert render("}}" * 50_000, None, prompt="y") == "}}" * 50_000  # just text
    assert time.monotonic() - start < 5


def test_llama31_prints_tools_as_json_in_the_last_user_turn():
    out = render(T.LLAMA31, [Message("user", "Weather?")], tools=[WEATHER_TOOL])
    assert out == (
        "<|start_header_id|>system<|end_header_id|>\n\nYou are a helpful assistant with tool "
        "calling capabilities. When you receive a tool call response, use the output to format an "
        "answer to the original use question.<|eot_id|><|start_header_id|>user<|end_header_id|>"
        "\n\nGiven the following functions, please respond with a JSON for a function call with "
        "its proper arguments that best answers the given prompt.\n\nRespond in the format "
        '{"name": function name, "parameters": dictionary of argument name and its value}. Do '
        'not use variables.\n\n[{"type":"function","function":' + WEATHER_JSON + "}]\n\n"
        "Weather?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_llama31_tool_call_and_result():
    out = render(T.LLAMA31, TOOL_CHAT[1:])
    assert out == (
        "<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat's the weather in Paris?"
        "<|eot_id|><|start_header_id|>assistant<|end_header_id|>"
        '{"name": "get_weather", "parameters": {"city":"Paris"}}'
        "<|start_header_id|>ipython<|end_header_id|>\n\n22C<|eot_id|>"
        "<|start_header_id|>assistant<|end_header_id|>\n\n"
    )


def test_each_tool_prints_as_json_and_nil_tool_calls_have_length_zero():
    out = render(T.NEMOTRON_TOOLS, TOOL_CHAT[1:], tools=[WEATHER_TOOL])
    assert out == '{"type":"function","function":' + WEATHER_JSON + "}\n\n3010"


def test_keyword_defaults():
    assert render_go_template("{{ .Prompt }}!", prompt="hi") == "hi!"
    assert render_go_template(T.CHATML, messages=[Message("user", "x")]) == (
        "<|im_start|>user\nx<|im_end|>\n<|im_start|>assistant\n"
    )


def test_module_doctests():
    import doctest

    from ollama_gateway.models.gotemplate import render as templates

    result = doctest.testmod(templates)
    assert result.attempted >= 2 and result.failed == 0


# -- bounds: a template from a request may run for at most so many steps, characters, seconds --


@pytest.mark.parametrize(
    ("template", "words"),
    [
        ("{{range 100000}}{{range 100000}}{{end}}{{end}}", "steps"),
        ("{{range 20000000}}{{end}}", "steps"),
        ("{{range 3000000}}xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx{{end}}", "output"),
        ('{{$x := "ab"}}{{range 40}}{{$x = print $x $x}}{{end}}{{$x}}', "print built a string"),
        ('{{$x := "ab"}}{{range 40}}{{$x = printf "%s%s" $x $x}}{{end}}', "printf built"),
    ],
)
def test_runaway_templates_are_a_400(template, words):
    with pytest.raises(BadRequest) as err:
        render_go_template(template, prompt="hi")
    assert words in err.value.message


def test_a_range_over_a_number_never_builds_its_items():
    """``range N`` iterates lazily: memory does not grow with N (2 GB for 20 million before)."""
    import tracemalloc

    tracemalloc.start()
    with pytest.raises(BadRequest):
        render_go_template("{{range 20000000}}{{end}}", prompt="hi")
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 20 * 1024 * 1024


def test_the_budget_is_shared_by_every_turn_of_a_legacy_template():
    from ollama_gateway.models.gotemplate.execute import MAX_STEPS

    turns = [Message("user" if i % 2 == 0 else "assistant", "x") for i in range(200)]
    per_turn = "{{ range " + str(MAX_STEPS // 50) + " }}{{ end }}{{ .Prompt }}{{ .Response }}"
    with pytest.raises(BadRequest) as err:  # each turn alone is within the budget
        render_go_template(per_turn, messages=turns)
    assert "steps" in err.value.message


def test_a_cancelled_render_stops():
    import threading

    from ollama_gateway.models.gotemplate import Cancelled

    cancel = threading.Event()
    cancel.set()
    with pytest.raises(Cancelled):
        render_go_template("{{range 500000}}{{end}}", prompt="hi", cancel=cancel)


def test_ordinary_templates_of_long_chats_stay_well_within_the_budget():
    chat = [Message("user" if i % 2 == 0 else "assistant", f"turn {i}") for i in range(4096)]
    text = render_go_template(T.CHATML, messages=chat)
    assert text.count("<|im_start|>") == 4097


def test_collating_many_messages_of_one_role_joins_them_once():
    many = [Message("user", str(i)) for i in range(50_000)]
    system, merged = collate(many)
    assert system == "" and len(merged) == 1
    assert merged[0].content == "\n\n".join(str(i) for i in range(50_000))
