"""Modelfiles and parameters: Ollama's format read, every bad line a 400 that names it."""

from __future__ import annotations

import pytest

from ollama_gateway.errors import BadRequest
from ollama_gateway.modelfile import check_parameters, parse_modelfile, parse_parameter

MODELFILE = '''# a comment
FROM ./weights/model.gguf
TEMPLATE """{{ if .System }}<|system|>{{ .System }}<|end|>{{ end }}
<|user|>{{ .Prompt }}<|end|><|assistant|>"""
system You are "terse".
PARAMETER temperature 0.2
PARAMETER stop "<|end|>"
parameter Stop <|user|>
PARAMETER num_ctx 1024
PARAMETER use_mmap false
MESSAGE user Hi there
MESSAGE assistant """Hello,
friend."""
LICENSE """MIT License

Copyright"""
LICENSE Apache-2.0
'''


def test_every_instruction_is_read():
    parsed = parse_modelfile(MODELFILE)
    assert parsed.from_ == "./weights/model.gguf"
    assert parsed.template == (
        "{{ if .System }}<|system|>{{ .System }}<|end|>{{ end }}\n"
        "<|user|>{{ .Prompt }}<|end|><|assistant|>"
    )
    assert parsed.system == 'You are "terse".'
    assert parsed.parameters == {
        "temperature": 0.2,
        "stop": ["<|end|>", "<|user|>"],
        "num_ctx": 1024,
        "use_mmap": False,
    }
    assert parsed.messages == [
        {"role": "user", "content": "Hi there"},
        {"role": "assistant", "content": "Hello,\nfriend."},
    ]
    assert parsed.license == ["MIT License\n\nCopyright", "Apache-2.0"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("TEMPLATE x", "no FROM line"),
        ("FROM m\nFOO bar", "line 2: unknown instruction 'foo'"),
        ('FROM m\nTEMPLATE """open', 'line 2: unterminated """ block'),
        ('FROM m\nSYSTEM "open', "line 2: unterminated quoted string"),
        ("FROM m\nPARAMETER temprature 1", "line 2: unknown parameter 'temprature'"),
        ("FROM m\n\nPARAMETER num_ctx big", "line 3: parameter num_ctx must be an integer"),
        ("FROM m\nPARAMETER top_p nan", "line 2: parameter top_p must be a finite number"),
        ("FROM m\nPARAMETER use_mmap maybe", "line 2: parameter use_mmap must be true or false"),
        ("FROM m\nMESSAGE robot hi", "line 2: MESSAGE role must be one of"),
        ("FROM m\nADAPTER ./lora.gguf", "line 2: ADAPTER is not supported"),
        ("FROM m\nPARAMETER", "line 2: expected a name"),
        ("FROM m\n" + "PARAMETER stop x\n" * 33, "parameter stop has 33 values"),
        ("FROM m\n" + "#" * (1 << 20), "larger than"),
    ],
)
def test_bad_modelfiles_name_the_line(text, expected):
    with pytest.raises(BadRequest) as caught:
        parse_modelfile(text)
    assert expected in caught.value.message


def test_parameters_from_json_are_checked_and_kept_as_sent():
    assert check_parameters({"temperature": 0, "stop": "x", "seed": 3.0, "x": None} | {}) == {
        "temperature": 0,
        "stop": ["x"],
        "seed": 3,
    }
    for bad in (
        {"temperature": "hot"},
        {"temperature": True},
        {"num_ctx": 1.5},
        {"stop": [1]},
        {"stop": ["x" * 513]},
        {"penalize_newline": 1},
        {"nope": 1},
        {f"p{i}": 1 for i in range(65)},
    ):
        with pytest.raises(BadRequest):
            check_parameters(bad)
    assert parse_parameter("TEMPERATURE", "0.5") == 0.5
    assert parse_parameter("penalize_newline", "True") is True
