"""Model references: parsing, defaults, display names, validation, GGUF paths."""

from __future__ import annotations

import doctest

import pytest

from ollama_gateway.errors import BadRequest
from ollama_gateway.models import refs
from ollama_gateway.models.refs import ModelRef, display_name, is_gguf_path, parse_ref


@pytest.mark.parametrize(
    ("text", "parts", "display"),
    [
        (
            "deepseek-r1:1.5b",
            ("registry.ollama.ai", "library", "deepseek-r1", "1.5b"),
            "deepseek-r1:1.5b",
        ),
        ("llama3", ("registry.ollama.ai", "library", "llama3", "latest"), "llama3:latest"),
        ("user/model:tag", ("registry.ollama.ai", "user", "model", "tag"), "user/model:tag"),
        ("library/qwen2:0.5b", ("registry.ollama.ai", "library", "qwen2", "0.5b"), "qwen2:0.5b"),
        (
            "registry.ollama.ai/library/qwen2:0.5b",
            ("registry.ollama.ai", "library", "qwen2", "0.5b"),
            "qwen2:0.5b",
        ),
        (
            "host.example/ns/model:tag",
            ("host.example", "ns", "model", "tag"),
            "host.example/ns/model:tag",
        ),
        (
            "127.0.0.1:5000/ns/model",
            ("127.0.0.1:5000", "ns", "model", "latest"),
            "127.0.0.1:5000/ns/model:latest",
        ),
        ("https://example.com/ns/m:v1", ("example.com", "ns", "m", "v1"), "example.com/ns/m:v1"),
        ("  spaced:tag  ", ("registry.ollama.ai", "library", "spaced", "tag"), "spaced:tag"),
        (
            "Mixed_Case.v2:Q4_K_M",
            ("registry.ollama.ai", "library", "Mixed_Case.v2", "Q4_K_M"),
            "Mixed_Case.v2:Q4_K_M",
        ),
    ],
)
def test_parse_fills_defaults_and_displays_like_ollama(text, parts, display):
    ref = parse_ref(text)
    assert ref.manifest_parts == parts
    assert ref.display == display
    assert str(ref) == display
    assert ref.digest is None


def test_full_name_and_repository():
    ref = parse_ref("qwen2:0.5b")
    assert ref.full == "registry.ollama.ai/library/qwen2:0.5b"
    assert ref.repository == "library/qwen2"


def test_digest_is_parsed_and_normalised():
    hexd = "AB" * 32
    ref = parse_ref(f"qwen2:0.5b@sha256:{hexd}")
    assert ref.digest == "sha256:" + hexd.lower()
    assert ref.tag == "0.5b"
    assert parse_ref(f"qwen2@sha256-{hexd}").digest == "sha256:" + hexd.lower()


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "a model name is required"),
        ("   ", "a model name is required"),
        ("bad name", "the name part may hold only"),
        ("model:", "the tag part is empty"),
        (":tag", "the name part is empty"),
        ("a/b/c/d:tag", "got 4 path parts"),
        ("/model", "the namespace part is empty"),
        ("ns./model", "the namespace part may hold only"),
        ("-model", "must start with a letter"),
        ("model:-tag", "must start with a letter"),
        ("model:ta/g", "the namespace part may hold only"),
        ("model@sha256:abc", "the digest must be sha256:<64 hex>"),
        ("@sha256:" + "a" * 64, "a digest needs a model name"),
        ("m" * 81, "longer than 80 characters"),
        ("model:" + "t" * 81, "longer than 80 characters"),
        ("mo..del", '".." is not allowed'),
    ],
)
def test_garbage_is_a_clear_bad_request(text, fragment):
    with pytest.raises(BadRequest) as info:
        parse_ref(text)
    assert fragment in info.value.message
    assert info.value.status_code == 400


def test_non_string_is_rejected():
    with pytest.raises(BadRequest, match="must be a string"):
        parse_ref(None)  # type: ignore[arg-type]


def test_same_model_ignores_case():
    assert parse_ref("Qwen2:0.5B").same_model(parse_ref("registry.ollama.ai/library/qwen2:0.5b"))
    assert not parse_ref("qwen2:0.5b").same_model(parse_ref("qwen2:1.5b"))


def test_display_name_helper():
    assert display_name("library/llama3") == "llama3:latest"
    assert display_name("someone/llama3:8b") == "someone/llama3:8b"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("model.gguf", True),
        ("./models/Tiny.GGUF", True),
        ("/abs/path/model", True),
        ("~/model.bin", True),
        ("../rel/model", True),
        ("qwen2:0.5b", False),
        ("user/model:tag", False),
        ("host.example/ns/model", False),
    ],
)
def test_gguf_paths_are_told_apart_from_names(text, expected):
    assert is_gguf_path(text) is expected


def test_model_ref_defaults():
    assert ModelRef(name="x").display == "x:latest"


def test_doctests_pass():
    result = doctest.testmod(refs, optionflags=doctest.ELLIPSIS)
    assert result.attempted > 5
    assert result.failed == 0


def test_the_fast_check_never_accepts_what_the_parser_refuses():
    """``check_model_name`` accepts valid names with one regular expression; anything it does
    not accept goes to ``parse_ref``. It must never accept a name ``parse_ref`` refuses."""
    import random

    from ollama_gateway.models.refs import check_model_name

    rng = random.Random(7)
    alphabet = "ab_Z09.-:/@ \\~\x00\n"
    for _ in range(50_000):
        name = "".join(rng.choice(alphabet) for _ in range(rng.randint(1, 14)))
        try:
            parse_ref(name)
        except BadRequest:
            with pytest.raises(BadRequest, match=r"invalid model name|a model name is required"):
                check_model_name(name)
    for name in ["llama3", "ns/m:v1", "localhost:5000/ns/m:q8", "https://h.io/a/b:c",
                 "m@sha256:" + "a" * 64, "a" * 80 + ":" + "b" * 80]:  # fmt: skip
        assert check_model_name(name) == name
