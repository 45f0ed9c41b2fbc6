"""The llama.cpp library, loaded once, with its log routed into Python logging.

``llama_cpp`` (llama-cpp-python) prints every llama.cpp log line to stderr by default; here the
lines go to the ``ollama_gateway.llama_cpp`` logger (info at DEBUG, warnings and errors at their
level) and the last error lines are kept so a failed load can say why it failed. Lines are cut
to their first :data:`MAX_LINE` characters.
"""

from __future__ import annotations

import collections
import ctypes
import logging
import threading
from types import ModuleType
from typing import Any

log = logging.getLogger("ollama_gateway.llama_cpp")

# enum ggml_log_level in the bundled ggml: NONE, DEBUG, INFO, WARN, ERROR, CONT.
_LEVELS = {
    0: logging.DEBUG,
    1: logging.DEBUG,
    2: logging.DEBUG,
    3: logging.WARNING,
    4: logging.ERROR,
}

# A llama.cpp log line can hold a whole prompt or grammar; only its start is kept.
MAX_LINE = 500

_lock = threading.Lock()
_lib: ModuleType | None = None
_callback: Any = None
_errors: collections.deque[str] = collections.deque(maxlen=8)
_line: list[str] = []
_line_level = [logging.DEBUG]


def _on_log(level: int, text: bytes, _user_data: ctypes.c_void_p) -> None:
    try:
        if level != 5:
            _line_level[0] = _LEVELS.get(level, logging.DEBUG) if level != 1 else 0
        if _line_level[0] == 0:  # ggml's own debug output: too chatty to forward
            return
        piece = text.decode("utf-8", errors="replace") if text else ""
        if sum(map(len, _line)) < MAX_LINE:  # the rest of a long line is dropped
            _line.append(piece)
        if not piece.endswith("\n"):
            return
        message = "".join(_line).rstrip()
        _line.clear()
        if len(message) > MAX_LINE:
            message = message[:MAX_LINE] + " [...]"
        if "n_ctx_seq" in message and "> n_ctx_train" in message:
            # The unified KV cache holds num_ctx x parallel cells, so llama.cpp sees a larger
            # context than the model's; the engine limits each sequence to num_ctx itself.
            _line_level[0] = logging.DEBUG
        if _line_level[0] >= logging.ERROR:
            _errors.append(message)
        if message:
            log.log(_line_level[0], "%s", message)
    except Exception:  # noqa: S110 - never let an exception cross into C
        pass


def lib() -> ModuleType:
    """``llama_cpp.llama_cpp`` (the ctypes bindings), initialised once."""
    global _lib, _callback
    if _lib is not None:
        return _lib
    with _lock:
        if _lib is None:
            try:
                import llama_cpp.llama_cpp as lc
            except ImportError as exc:  # pragma: no cover - depends on the install
                raise ImportError(
                    "the embedded engine needs llama-cpp-python: "
                    "pip install 'ollama-gateway[embedded]'"
                ) from exc
            _callback = lc.llama_log_callback(_on_log)
            lc.llama_log_set(_callback, ctypes.c_void_p(0))
            lc.llama_backend_init()
            _lib = lc
    return _lib


def take_errors() -> list[str]:
    """The llama.cpp error lines logged since the last call (for error messages)."""
    with _lock:
        errors = list(_errors)
        _errors.clear()
    return errors
