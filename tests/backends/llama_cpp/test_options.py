"""Ollama options mapped onto the engine: types checked, defaults layered, caps applied."""

from __future__ import annotations

import logging

import pytest

from ollama_gateway.backends.llama_cpp.options import engine_options, grammar_for
from ollama_gateway.errors import BadRequest


def test_every_sampling_option_is_mapped():
    opts = engine_options(
        {
            "temperature": 0.3,
            "top_k": 7,
            "top_p": 0.5,
            "min_p": 0.05,
            "typical_p": 0.9,
            "repeat_penalty": 1.2,
            "repeat_last_n": 32,
            "presence_penalty": 0.4,
            "frequency_penalty": 0.6,
            "seed": 11,
            "stop": ["a", "b"],
            "num_predict": 12,
            "num_ctx": 1024,
            "num_thread": 2,
        },
        max_predict=100,
    )
    s = opts.sampling
    assert (s.temperature, s.top_k, s.top_p, s.min_p, s.typical_p) == (0.3, 7, 0.5, 0.05, 0.9)
    assert (s.repeat_penalty, s.repeat_last_n) == (1.2, 32)
    assert (s.presence_penalty, s.frequency_penalty, s.seed) == (0.4, 0.6, 11)
    assert s.stop == ("a", "b")
    assert s.num_predict == 12
    assert (opts.num_ctx, opts.num_thread) == (1024, 2)


@pytest.mark.parametrize(
    ("given", "expected"), [(None, 50), (-1, 50), (-2, 50), (10, 10), (99, 50)]
)
def test_num_predict_is_capped(given, expected):
    options = {} if given is None else {"num_predict": given}
    assert engine_options(options, max_predict=50).sampling.num_predict == expected


def test_request_options_override_model_parameters():
    opts = engine_options(
        {"temperature": 0.1},
        model_params={"temperature": 0.6, "stop": ["<|end|>"], "top_k": 20},
        max_predict=10,
    )
    assert opts.sampling.temperature == 0.1
    assert opts.sampling.stop == ("<|end|>",)
    assert opts.sampling.top_k == 20


@pytest.mark.parametrize(
    ("name", "value"),
    [("temperature", "hot"), ("top_k", 1.5), ("seed", True), ("num_predict", "5"), ("stop", [1])],
)
def test_wrong_types_are_a_bad_request(name, value):
    with pytest.raises(BadRequest) as info:
        engine_options({name: value}, max_predict=10)
    assert name in info.value.message
    assert info.value.status_code == 400


def test_unknown_options_are_ignored_and_logged(caplog):
    caplog.set_level(logging.DEBUG, logger="ollama_gateway.backends.llama_cpp.options")
    opts = engine_options({"shiny": 3, "num_gpu": 1, "temperature": 0.2}, max_predict=10)
    assert opts.sampling.temperature == 0.2
    assert "unknown option shiny ignored" in caplog.text


def test_a_single_stop_string_is_accepted():
    assert engine_options({"stop": "END"}, max_predict=5).sampling.stop == ("END",)


def test_format_becomes_a_grammar():
    assert grammar_for(None) is None
    assert "root" in grammar_for("json")
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    assert "root" in grammar_for(schema)
    assert grammar_for(schema) != grammar_for("json")
    with pytest.raises(BadRequest):
        grammar_for("yaml")
