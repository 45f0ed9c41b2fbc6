"""The supervisor (``ollama-gateway run``) against stand-in ``ollama`` and gateway processes.

The stand-ins live in ``tests/support/`` (``fake_ollama_bin.py``, ``fake_gateway_bin.py``) and
append what happens to them (start, signals, pulls) to an events file the tests read.
"""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from ollama_gateway.cli import main
from ollama_gateway.cli.supervisor import exit_code_for, normalize_model_name
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[1]
SUPPORT = ROOT / "tests" / "support"
MODEL = "tiny:1b"
CLI = "import sys; from ollama_gateway.cli import main; sys.exit(main())"


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie counts as dead)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def wait_until(predicate, timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


class Harness:
    """Starts the supervisor as a real process and reads what the stand-ins recorded."""

    def __init__(self, tmp: Path) -> None:
        self.tmp = tmp
        self.events_file = tmp / "events.log"
        self.ollama_port = free_port()
        self.gateway_port = free_port()
        self.ollama_bin = tmp / "ollama"
        self.ollama_bin.write_text(
            f"#!/bin/sh\nexec {shlex.quote(sys.executable)} "
            f'{shlex.quote(str(SUPPORT / "fake_ollama_bin.py"))} "$@"\n'
        )
        self.ollama_bin.chmod(0o755)
        self.env = {
            **os.environ,
            "PYTHONPATH": str(ROOT / "src"),
            "FAKE_EVENTS": str(self.events_file),
            "FAKE_OLLAMA_MODELS": MODEL,
            "HOME": str(tmp),
        }
        for name in ("API_KEY", "OLLAMA_HOST", "MODEL_NAME", "OLLAMA_GATEWAY_MODEL"):
            self.env.pop(name, None)
        self.proc: subprocess.Popen[str] | None = None
        self.output = ""
        self.extra_pids: list[int] = []

    @property
    def ollama_url(self) -> str:
        return f"http://127.0.0.1:{self.ollama_port}"

    def start(
        self, *args: str, knobs: dict[str, str] | None = None, model: str | None = MODEL
    ) -> subprocess.Popen[str]:
        gateway_cmd = (
            f"{shlex.quote(sys.executable)} {shlex.quote(str(SUPPORT / 'fake_gateway_bin.py'))}"
        )
        argv = [
            sys.executable, "-c", CLI, "run",
            "--ollama-bin", str(self.ollama_bin),
            "--ollama-host", f"127.0.0.1:{self.ollama_port}",
            "--gateway-cmd", gateway_cmd,
            "--host", "127.0.0.1",
            "--port", str(self.gateway_port),
            *(["--model", model] if model else []),
            "--ready-timeout", "15",
            "--stop-timeout", "3",
            *args,
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            argv,
            env={**self.env, **(knobs or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        return self.proc

    def wait_exit(self, timeout: float = 15.0) -> int:
        assert self.proc is not None
        try:
            self.output, _ = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.output, _ = self.proc.communicate(timeout=5)
            raise AssertionError(
                f"supervisor still running after {timeout}s:\n{self.output}"
            ) from None
        return self.proc.returncode

    def events(self) -> list[str]:
        try:
            return self.events_file.read_text().splitlines()
        except FileNotFoundError:
            return []

    def has(self, event: str) -> bool:
        return event in self.events()

    def wait_event(self, event: str, timeout: float = 15.0) -> None:
        def seen() -> bool:
            if self.proc is not None and self.proc.poll() is not None and not self.has(event):
                out = self.proc.stdout.read() if self.proc.stdout else ""
                raise AssertionError(f"supervisor exited before {event!r}:\n{out}")
            return self.has(event)

        wait_until(seen, timeout, repr(event))

    def index(self, event: str) -> int:
        return self.events().index(event)

    def pid(self, who: str) -> int:
        for line in self.events():
            name, _, rest = line.partition(" ")
            if name == who and rest.startswith("start "):
                return int(rest.split()[1])
        raise AssertionError(f"{who} never started: {self.events()}")

    def gateway_argv(self) -> list[str]:
        for line in self.events():
            if line.startswith("gateway argv "):
                return json.loads(line[len("gateway argv ") :])
        raise AssertionError("gateway never recorded its arguments")

    def cleanup(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=5)
        pids = self.extra_pids + [
            int(line.split()[2]) for line in self.events() if line.split()[1:2] == ["start"]
        ]
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[Harness]:
    h = Harness(tmp_path)
    yield h
    h.cleanup()


def test_slow_ollama_start_is_awaited_then_sigterm_stops_gateway_then_ollama(harness: Harness):
    # A proxy in the environment must not come between the supervisor and Ollama.
    proxy = "http://127.0.0.1:9"
    knobs = {"FAKE_OLLAMA_START_DELAY": "1.5", "HTTP_PROXY": proxy, "http_proxy": proxy}
    proc = harness.start("--with-ollama", "--cors-origin", "https://app.example", knobs=knobs)
    harness.wait_event("gateway listening")

    # The gateway started only once Ollama answered, and found it answering.
    assert harness.index("ollama listening") < harness.index(
        f"gateway start {harness.pid('gateway')}"
    )
    assert harness.has("gateway ollama-answered 200")
    assert harness.gateway_argv() == [
        "serve", "--backend", "ollama", "--ollama-url", harness.ollama_url,
        "--host", "127.0.0.1", "--port", str(harness.gateway_port), "--model", MODEL,
        "--cors-origin", "https://app.example",
    ]  # fmt: skip
    url = f"http://127.0.0.1:{harness.gateway_port}/health"
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
    assert not any(e.startswith("ollama pull") for e in harness.events())  # model present

    proc.send_signal(signal.SIGTERM)
    assert harness.wait_exit() == 0
    events = harness.events()
    assert "gateway signal SIGTERM" in events
    assert "ollama signal SIGTERM" in events
    # The gateway is stopped first, so requests in flight can still reach Ollama.
    assert events.index("gateway stopped") < events.index("ollama signal SIGTERM")
    assert not alive(harness.pid("ollama")) and not alive(harness.pid("gateway"))
    assert f"model {MODEL} is present" in harness.output


def test_missing_model_is_pulled_before_the_gateway_starts(harness: Harness):
    proc = harness.start("--with-ollama", knobs={"FAKE_OLLAMA_MODELS": ""})
    harness.wait_event("gateway listening")
    assert harness.index(f"ollama pull {MODEL}") < harness.index("gateway listening")

    proc.send_signal(signal.SIGINT)
    assert harness.wait_exit() == 0
    assert harness.has("gateway signal SIGTERM") and harness.has("ollama signal SIGTERM")
    assert f"model {MODEL} is missing; pulling it" in harness.output
    assert f"pull {MODEL}: pulling abc123 100% of 4.0 MB" in harness.output
    assert f"model {MODEL} pulled" in harness.output


def test_the_model_defaults_to_model_name_from_the_environment(harness: Harness):
    knobs = {"MODEL_NAME": "other:7b", "FAKE_OLLAMA_MODELS": ""}
    proc = harness.start("--with-ollama", knobs=knobs, model=None)
    harness.wait_event("gateway listening")
    assert harness.has("ollama pull other:7b")
    assert "--model" not in harness.gateway_argv()  # serve reads MODEL_NAME itself
    proc.send_signal(signal.SIGTERM)
    assert harness.wait_exit() == 0


def test_ollama_dying_stops_the_gateway_and_fails_promptly(harness: Harness):
    harness.start("--with-ollama")
    harness.wait_event("gateway listening")
    os.kill(harness.pid("ollama"), signal.SIGKILL)
    started = time.monotonic()
    assert harness.wait_exit() == 128 + signal.SIGKILL
    assert time.monotonic() - started < 5
    assert harness.has("gateway signal SIGTERM")
    assert not alive(harness.pid("gateway"))
    assert "ollama was killed by SIGKILL; stopping the rest" in harness.output


def test_gateway_dying_stops_ollama_and_fails(harness: Harness):
    harness.start("--with-ollama", knobs={"FAKE_GATEWAY_CRASH_AFTER": "0.3"})
    assert harness.wait_exit() == 4
    assert harness.has("gateway crash")
    assert harness.has("ollama signal SIGTERM")
    assert not alive(harness.pid("ollama"))
    assert "gateway exited with code 4; stopping the rest" in harness.output


def test_ollama_dying_during_start_up_fails_without_starting_the_gateway(harness: Harness):
    knobs = {"FAKE_OLLAMA_START_DELAY": "30", "FAKE_OLLAMA_CRASH_AFTER": "0.5"}
    harness.start("--with-ollama", knobs=knobs)
    assert harness.wait_exit() == 3
    assert not any(e.startswith("gateway") for e in harness.events())


def test_ollama_that_never_answers_times_out_and_is_killed(harness: Harness):
    # SIGTERM stays pending while the stand-in sleeps, so this also covers the SIGKILL escalation.
    harness.start("--with-ollama", "--ready-timeout", "1", "--stop-timeout", "1",
                  knobs={"FAKE_OLLAMA_START_DELAY": "30"})  # fmt: skip
    started = time.monotonic()
    assert harness.wait_exit() == 1
    assert time.monotonic() - started < 10
    assert "did not answer" in harness.output
    assert "did not stop within 1s; killing it" in harness.output
    assert not alive(harness.pid("ollama"))
    assert not any(e.startswith("gateway") for e in harness.events())


def test_ollama_ignoring_sigterm_is_killed_after_the_stop_timeout(harness: Harness):
    proc = harness.start("--with-ollama", "--stop-timeout", "1",
                         knobs={"FAKE_OLLAMA_IGNORE_TERM": "1"})  # fmt: skip
    harness.wait_event("gateway listening")
    proc.send_signal(signal.SIGTERM)
    assert harness.wait_exit() == 0
    assert harness.has("ollama signal SIGTERM") and not harness.has("ollama stopped")
    assert not alive(harness.pid("ollama"))


def test_pull_error_fails_start_up(harness: Harness):
    knobs = {
        "FAKE_OLLAMA_MODELS": "",
        "FAKE_OLLAMA_PULL_ERROR": "pull model manifest: file does not exist",
    }
    harness.start("--with-ollama", knobs=knobs)
    assert harness.wait_exit() == 1
    assert f"pulling {MODEL} failed: pull model manifest: file does not exist" in harness.output
    assert harness.has("ollama signal SIGTERM")
    assert not any(e.startswith("gateway") for e in harness.events())


@pytest.mark.parametrize(
    ("knobs", "message"),
    [
        ({"FAKE_OLLAMA_PULL_STATUS": "500"}, 'HTTP 500 {"error": "pull refused for tiny:1b"}'),
        ({"FAKE_OLLAMA_PULL_CUT": "1"}, "pulling tiny:1b ended without success"),
    ],
)
def test_pull_refused_or_cut_short_fails_start_up(harness: Harness, knobs, message):
    harness.start("--with-ollama", knobs={"FAKE_OLLAMA_MODELS": "", **knobs})
    assert harness.wait_exit() == 1
    assert message in harness.output
    assert not any(e.startswith("gateway") for e in harness.events())


def test_pull_only_pulls_stops_ollama_and_exits_zero(harness: Harness):
    harness.start("--with-ollama", "--pull-only", knobs={"FAKE_OLLAMA_MODELS": ""})
    assert harness.wait_exit() == 0
    assert harness.has(f"ollama pull {MODEL}")
    assert harness.has("ollama stopped")
    assert not any(e.startswith("gateway") for e in harness.events())


def test_no_pull_starts_the_gateway_even_if_the_model_is_missing(harness: Harness):
    proc = harness.start("--with-ollama", "--no-pull", knobs={"FAKE_OLLAMA_MODELS": ""})
    harness.wait_event("gateway listening")
    proc.send_signal(signal.SIGTERM)
    assert harness.wait_exit() == 0
    assert not any(e.startswith("ollama pull") for e in harness.events())


def test_external_ollama_is_awaited_and_pulled_into_but_not_signalled(harness: Harness):
    env = {**harness.env, "OLLAMA_HOST": f"127.0.0.1:{harness.ollama_port}",
           "FAKE_OLLAMA_MODELS": "", "FAKE_OLLAMA_START_DELAY": "1"}  # fmt: skip
    ollama = subprocess.Popen([str(harness.ollama_bin), "serve"], env=env)
    harness.extra_pids.append(ollama.pid)
    try:
        proc = harness.start("--ollama-url", f"127.0.0.1:{harness.ollama_port}")
        harness.wait_event("gateway listening")
        assert harness.index(f"ollama pull {MODEL}") < harness.index("gateway listening")
        proc.send_signal(signal.SIGTERM)
        assert harness.wait_exit() == 0
        assert harness.has("gateway signal SIGTERM")
        assert not harness.has("ollama signal SIGTERM")
        assert ollama.poll() is None
    finally:
        ollama.terminate()
        ollama.wait(timeout=5)


def test_missing_ollama_binary_fails_clearly(harness: Harness):
    harness.start("--with-ollama", "--ollama-bin", str(harness.tmp / "no-such-ollama"))
    assert harness.wait_exit() == 1
    assert "cannot start ollama" in harness.output


# --- the command line, in process -------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give exactly one of --with-ollama and --ollama-url"),
        (["--with-ollama", "--ollama-url", "http://x:1"], "give exactly one of"),
        (["--with-ollama", "--backend", "embedded"], "`run` sets --backend itself"),
        (["--with-ollama", "--ollama-url=http://x:1"], "give exactly one of"),
        (["--with-ollama", "--", "--ollama-url=http://x:1"], "`run` sets --ollama-url itself"),
        (["--with-ollama", "--ollama-host", "ftp://x"], "unsupported scheme"),
    ],
)
def test_run_refuses_contradictory_flags(args: list[str], message: str):
    result = CliRunner().invoke(main, ["run", "--model", MODEL, *args])
    assert result.exit_code == 2, result.output
    assert message in result.output


@pytest.mark.parametrize(
    ("name", "listed"),
    [
        ("llama2", "llama2:latest"),
        ("llama2:latest", "llama2:latest"),
        ("deepseek-r1:1.5b", "deepseek-r1:1.5b"),
        ("library/qwen2", "qwen2:latest"),
        ("registry.ollama.ai/library/qwen2:7b", "qwen2:7b"),
        ("user/model", "user/model:latest"),
        ("hf.co/org/repo:Q4_K_M", "hf.co/org/repo:Q4_K_M"),
        ("localhost:5000/model", "localhost:5000/model:latest"),
    ],
)
def test_model_names_compare_as_ollama_lists_them(name: str, listed: str):
    assert normalize_model_name(name) == listed


@pytest.mark.parametrize(("returncode", "code"), [(3, 3), (0, 1), (-9, 137), (-15, 143)])
def test_a_dead_child_always_means_a_non_zero_exit(returncode: int, code: int):
    assert exit_code_for(returncode) == code


class _Health(BaseHTTPRequestHandler):
    status = 200

    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health" else 404)
        self.send_header("Content-Length", "0")
        self.end_headers()


@pytest.fixture
def health_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("H", (_Health,), {}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_healthcheck_passes_on_200(health_server: ThreadingHTTPServer):
    port = health_server.server_address[1]
    result = CliRunner().invoke(main, ["healthcheck", "--port", str(port), "--timeout", "3"])
    assert result.exit_code == 0, result.output
    assert result.output == "healthy\n"


def test_healthcheck_ignores_proxy_settings(health_server, monkeypatch):
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:9")
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:9")
    port = health_server.server_address[1]
    result = CliRunner().invoke(main, ["healthcheck", "--port", str(port), "--timeout", "3"])
    assert result.exit_code == 0, result.output


def test_healthcheck_fails_on_503(health_server: ThreadingHTTPServer):
    health_server.RequestHandlerClass.status = 503
    url = f"http://127.0.0.1:{health_server.server_address[1]}/health"
    result = CliRunner().invoke(main, ["healthcheck", "--url", url, "--timeout", "3"])
    assert result.exit_code == 1
    assert f"unhealthy: {url} answered 503" in result.output


def test_healthcheck_fails_when_nothing_listens():
    result = CliRunner().invoke(main, ["healthcheck", "--port", str(free_port()), "--timeout", "3"])
    assert result.exit_code == 1
    assert "Connection refused" in result.output


def test_healthcheck_reads_the_port_from_settings(health_server, monkeypatch):
    monkeypatch.setenv("OLLAMA_GATEWAY_PORT", str(health_server.server_address[1]))
    result = CliRunner().invoke(main, ["healthcheck", "--timeout", "3"])
    assert result.exit_code == 0, result.output
