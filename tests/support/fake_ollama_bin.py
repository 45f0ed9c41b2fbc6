"""A stand-in ``ollama`` executable for the deployment tests.

Standard library only. ``serve`` listens on ``OLLAMA_HOST`` (host:port) and answers
``GET /api/version``, ``GET /api/tags`` and ``POST /api/pull`` (streamed NDJSON, as Ollama does).
``list``, ``show NAME`` and ``pull NAME`` are the client side, talking to that server as Ollama's
CLI does (exit 1 when it cannot). Knobs, from the environment:

    FAKE_OLLAMA_START_DELAY   seconds to wait before listening (a slow start)
    FAKE_OLLAMA_CRASH_AFTER   seconds after start, then exit with FAKE_OLLAMA_CRASH_CODE (3)
    FAKE_OLLAMA_MODELS        comma-separated models present at start ("" or unset: none)
    FAKE_OLLAMA_PULL_ERROR    if set, every pull streams {"error": <this>}
    FAKE_OLLAMA_PULL_STATUS   if set, every pull answers this HTTP status with {"error": ...}
    FAKE_OLLAMA_PULL_CUT      if set, the pull stream ends before its "success" line
    FAKE_OLLAMA_IGNORE_TERM   if set, SIGTERM is recorded but ignored (SIGKILL escalation)
    FAKE_EVENTS               file that gets one line per event: "ollama <event> [detail]"
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODELS: list[str] = [m for m in os.environ.get("FAKE_OLLAMA_MODELS", "").split(",") if m]
LOCK = threading.Lock()


def record(event: str) -> None:
    path = os.environ.get("FAKE_EVENTS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"ollama {event}\n")


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _json(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/api/version":
            self._json(200, {"version": "0.0.0-fake"})
        elif self.path == "/api/tags":
            with LOCK:
                models = [{"name": m, "model": m, "size": 1} for m in MODELS]
            self._json(200, {"models": models})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path != "/api/pull":
            self._json(404, {"error": "not found"})
            return
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        name = body.get("model") or body.get("name") or ""
        record(f"pull {name}")
        status = os.environ.get("FAKE_OLLAMA_PULL_STATUS")
        if status:
            self._json(int(status), {"error": f"pull refused for {name}"})
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/x-ndjson")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        error = os.environ.get("FAKE_OLLAMA_PULL_ERROR")
        events: list[dict[str, object]] = [{"status": "pulling manifest"}]
        if error:
            events.append({"error": error})
        else:
            total = 4_000_000
            events += [
                {
                    "status": "pulling abc123",
                    "digest": "sha256:abc123",
                    "total": total,
                    "completed": c,
                }
                for c in (0, 1_000_000, 2_500_000, total)
            ]
            events += [{"status": "verifying sha256 digest"}, {"status": "writing manifest"}]
            if not os.environ.get("FAKE_OLLAMA_PULL_CUT"):
                events.append({"status": "success"})
        for event in events:
            line = json.dumps(event).encode() + b"\n"
            self.wfile.write(b"%x\r\n%s\r\n" % (len(line), line))
            self.wfile.flush()
            time.sleep(0.01)
        self.wfile.write(b"0\r\n\r\n")
        if not error and not os.environ.get("FAKE_OLLAMA_PULL_CUT"):
            with LOCK:
                MODELS.append(name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest")


def client(command: str, name: str | None) -> int:
    """``ollama list`` / ``show NAME`` / ``pull NAME`` against the server at OLLAMA_HOST."""
    base = "http://" + os.environ.get("OLLAMA_HOST", "127.0.0.1:11434")
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        if command == "pull":
            data = json.dumps({"model": name}).encode()
            with opener.open(f"{base}/api/pull", data=data, timeout=10) as response:
                lines = [json.loads(line) for line in response.read().splitlines() if line]
            failed = [e["error"] for e in lines if "error" in e]
            print(f"Error: {failed[0]}" if failed else "success")
            return 1 if failed else 0
        with opener.open(f"{base}/api/tags", timeout=5) as response:
            names = [m["name"] for m in json.loads(response.read())["models"]]
    except (urllib.error.URLError, OSError):
        print("Error: could not connect to ollama app, is it running?", file=sys.stderr)
        return 1
    if command == "list":
        print("\n".join(["NAME", *names]))
        return 0
    assert name is not None
    wanted = name if ":" in name.rsplit("/", 1)[-1] else f"{name}:latest"
    if wanted in names:
        print(f"Model\n  name {wanted}")
        return 0
    print(f"Error: model '{name}' not found", file=sys.stderr)
    return 1


def main() -> int:
    args = sys.argv[1:]
    if args == ["list"] or (len(args) == 2 and args[0] in ("show", "pull")):
        return client(args[0], args[1] if len(args) == 2 else None)
    if args != ["serve"]:
        print(f"fake ollama: unsupported arguments {args}", file=sys.stderr)
        return 2
    host, _, port = os.environ.get("OLLAMA_HOST", "127.0.0.1:11434").rpartition(":")
    # Signals are taken synchronously by sigwait below; block them before any thread starts.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    record(f"start {os.getpid()}")
    # Like Ollama, make an identity key on first start (images must not ship it).
    key = os.path.join(os.path.expanduser("~"), ".ollama", "id_ed25519")
    os.makedirs(os.path.dirname(key), exist_ok=True)
    if not os.path.exists(key):
        with open(key, "w", encoding="utf-8") as f:
            f.write("fake private key\n")
    crash_after = os.environ.get("FAKE_OLLAMA_CRASH_AFTER")
    if crash_after:
        code = int(os.environ.get("FAKE_OLLAMA_CRASH_CODE", "3"))

        def crash() -> None:
            record("crash")
            os._exit(code)

        timer = threading.Timer(float(crash_after), crash)
        timer.daemon = True
        timer.start()
    time.sleep(float(os.environ.get("FAKE_OLLAMA_START_DELAY", "0")))
    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    record("listening")
    while True:
        sig = signal.sigwait({signal.SIGTERM, signal.SIGINT})
        record(f"signal {signal.Signals(sig).name}")
        if not os.environ.get("FAKE_OLLAMA_IGNORE_TERM"):
            break
    server.shutdown()
    record("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
