"""Every client-supplied size is bounded before llama.cpp sees it: grammars, options, stop
strings, token ids, templates, durations; and a failing sequence fails alone."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import textwrap

import pytest

from ollama_gateway.backends.llama_cpp.grammar_check import (
    MAX_GRAMMAR_BYTES,
    MAX_GRAMMAR_DEPTH,
    check_grammar,
)
from ollama_gateway.backends.llama_cpp.options import MAX_STOPS, engine_options
from ollama_gateway.backends.llama_cpp.sampling import SamplingOptions
from ollama_gateway.backends.llama_cpp.sequence import Sequence
from ollama_gateway.core.durations import parse_duration
from ollama_gateway.errors import BadRequest, GatewayError

JSON_LIKE = r"""
root   ::= object
value  ::= object | array | string | number | ("true" | "false" | "null") ws
object ::= "{" ws ( string ":" ws value ("," ws string ":" ws value)* )? "}" ws
array  ::= "[" ws ( value ("," ws value)* )? "]" ws
string ::= "\"" ( [^"\\(\x7F\x00-\x1F] | "\\" (["\\bfnrt] | "u" [0-9a-fA-F]{4}) )* "\"" ws
number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]+)? ws
ws ::= | " " | "\n" [ \t]{0,20}   # comment with ( ( ( and {99999}
"""


def deep(depth: int) -> str:
    return "root ::= " + '("a" ' * depth + ")?" * depth + "\n"


def test_an_ordinary_grammar_passes_the_check():
    check_grammar(JSON_LIKE)  # parentheses and braces inside literals and comments are text


@pytest.mark.parametrize(
    ("grammar", "words"),
    [
        (deep(MAX_GRAMMAR_DEPTH + 1), "nested"),
        ('root ::= "a"{0,50000}\n', "repetition of 50000"),
        ('root ::= "a"{2001}\n', "repetition of 2001"),
        ('root ::= "a"{' + "9" * 5000 + "}\n", "repetition of 999999999999"),
        ('root ::= "' + "a" * MAX_GRAMMAR_BYTES + '"\n', "bytes"),
    ],
)
def test_grammars_over_a_limit_are_a_400(grammar, words):
    with pytest.raises(BadRequest) as err:
        check_grammar(grammar)
    assert words in err.value.message


def test_a_grammar_nested_too_deeply_for_llama_cpp_never_reaches_it(tiny_path):
    """20,000 levels overflow llama.cpp's recursive parser (SIGSEGV); the check stops it first.
    In a child process: a regression must fail this test, not kill the test run."""
    script = textwrap.dedent(f"""
        import threading
        from ollama_gateway.backends.llama_cpp.model import Model
        from ollama_gateway.backends.llama_cpp.sampling import SamplingOptions, build_sampler
        from ollama_gateway.errors import BadRequest
        model = Model.load({str(tiny_path)!r})
        grammar = "root ::= " + "(" * 30000 + '"a"' + ")" * 30000 + "\\n"  # 60 kB
        def run():
            try:
                build_sampler(SamplingOptions(grammar=grammar), model.vocab, model.n_vocab, 64)
            except BadRequest as exc:
                print("refused:", exc.message)
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
    """)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "refused: the output format needs a grammar nested more than" in done.stdout
    assert max(map(len, (done.stdout + done.stderr).splitlines()), default=0) < 1000


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("temperature", -1),
        ("top_p", 1.5),
        ("min_p", -0.1),
        ("typical_p", 2),
        ("repeat_penalty", 0),
        ("repeat_penalty", -1.1),
        ("top_k", -1),
        ("top_k", 2**31),
        ("repeat_last_n", -2),
        ("seed", 2**63),
        ("num_predict", -3),
        ("num_ctx", 0),
        ("num_ctx", -4096),
        ("num_thread", -1),
        ("num_thread", 100_000),
        ("temperature", float("nan")),
        ("presence_penalty", float("inf")),
        ("frequency_penalty", float("-inf")),
    ],
)
def test_nonsense_numbers_are_a_400_naming_the_option(name, value):
    with pytest.raises(BadRequest) as err:
        engine_options({name: value}, max_predict=100)
    assert name in err.value.message


def test_sensible_edges_are_accepted():
    opts = engine_options(
        {
            "temperature": 0,
            "top_k": 0,
            "top_p": 1,
            "repeat_last_n": 2147483647,
            "seed": -1,
            "num_predict": -2,
            "presence_penalty": -2.0,
        },
        max_predict=100,
    )
    assert opts.sampling.repeat_last_n == 2147483647  # accepted, then bounded by the context
    assert opts.sampling.penalty_window(512) == 512
    assert SamplingOptions(repeat_last_n=-1).penalty_window(300) == 300
    assert SamplingOptions(repeat_last_n=64).penalty_window(300) == 64


def test_stop_strings_are_bounded_in_number_and_length():
    with pytest.raises(BadRequest) as err:
        engine_options({"stop": [f"s{i}" for i in range(75_000)]}, max_predict=10)
    assert "75000" in err.value.message and str(MAX_STOPS) in err.value.message
    with pytest.raises(BadRequest):
        engine_options({"stop": ["x" * 100_000]}, max_predict=10)
    many = [f"<stop{i}>" for i in range(MAX_STOPS)]
    assert engine_options({"stop": many}, max_predict=10).sampling.stop == tuple(many)


@pytest.mark.parametrize("value", [1e300, -1e300, "inf", "-inf", "nan", "Infinity", 10**400])
def test_durations_must_be_finite_and_in_range(value):
    with pytest.raises(ValueError):
        parse_duration(value)


def test_durations_in_range_still_parse():
    assert parse_duration("5m") == 300 and parse_duration(-1) == -1
    assert parse_duration("2562047h") == 2562047 * 3600.0  # Go's largest whole-hour duration
    assert parse_duration("1e3") == 1000.0


async def test_token_ids_outside_the_vocabulary_are_refused_before_submission(
    make_engine, tiny_model
):
    engine = make_engine(tiny_model, n_parallel=2)
    for bad in ([-5], [1, tiny_model.n_vocab], [2**40]):
        with pytest.raises(BadRequest) as err:
            async for _ in engine.generate(bad, SamplingOptions(temperature=0, num_predict=2)):
                pass
        assert "vocabulary" in err.value.message
    assert engine.steps == 0  # nothing ever reached the decode thread


async def test_a_sequence_llama_cpp_refuses_fails_alone(make_engine, tiny_model):
    """A token id that slipped past every check: llama_decode refuses the whole batch; the
    engine retries each sequence alone, and only the guilty one fails."""
    engine = make_engine(tiny_model, n_parallel=2)
    options = SamplingOptions(temperature=0, num_predict=200)
    prompt = tiny_model.tokenize("hello world")
    chunks = []
    started = asyncio.Event()

    async def bystander():
        async for chunk in engine.generate(prompt, options):
            chunks.append(chunk)
            started.set()

    task = asyncio.create_task(bystander())
    await started.wait()
    loop = asyncio.get_running_loop()
    bad = Sequence([1, tiny_model.n_vocab + 7], options, 64, loop)
    bad.sampler = engine.new_sampler(options, 64, bad.prompt)
    engine._submit(bad)  # past generate()'s checks on purpose
    error = await asyncio.wait_for(bad.queue.get(), 60)
    assert isinstance(error, GatewayError)
    await asyncio.wait_for(task, 120)
    assert chunks[-1].done and chunks[-1].done_reason == "length"
    assert chunks[-1].stats.eval_count == 200


def test_llama_cpp_log_lines_are_cut_short(caplog):
    """llama.cpp can log a whole grammar or prompt in one line; only its start is kept."""
    from ollama_gateway.backends.llama_cpp import _lib

    caplog.set_level(logging.DEBUG, logger="ollama_gateway.llama_cpp")
    _lib._on_log(4, b"failed to parse: " + b"(char " * 50_000, None)
    _lib._on_log(5, b"more of the same line" * 1000 + b"\n", None)  # a continuation
    (record,) = [r for r in caplog.records if r.name == "ollama_gateway.llama_cpp"]
    assert record.levelno == logging.ERROR
    assert record.getMessage().startswith("failed to parse: (char")
    assert len(record.getMessage()) <= _lib.MAX_LINE + 10
    assert record.getMessage() in _lib.take_errors()
