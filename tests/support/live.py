"""Run an ASGI app with uvicorn on a loopback port in a background thread."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn


class _Server(uvicorn.Server):
    """uvicorn's server, whose main loop also wakes when :meth:`LiveServer.stop` asks, instead of
    only on its 0.1 s tick: each of the suite's hundreds of live gateways stops that much sooner."""

    async def main_loop(self) -> None:
        self.wake = asyncio.Event()
        self.loop = asyncio.get_running_loop()
        counter = 0
        while not await self.on_tick(counter):
            counter = (counter + 1) % 864000
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self.wake.wait(), 0.1)

    def stop_soon(self) -> None:
        self.should_exit = True
        loop = getattr(self, "loop", None)
        if loop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                loop.call_soon_threadsafe(self.wake.set)


class LiveServer:
    def __init__(self, app, port: int = 0) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.port = self.sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="on")
        self.server = _Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def start(self, timeout: float = 30.0) -> str:
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError("the server exited during startup")
            if time.monotonic() > deadline:
                raise RuntimeError("the server did not start in time")
            time.sleep(0.01)
        return self.url

    def stop(self) -> None:
        self.server.stop_soon()
        self.thread.join(15)
        self.sock.close()


@contextmanager
def serve(app) -> Iterator[str]:
    server = LiveServer(app)
    url = server.start()
    try:
        yield url
    finally:
        server.stop()


def wait_ready(url: str, timeout: float = 60.0, headers: dict[str, str] | None = None) -> dict:
    """Poll ``/ready`` until it answers 200 (e.g. the default model finished loading in the
    background); returns its body, or fails with the last answer once ``timeout`` has passed."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        r = httpx.get(url + "/ready", headers=headers, timeout=10)
        if r.status_code == 200:
            return r.json()
        if time.monotonic() > deadline:
            raise AssertionError(f"not ready after {timeout} s: {r.status_code} {r.text}")
        time.sleep(0.05)
