"""A stand-in for ``ollama-gateway`` in the supervisor's tests: ``fake_gateway_bin.py serve ...``.

Standard library only. Accepts ``serve`` with the flags the supervisor passes, records them,
checks that Ollama answers at ``--ollama-url`` when it starts, and serves ``GET /health`` on
``--host``/``--port``. Knobs, from the environment:

    FAKE_GATEWAY_CRASH_AFTER   seconds after listening, then exit with FAKE_GATEWAY_CRASH_CODE (4)
    FAKE_EVENTS                file that gets one line per event: "gateway <event> [detail]"
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def record(event: str) -> None:
    path = os.environ.get("FAKE_EVENTS")
    if path:
        with open(path, "a", encoding="utf-8") as f:
            f.write(f"gateway {event}\n")


class Handler(BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

    def do_GET(self) -> None:
        status = 200 if self.path == "/health" else 404
        body = b'{"status":"ok"}'
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["serve"])
    parser.add_argument("--backend")
    parser.add_argument("--ollama-url")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--model")
    args, _unknown = parser.parse_known_args()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM, signal.SIGINT})
    record(f"start {os.getpid()}")
    record("argv " + json.dumps(sys.argv[1:]))
    try:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"{args.ollama_url}/api/version", timeout=2) as response:
            record(f"ollama-answered {response.status}")
    except OSError as exc:
        record(f"ollama-unreachable {exc}")
    server = ThreadingHTTPServer((args.host, args.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    record("listening")
    crash_after = os.environ.get("FAKE_GATEWAY_CRASH_AFTER")
    if crash_after:
        code = int(os.environ.get("FAKE_GATEWAY_CRASH_CODE", "4"))

        def crash() -> None:
            record("crash")
            os._exit(code)

        timer = threading.Timer(float(crash_after), crash)
        timer.daemon = True
        timer.start()
    sig = signal.sigwait({signal.SIGTERM, signal.SIGINT})
    record(f"signal {signal.Signals(sig).name}")
    server.shutdown()
    record("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
