"""What the request metrics cost per request: the hand-made instruments against prometheus-client's.

    python bench/metrics_cost.py [--requests 20000]

``observability/metrics_hot.py`` keeps the per-request instruments (request count and duration,
requests in flight, time to first token, prompt and generated tokens, decode speed) as plain
numbers rendered at scrape time. The alternative is prometheus-client's own ``Counter``,
``Histogram`` and ``Gauge`` with the same names, labels and buckets (built here, as the gateway
would build them). For each, this runs the updates one generation request makes (in flight up and
down, one request observed, one first token, one finished generation's tokens) and reports per
request, in the same run:

- Python bytecodes executed (``sys.settrace`` opcode events; exact, untouched by other load);
- CPU time (``time.process_time``, the lowest of 15 rounds; inflated by other load).

For scale it then measures the whole gateway's work for the seed call in-process (as
``bench/app_cost.py`` does: an instant backend, keys, access log), so the difference can be read
as a share of a request.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram  # noqa: E402

from ollama_gateway.observability import metrics_hot  # noqa: E402
from ollama_gateway.observability.metrics import LabelCap  # noqa: E402

P = metrics_hot.PREFIX


class ClientHttp:
    """The request instruments on prometheus-client (what metrics_hot.HttpStats replaces)."""

    def __init__(self, r: CollectorRegistry) -> None:
        self.in_flight = 0
        labels = ["route", "method", "status"]
        self.requests = Counter(P + "requests", "HTTP requests.", labels, registry=r)
        self.durations = Histogram(
            P + "request_duration_seconds",
            "Duration.",
            ["route", "method"],
            buckets=metrics_hot.REQUEST_BUCKETS,
            registry=r,
        )
        gauge = Gauge(P + "requests_in_flight", "In flight.", registry=r)
        gauge.set_function(lambda: self.in_flight)

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        if method not in metrics_hot.METHODS:
            method = metrics_hot.OVERFLOW
        self.requests.labels(route, method, str(status)).inc()
        self.durations.labels(route, method).observe(seconds)


class ClientGenerations:
    """The generation instruments on prometheus-client (what GenerationStats replaces)."""

    def __init__(self, r: CollectorRegistry, label: Callable[[str], str]) -> None:
        self.label = label
        self.first = Histogram(
            P + "time_to_first_token_seconds",
            "TTFT.",
            ["model"],
            buckets=metrics_hot.FIRST_TOKEN_BUCKETS,
            registry=r,
        )
        self.prompt = Counter(P + "prompt_tokens", "Prompt tokens.", ["model"], registry=r)
        self.generated = Counter(P + "generated_tokens", "Generated.", ["model"], registry=r)
        self.speed = Histogram(
            P + "generation_tokens_per_second",
            "Speed.",
            ["model"],
            buckets=metrics_hot.SPEED_BUCKETS,
            registry=r,
        )

    def first_token(self, model: str, seconds: float) -> None:
        self.first.labels(self.label(model)).observe(max(0.0, seconds))

    def tokens(self, model: str, prompt: int, generated: int, seconds: float) -> None:
        label = self.label(model)
        if prompt > 0:
            self.prompt.labels(label).inc(prompt)
        if generated > 0:
            self.generated.labels(label).inc(generated)
            if seconds > 0:
                self.speed.labels(label).observe(generated / seconds)


def _build(kind: str) -> tuple[object, object]:
    label = LabelCap(32)
    if kind == "hand-made":
        return metrics_hot.HttpStats(), metrics_hot.GenerationStats(label, 128)
    registry = CollectorRegistry(auto_describe=True)
    return ClientHttp(registry), ClientGenerations(registry, label)


def _one_request(http, generations) -> None:  # what one seed call updates
    http.in_flight += 1
    generations.first_token("deepseek-r1:1.5b", 0.012)
    generations.tokens("deepseek-r1:1.5b", 9, 4, 0.04)
    http.in_flight -= 1
    http.observe("/api/generate", "POST", 200, 0.0031)


def measure(kind: str, requests: int) -> dict[str, float]:
    http, generations = _build(kind)
    for _ in range(1000):
        _one_request(http, generations)
    ops = 0

    def trace(frame, event, arg):
        nonlocal ops
        frame.f_trace_opcodes = True
        if event == "opcode":
            ops += 1
        return trace

    sys.settrace(trace)
    for _ in range(100):
        _one_request(http, generations)
    sys.settrace(None)
    rounds = []
    for _ in range(15):
        started = time.process_time()
        for _ in range(requests // 15):
            _one_request(http, generations)
        rounds.append((time.process_time() - started) / (requests // 15) * 1e6)
    return {"ops": ops / 100, "cpu_us": min(rounds)}


def gateway_seed_call() -> dict[str, float]:
    """The whole gateway's seed call in-process, from bench/app_cost.py's child."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    command = [sys.executable, str(ROOT / "bench" / "app_cost.py"), "--child", "--requests", "600"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])["seed call"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=20000)
    args = parser.parse_args()
    results = {kind: measure(kind, args.requests) for kind in ("hand-made", "prometheus-client")}
    seed = gateway_seed_call()
    print("$ " + " ".join([sys.executable, *sys.argv]))
    base = results["hand-made"]
    print(f"{'per request':<20}{'bytecodes':>10}{'ratio':>7}{'CPU':>10}{'ratio':>7}")
    for kind, r in results.items():
        print(
            f"{kind:<20}{r['ops']:>10.0f}{r['ops'] / base['ops']:>7.2f}"
            f"{r['cpu_us']:>8.2f}us{r['cpu_us'] / base['cpu_us']:>7.2f}"
        )
    extra = results["prometheus-client"]
    d_ops, d_cpu = extra["ops"] - base["ops"], extra["cpu_us"] - base["cpu_us"]
    print(
        f"the seed call through the whole gateway: {seed['ops']:.0f} bytecodes, "
        f"{seed['cpu_us']:.1f}us CPU"
    )
    print(
        f"prometheus-client's instruments would add {d_ops:.0f} bytecodes "
        f"({100 * d_ops / seed['ops']:.1f}% of the seed call) and {d_cpu:.2f}us CPU "
        f"({100 * d_cpu / seed['cpu_us']:.1f}%) per request"
    )


if __name__ == "__main__":
    main()
