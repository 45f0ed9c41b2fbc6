"""``generate`` and ``chat`` on the embedded engine: real inference on a generated tiny model."""

from __future__ import annotations

import json

import pytest

pytestmark = pytest.mark.slow  # real llama.cpp inference


def test_streamed_generate_prints_what_json_returns(cli, engine_gateway):
    flags = ("-o", "temperature=0", "-o", "num_predict=8", "-o", "seed=1")
    streamed = cli("generate", "hello world", *flags, url=engine_gateway)
    whole = cli("generate", "hello world", *flags, "--json", url=engine_gateway)
    assert streamed.exit_code == whole.exit_code == 0, streamed.output + whole.output
    answer = json.loads(whole.stdout)
    assert answer["eval_count"] == 8
    assert streamed.stdout.rstrip("\n") == answer["generated_text"].rstrip("\n")
    assert answer["generated_text"].strip() != ""


def test_chat_over_piped_turns(cli, engine_gateway):
    flags = ("-o", "temperature=0", "-o", "num_predict=4")
    result = cli("chat", *flags, url=engine_gateway, input="hi\nand again\n/bye\n")
    assert result.exit_code == 0, result.output
    assert result.stdout.count("\n\n") >= 2  # two answers, each followed by a blank line
