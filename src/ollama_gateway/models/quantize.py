"""Quantizing a GGUF model with llama.cpp's quantizer (``llama_model_quantize``).

The quantizer runs in a child process (``python -m ollama_gateway.models.quantize``) that the
worker thread waits on: it can be stopped when the client leaves (llama.cpp's quantizer has no
cancel hook), and a file that makes llama.cpp abort takes the child down, not the server.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from ollama_gateway.errors import BadRequest, GatewayError, clip

# Ollama's quantization names -> llama.cpp's llama_ftype values (llama.h).
TYPES: dict[str, int] = {
    "Q4_0": 2,
    "Q4_1": 3,
    "Q8_0": 7,
    "Q5_0": 8,
    "Q5_1": 9,
    "Q2_K": 10,
    "Q3_K_S": 11,
    "Q3_K_M": 12,
    "Q3_K_L": 13,
    "Q4_K_S": 14,
    "Q4_K_M": 15,
    "Q5_K_S": 16,
    "Q5_K_M": 17,
    "Q6_K": 18,
}
ALIASES = {"Q4_K": "Q4_K_M", "Q5_K": "Q5_K_M", "Q3_K": "Q3_K_M"}
# What a model may be quantized from: unquantized weights, or Q8_0 (requantized, as llama.cpp's
# llama-quantize --allow-requantize does).
SOURCES = frozenset({"F32", "F16", "BF16", "Q8_0"})


class QuantizeCancelled(Exception):
    """The quantization was stopped (the client left or the server is stopping)."""


def quantize_type(name: str) -> str:
    """The canonical name of a quantization type; BadRequest (Ollama's message) when unknown."""
    upper = name.strip().upper()
    upper = ALIASES.get(upper, upper)
    if upper not in TYPES:
        raise BadRequest(
            f"unsupported quantization type {clip(name, 32)} - supported types are "
            + ", ".join(TYPES)
        )
    return upper


def check_source(file_type: str, target: str) -> None:
    if file_type not in SOURCES:
        raise BadRequest(
            f"quantization is only supported for {', '.join(sorted(SOURCES))} models, "
            f"not {file_type or 'unknown'}"
        )


def quantize_file(
    source: Path,
    destination: Path,
    target: str,
    cancel: threading.Event,
    threads: int = 0,
    progress: Callable[[int], None] | None = None,
) -> None:
    """Blocking: write ``source`` quantized to ``target`` at ``destination``; ``progress`` is
    called about once a second with the bytes written so far (a long quantization keeps its
    client's connection busy)."""
    cmd = [
        sys.executable,
        "-m",
        "ollama_gateway.models.quantize",
        str(source),
        str(destination),
        target,
        str(threads or os.cpu_count() or 1),
    ]
    # The arguments are this interpreter, this module, store paths and a checked type name.
    with subprocess.Popen(  # noqa: S603
        cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as child:
        ticks = 0
        while True:
            try:
                _, err = child.communicate(timeout=0.1)
                break
            except subprocess.TimeoutExpired:
                if cancel.is_set():
                    child.kill()
                    child.communicate()
                    raise QuantizeCancelled from None
                ticks += 1
                if progress is not None and ticks % 10 == 0:
                    progress(_size(destination))
        if child.returncode != 0:
            tail = err.decode("utf-8", "replace").strip().splitlines()[-3:]
            raise GatewayError("quantization failed: " + clip(" ".join(tail) or "no reason given"))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def _main(argv: list[str]) -> int:
    source, destination, target, threads = argv
    from ollama_gateway.backends.llama_cpp._lib import lib

    lc = lib()
    params = lc.llama_model_quantize_default_params()
    params.ftype = TYPES[target]
    params.allow_requantize = True
    params.nthread = int(threads)
    rc = lc.llama_model_quantize(source.encode(), destination.encode(), params)
    if rc != 0:
        print(f"llama_model_quantize returned {rc}", file=sys.stderr)
    return 1 if rc else 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))
