"""A loaded llama.cpp model: weights, vocabulary and metadata (no context).

Every method here blocks (it calls into llama.cpp): call them from worker threads. The
vocabulary is read-only once loaded, so tokenizing from several threads at once is safe.
"""

from __future__ import annotations

import ctypes
import re
import threading
from pathlib import Path
from typing import Literal

from ollama_gateway.backends.llama_cpp._lib import lib, take_errors
from ollama_gateway.models.gguf_meta import GGUFFormatError, read_gguf_metadata

_load_lock = threading.Lock()  # llama.cpp's log is global: one load at a time keeps errors apart
CHUNK_CHARS = 8 * 1024  # a longer text is tokenized in pieces of about this size


class TokenizeCancelled(Exception):
    """Tokenizing stopped because its request went away."""


class LoadError(Exception):
    """The model file could not be loaded; the message says why."""


class Model:
    """Weights and vocabulary of one GGUF file."""

    def __init__(self, path: Path, handle: int) -> None:
        lc = lib()
        self.path = path
        self.handle = handle
        self.vocab = lc.llama_model_get_vocab(handle)
        self.n_vocab = lc.llama_vocab_n_tokens(self.vocab)
        self.n_ctx_train = lc.llama_model_n_ctx_train(handle)
        self.n_embd = lc.llama_model_n_embd(handle)
        self.size = lc.llama_model_size(handle)
        self.n_params = lc.llama_model_n_params(handle)
        self.bos = lc.llama_vocab_bos(self.vocab)
        self.eos = lc.llama_vocab_eos(self.vocab)
        self.add_bos = bool(lc.llama_vocab_get_add_bos(self.vocab))
        self._piece_cache: dict[int, bytes] = {}
        self._split_re: re.Pattern[str] | Literal[False] | None = False  # False: not computed yet
        self._closed = False

    # -- loading -------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, *, n_gpu_layers: int = 0) -> Model:
        """Load ``path``; raises :class:`LoadError` with llama.cpp's reason."""
        path = Path(path)
        if not path.is_file():
            raise LoadError(f"no model file at {path}")
        try:
            read_gguf_metadata(path, max_array=0)
        except GGUFFormatError as exc:
            raise LoadError(str(exc)) from None
        except OSError as exc:
            raise LoadError(f"cannot read the model file: {exc.strerror or exc}") from None
        lc = lib()
        params = lc.llama_model_default_params()
        params.n_gpu_layers = n_gpu_layers
        with _load_lock:
            take_errors()
            handle = lc.llama_model_load_from_file(str(path).encode(), params)
            errors = take_errors()
        if not handle:
            reason = "; ".join(_clean(e) for e in errors[-2:]) or "llama.cpp could not load it"
            raise LoadError(reason)
        return cls(path, handle)

    def free(self) -> None:
        if not self._closed:
            self._closed = True
            lib().llama_model_free(self.handle)

    # -- vocabulary ----------------------------------------------------------------------
    def tokenize(
        self,
        text: str,
        *,
        add_special: bool = True,
        parse_special: bool = True,
        cancel: threading.Event | None = None,
    ) -> list[int]:
        """The tokens of ``text``; a long text is tokenized in pieces (see :meth:`_pieces`).

        Raises :class:`TokenizeCancelled` between pieces once ``cancel`` is set.
        """
        return self.tokenize_upto(
            text, add_special=add_special, parse_special=parse_special, cancel=cancel
        )[0]

    def tokenize_upto(
        self,
        text: str,
        *,
        add_special: bool = True,
        parse_special: bool = True,
        cancel: threading.Event | None = None,
        limit: int | None = None,
    ) -> tuple[list[int], bool]:
        """Like :meth:`tokenize`, but stops between pieces once there are more than ``limit``
        tokens (the caller only needs to know the text is too long). Returns the tokens and
        whether they are all of them."""
        pieces = self._pieces(text) if parse_special and len(text) > CHUNK_CHARS else [text]
        tokens: list[int] = []
        for i, piece in enumerate(pieces):
            if cancel is not None and cancel.is_set():
                raise TokenizeCancelled
            if limit is not None and len(tokens) > limit:
                return tokens, False
            tokens += self._tokenize(piece, add_special and i == 0, parse_special)
        return tokens, True

    def _pieces(self, text: str) -> list[str]:
        """``text`` cut right before special tokens, every ``CHUNK_CHARS`` characters or so.

        llama.cpp splits the text at every special token before tokenizing, in time quadratic
        in their number (a chat of thousands of messages holds thousands); pieces that each
        start at a special token give the very same tokens, in linear time. Only special tokens
        that cannot overlap another one (or themselves), do not strip the whitespace before
        them and do not start with whitespace are used as cut points; only for BPE and
        SentencePiece vocabularies that add no end-of-sequence token.
        """
        splitter = self._splitter()
        if splitter is None:
            return [text]
        pieces, last = [], 0
        for found in splitter.finditer(text, CHUNK_CHARS):
            start = found.start()
            if start - last >= CHUNK_CHARS:
                pieces.append(text[last:start])
                last = start
        pieces.append(text[last:])
        return pieces

    def _splitter(self) -> re.Pattern[str] | None:
        if self._split_re is not False:
            return self._split_re
        lc = lib()
        kinds = (lc.LLAMA_VOCAB_TYPE_BPE, lc.LLAMA_VOCAB_TYPE_SPM)
        specials: list[tuple[str, int]] = []
        if lc.llama_vocab_type(self.vocab) in kinds and not lc.llama_vocab_get_add_eos(self.vocab):
            wanted = (
                lc.LLAMA_TOKEN_ATTR_CONTROL
                | lc.LLAMA_TOKEN_ATTR_USER_DEFINED
                | lc.LLAMA_TOKEN_ATTR_UNKNOWN
            )
            for token in range(self.n_vocab):
                attr = lc.llama_vocab_get_attr(self.vocab, token)
                if attr & wanted:
                    specials.append((self.token_text(token), attr))
        texts = [t for t, _ in specials if t]
        safe = [
            t
            for t, attr in specials
            if t
            and not t[0].isspace()
            and not attr & lc.LLAMA_TOKEN_ATTR_LSTRIP
            and not any(_overlap(t, other) for other in texts if other is not t)
            and not _overlap(t, t, itself=True)
        ]
        self._split_re = re.compile("|".join(map(re.escape, safe))) if safe else None
        return self._split_re

    def _tokenize(self, text: str, add_special: bool, parse_special: bool) -> list[int]:
        lc = lib()
        data = text.encode("utf-8")
        capacity = len(data) + 8
        buf = (lc.llama_token * capacity)()
        n = lc.llama_tokenize(
            self.vocab, data, len(data), buf, capacity, add_special, parse_special
        )
        if n < 0:  # the buffer was too small: -n is the size needed
            capacity = -n
            buf = (lc.llama_token * capacity)()
            n = lc.llama_tokenize(
                self.vocab, data, len(data), buf, capacity, add_special, parse_special
            )
        return list(buf[:n])

    def piece(self, token: int) -> bytes:
        """The bytes a token stands for (special tokens render as nothing)."""
        cached = self._piece_cache.get(token)
        if cached is not None:
            return cached
        buf = ctypes.create_string_buffer(64)
        n = lib().llama_token_to_piece(self.vocab, token, buf, 64, 0, False)
        if n < 0:
            buf = ctypes.create_string_buffer(-n)
            n = lib().llama_token_to_piece(self.vocab, token, buf, -n, 0, False)
        data = buf.raw[:n]
        self._piece_cache[token] = data
        return data

    def detokenize(self, tokens: list[int]) -> str:
        return b"".join(self.piece(t) for t in tokens).decode("utf-8", errors="replace")

    def token_text(self, token: int) -> str:
        """The vocabulary's text for ``token`` (e.g. ``<s>``), for chat templates."""
        if token < 0:
            return ""
        raw = lib().llama_vocab_get_text(self.vocab, token)
        return raw.decode("utf-8", errors="replace") if raw else ""

    def is_eog(self, token: int) -> bool:
        return bool(lib().llama_vocab_is_eog(self.vocab, token))

    # -- metadata ------------------------------------------------------------------------
    def meta(self, key: str) -> str | None:
        lc = lib()
        size = 1 << 16
        buf = ctypes.create_string_buffer(size)
        n = lc.llama_model_meta_val_str(self.handle, key.encode(), buf, size)
        if n < 0:
            return None
        if n >= size:
            buf = ctypes.create_string_buffer(n + 1)
            lc.llama_model_meta_val_str(self.handle, key.encode(), buf, n + 1)
        return buf.value.decode("utf-8", errors="replace")

    @property
    def architecture(self) -> str:
        return self.meta("general.architecture") or ""

    @property
    def chat_template(self) -> str | None:
        return self.meta("tokenizer.chat_template")


def _overlap(a: str, b: str, *, itself: bool = False) -> bool:
    """Whether occurrences of ``a`` and ``b`` can overlap in a text (``itself``: of ``a`` alone)."""
    if not itself and (a in b or b in a):
        return True
    shortest = min(len(a), len(b))
    return any(a.endswith(b[:k]) or b.endswith(a[:k]) for k in range(1, shortest))


def _clean(message: str) -> str:
    """``llama_model_load: error loading model: X`` -> ``X``."""
    for marker in ("error loading model: ", "error: "):
        if marker in message:
            message = message.split(marker, 1)[1]
    return message.strip().rstrip(".")
