"""Run Ollama and the gateway together, and never leave half of them alive.

This is the container's entry point (``ollama-gateway run --with-ollama``):

1. start ``ollama serve`` (listening on loopback only) and wait until ``GET /api/version``
   answers, with a timeout;
2. pull the default model through Ollama's ``POST /api/pull`` when ``GET /api/tags`` lacks it,
   logging the progress;
3. start the gateway (``ollama-gateway serve --backend ollama ...``) as a child process;
4. wait. SIGTERM or SIGINT stops the gateway first (so requests in flight can finish while Ollama
   still answers), then Ollama, and the supervisor exits 0. If either child exits on its own, the
   other is stopped and the supervisor exits non-zero: a container is whole or gone.

Without a local Ollama (``ollama_argv=None``) the same steps wait for, and pull into, an Ollama
that runs elsewhere (the compose file's ``ollama`` service).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import time
from collections.abc import Awaitable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from ollama_gateway.core.names import full_name

log = logging.getLogger("ollama_gateway.cli.supervisor")

EXIT_OK = 0
EXIT_FAILURE = 1


class SupervisorError(Exception):
    """Start-up failed: Ollama missing or silent, or the model could not be pulled."""


@dataclass
class SupervisorConfig:
    """What to run. The CLI (``ollama-gateway run``) builds this from its flags."""

    gateway_argv: Sequence[str]
    ollama_url: str | None = None
    ollama_argv: Sequence[str] | None = None
    ollama_env: Mapping[str, str] = field(default_factory=dict)
    model: str | None = None
    pull: bool = True
    pull_only: bool = False
    ready_timeout: float = 120.0
    pull_timeout: float = 3600.0
    stop_timeout: float = 35.0


def normalize_model_name(name: str) -> str:
    """The name Ollama lists a model under: library prefix dropped, ``:latest`` added.

    >>> normalize_model_name("llama2"), normalize_model_name("registry.ollama.ai/library/qwen2:7b")
    ('llama2:latest', 'qwen2:7b')
    >>> normalize_model_name("hf.co/org/repo"), normalize_model_name("localhost:5000/m")
    ('hf.co/org/repo:latest', 'localhost:5000/m:latest')
    """
    name = name.strip()
    for prefix in ("registry.ollama.ai/library/", "registry.ollama.ai/", "library/"):
        if name.startswith(prefix):
            name = name[len(prefix) :]
            break
    return full_name(name)


def exit_code_for(returncode: int) -> int:
    """A non-zero exit code for a child that died: its own, 128+signal, or 1 for a clean exit."""
    if returncode > 0:
        return returncode
    if returncode < 0:
        return 128 - returncode
    return EXIT_FAILURE


class Child:
    """One supervised process, started in its own session so only we signal it."""

    def __init__(self, name: str, proc: asyncio.subprocess.Process) -> None:
        self.name = name
        self.proc = proc
        self.exited: asyncio.Future[int] = asyncio.ensure_future(proc.wait())

    @classmethod
    async def spawn(cls, name: str, argv: Sequence[str], env: Mapping[str, str] | None) -> Child:
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, env=dict(env) if env is not None else None, start_new_session=True
            )
        except OSError as exc:
            raise SupervisorError(f"cannot start {name} ({argv[0]}): {exc.strerror}") from None
        log.info("started %s (pid %d)", name, proc.pid)
        return cls(name, proc)

    def describe(self) -> str:
        code = self.proc.returncode
        if code is not None and code < 0:
            return f"{self.name} was killed by {signal.Signals(-code).name}"
        return f"{self.name} exited with code {code}"

    def kill(self) -> None:
        """SIGKILL the child's whole process group (Ollama's runners included)."""
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.proc.pid, signal.SIGKILL)

    async def stop(self, timeout: float) -> None:
        """SIGTERM, then SIGKILL after ``timeout`` seconds."""
        if not self.exited.done():
            log.info("sending SIGTERM to %s (pid %d)", self.name, self.proc.pid)
            with contextlib.suppress(ProcessLookupError):
                self.proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(asyncio.shield(self.exited), timeout)
            except asyncio.TimeoutError:
                log.warning("%s did not stop within %.0fs; killing it", self.name, timeout)
        # Whatever the leader did, nothing it started may outlive it.
        self.kill()
        await self.exited


class Supervisor:
    """Runs the steps in the module docstring; :meth:`run` returns the exit code."""

    def __init__(self, config: SupervisorConfig) -> None:
        self.config = config
        self._children: list[Child] = []
        self._stop = asyncio.Event()

    # --- signals ---------------------------------------------------------------------------
    def _on_signal(self, sig: signal.Signals) -> None:
        if self._stop.is_set():
            log.warning("second %s: killing every child now", sig.name)
            for child in self._children:
                child.kill()
            return
        log.info("received %s; stopping", sig.name)
        self._stop.set()

    # --- the steps -------------------------------------------------------------------------
    async def run(self) -> int:
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)
        for sig in signals:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            return await self._run()
        except SupervisorError as exc:
            log.error("%s", exc)
            return EXIT_FAILURE
        finally:
            for child in reversed(self._children):  # the gateway first, Ollama last
                await child.stop(self.config.stop_timeout)
            for sig in signals:
                loop.remove_signal_handler(sig)

    async def _run(self) -> int:
        cfg = self.config
        if cfg.ollama_argv is not None:
            self._children.append(await Child.spawn("ollama", cfg.ollama_argv, self._ollama_env()))
        if cfg.ollama_url is not None:
            # trust_env=False: a proxy from HTTP_PROXY must never sit between us and Ollama.
            async with httpx.AsyncClient(base_url=cfg.ollama_url, trust_env=False) as client:
                code = await self._step(self._wait_ready(client))
                if code is None and cfg.model and (cfg.pull or cfg.pull_only):
                    code = await self._step(self._ensure_model(client, cfg.model))
            if code is not None:
                return code
        if cfg.pull_only:
            log.info("pull done; stopping")
            return EXIT_OK
        self._children.append(await Child.spawn("gateway", cfg.gateway_argv, None))
        code = await self._step(None)  # only a signal or a death ends this one
        assert code is not None
        return code

    def _ollama_env(self) -> dict[str, str]:
        return {**os.environ, **self.config.ollama_env}

    async def _step(self, work: Awaitable[None] | None) -> int | None:
        """Await ``work`` (or nothing), cut short by a stop signal or by any child dying.

        Returns None when the work finished, else the supervisor's exit code.
        """
        task = asyncio.ensure_future(work) if work is not None else None
        stop = asyncio.ensure_future(self._stop.wait())
        waiters: set[asyncio.Future[Any]] = {stop, *(c.exited for c in self._children)}
        if task is not None:
            waiters.add(task)
        try:
            await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._stop.is_set():
            return EXIT_OK
        for child in self._children:
            if child.exited.done():
                log.error("%s; stopping the rest", child.describe())
                return exit_code_for(child.exited.result())
        assert task is not None
        task.result()  # raises SupervisorError when the step failed
        return None

    async def _wait_ready(self, client: httpx.AsyncClient) -> None:
        """Poll ``GET /api/version`` (backing off to 1 s) until it answers 200 or time runs out."""
        timeout = self.config.ready_timeout
        deadline = time.monotonic() + timeout
        delay = 0.05
        log.info("waiting for Ollama at %s (up to %.0fs)", client.base_url, timeout)
        while True:
            try:
                response = await client.get("/api/version", timeout=2.0)
                if response.status_code == 200:
                    version = response.json().get("version", "?")
                    log.info("Ollama %s answers at %s", version, client.base_url)
                    return
            except (httpx.HTTPError, ValueError):
                pass
            if time.monotonic() + delay > deadline:
                raise SupervisorError(f"Ollama did not answer at {client.base_url} in {timeout}s")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 1.0)

    async def _ensure_model(self, client: httpx.AsyncClient, model: str) -> None:
        """Pull ``model`` unless Ollama lists it already."""
        try:
            response = await client.get("/api/tags", timeout=10.0)
            response.raise_for_status()
            listed = response.json().get("models") or []
        except (httpx.HTTPError, ValueError) as exc:
            raise SupervisorError(f"cannot list Ollama's models: {exc}") from None
        names = {normalize_model_name(m.get("name") or m.get("model") or "") for m in listed}
        if normalize_model_name(model) in names:
            log.info("model %s is present", model)
            return
        log.info("model %s is missing; pulling it", model)
        try:
            await asyncio.wait_for(self._pull(client, model), self.config.pull_timeout)
        except asyncio.TimeoutError:
            raise SupervisorError(
                f"pulling {model} took longer than {self.config.pull_timeout}s"
            ) from None
        except httpx.HTTPError as exc:
            raise SupervisorError(f"pulling {model} failed: {exc}") from None
        log.info("model %s pulled", model)

    async def _pull(self, client: httpx.AsyncClient, model: str) -> None:
        progress = PullProgress(model)
        timeout = httpx.Timeout(10.0, read=300.0)
        body = {"model": model, "stream": True}
        async with client.stream("POST", "/api/pull", json=body, timeout=timeout) as response:
            if response.status_code != 200:
                text = (await response.aread()).decode(errors="replace")
                raise SupervisorError(f"pulling {model} failed: HTTP {response.status_code} {text}")
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    raise SupervisorError(f"pulling {model}: unreadable line {line!r}") from None
                if event.get("error"):
                    raise SupervisorError(f"pulling {model} failed: {event['error']}")
                progress.update(event)
        if not progress.succeeded:
            raise SupervisorError(f"pulling {model} ended without success")


class PullProgress:
    """Turns Ollama's pull events into a few log lines: each new status, every 10 %."""

    def __init__(self, model: str) -> None:
        self.model = model
        self.succeeded = False
        self._status: str | None = None
        self._decile = -1

    def update(self, event: Mapping[str, object]) -> None:
        status = str(event.get("status", ""))
        if status == "success":
            self.succeeded = True
        total, completed = event.get("total"), event.get("completed")
        if status != self._status:
            self._status, self._decile = status, -1
            if not isinstance(total, int):
                log.info("pull %s: %s", self.model, status)
        if isinstance(total, int) and total > 0 and isinstance(completed, int):
            decile = min(10, completed * 10 // total)
            if decile > self._decile:
                self._decile = decile
                log.info(
                    "pull %s: %s %d%% of %.1f MB", self.model, status, decile * 10, total / 1e6
                )


def run_supervisor(config: SupervisorConfig) -> int:
    """Run the supervisor on a fresh event loop; returns the process exit code."""
    return asyncio.run(Supervisor(config).run())
