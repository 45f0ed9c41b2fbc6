"""Shared by the peer-suite runners: the gateway on the real model, and result bookkeeping.

Each runner starts ``ollama-gateway serve --model smollm2:135m`` (the packaged SmolLM2-135M-
Instruct, see tests/support/realmodel.py) with an API key, drives it with another project's
code, and compares what failed with the failures explained in docs/peers.md (``known``): an
unexplained failure, or an explained one that now passes, fails the run.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path[:0] = [str(ROOT / "src"), str(ROOT)]

from tests.support.realmodel import MODEL, smollm2_gateway  # noqa: E402

KEY = "ci-peers-key-5b8e0d6a1c3f4e2b"
# Generation is bounded so that a model that rambles cannot stretch CI: every request's
# num_predict / max_tokens is capped at this (the gateway's --max-predict).
MAX_PREDICT = "256"


@contextmanager
def gateway(workdir: Path) -> Iterator[str]:
    """The gateway on the real model, keyed with :data:`KEY`; yields its URL."""
    with smollm2_gateway(workdir, "--max-predict", MAX_PREDICT, key=KEY, parallel=2) as url:
        yield url


def compare(results: dict[str, str], known: dict[str, str], suite: str) -> int:
    """Print every result; return 1 when a failure is unexplained or an explained one passed."""
    failed = {name for name, outcome in results.items() if outcome in ("failed", "error")}
    unexplained = sorted(failed - known.keys())
    fixed = sorted(name for name in known if results.get(name) == "passed")
    missing = sorted(name for name in known if name not in results)
    counts: dict[str, int] = {}
    for outcome in results.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    print(
        f"\n== {suite} against {MODEL}: " + ", ".join(f"{n} {o}" for o, n in sorted(counts.items()))
    )
    for name in sorted(failed & known.keys()):
        print(f"  known   {name}: {known[name]}")
    for name in unexplained:
        print(f"  NEW     {name}: failed, and docs/peers.md does not explain it")
    for name in fixed:
        print(f"  FIXED   {name}: passes now; remove it from docs/peers.md and the known list")
    for name in missing:
        print(f"  GONE    {name}: listed as known but did not run")
    return 1 if unexplained or fixed or missing else 0


__all__ = ["KEY", "MODEL", "ROOT", "compare", "gateway"]
