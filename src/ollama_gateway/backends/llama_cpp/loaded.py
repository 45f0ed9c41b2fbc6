"""Loaded models: load on demand, keep for ``keep_alive``, evict least recently used.

Ollama's rules: ``keep_alive`` is in seconds; 0 unloads as soon as the model's last request
ends; a negative value keeps it forever; ``None`` takes the server default. At most
``max_loaded_models`` are loaded; to make room the least recently used idle model goes first. A
model with requests running is never unloaded (a new load then waits for one to become idle).
All llama.cpp work (load, free) runs in worker threads.

A model's identity is what it is, not what it is called: loaded models are keyed by their
weights file's (device, inode) (:func:`model_key`), so two names of one blob (a copy, a hard
link) share one loaded model, and no spelling of a name can load a second copy.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Hashable, Iterator
from dataclasses import dataclass, field
from typing import Any

from ollama_gateway.backends.llama_cpp.embeddings import Embedder
from ollama_gateway.backends.llama_cpp.engine import Engine, EngineConfig
from ollama_gateway.backends.llama_cpp.model import LoadError, Model
from ollama_gateway.errors import GatewayError, ModelLoadError, ServerBusy, ServiceUnavailable
from ollama_gateway.models.store import ResolvedModel

log = logging.getLogger(__name__)


def model_key(resolved: ResolvedModel) -> Hashable:
    """What a loaded model is keyed by: its weights file's identity (its name if unknown)."""
    return resolved.identity if resolved.identity is not None else resolved.name


@dataclass(eq=False)
class LoadedModel:
    """One model in memory with its engine; ``active`` counts requests using it.

    Worker threads reach the model only inside :meth:`lease` (render and tokenize, compile a
    sampler, embed), and :meth:`close` waits for every lease to end before freeing anything:
    whatever released the model (its last request ending, keep_alive expiring, eviction, a
    delete, shutdown), memory a thread still uses is never freed under it. A lease asked for
    once closing began is refused (ServiceUnavailable).
    """

    name: str
    resolved: ResolvedModel
    model: Model
    engine: Engine
    config: EngineConfig
    load_duration: int  # ns
    active: int = 0
    last_used: float = field(default_factory=time.monotonic)
    expires_at: float | None = None  # monotonic; None = never
    expires_wall: float | None = None  # time.time() of the same instant, for /api/ps
    embedder: Embedder | None = None
    timer: asyncio.TimerHandle | None = None
    leases: int = 0  # worker threads using the model now
    closing: bool = False
    _idle: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _embedder_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def get_embedder(self) -> Embedder:
        """The model's embedding context, created on first use (blocking; under a lease)."""
        with self._embedder_lock:
            if self.embedder is None:
                try:
                    self.embedder = Embedder(self.model, self.config.n_ctx, self.config.n_threads)
                except GatewayError as exc:
                    raise ModelLoadError(
                        f'model "{self.name}" cannot embed: {exc.message}'
                    ) from None
            return self.embedder

    @contextlib.contextmanager
    def lease(self) -> Iterator[Model]:
        """The model, for a worker thread; :meth:`close` waits until the ``with`` ends."""
        with self._idle:
            if self.closing:
                raise ServiceUnavailable(f'model "{self.name}" was unloaded; try again')
            self.leases += 1
        try:
            yield self.model
        finally:
            with self._idle:
                self.leases -= 1
                self._idle.notify_all()

    @property
    def key(self) -> Hashable:
        return model_key(self.resolved)

    def close(self) -> None:
        """Free everything once no worker thread uses the model (blocking)."""
        with self._idle:
            self.closing = True
            while self.leases:
                self._idle.wait()
        self.engine.close()
        if self.embedder is not None:
            self.embedder.close()
        self.model.free()


class ModelManager:
    """The set of loaded models of one backend."""

    def __init__(
        self,
        config_for: Callable[[ResolvedModel], EngineConfig],
        *,
        max_loaded: int,
        default_keep_alive: float,
        wait_timeout: float = 600.0,
    ) -> None:
        self._config_for = config_for
        self.max_loaded = max(1, max_loaded)
        self.default_keep_alive = default_keep_alive
        self.wait_timeout = wait_timeout
        self.models: dict[Hashable, LoadedModel] = {}  # by model_key
        self._loading: dict[Hashable, asyncio.Future[LoadedModel]] = {}
        self._cond = asyncio.Condition()
        self._unloads: set[asyncio.Task[None]] = set()
        self.failures: dict[Hashable, str] = {}  # model_key -> last load error
        self.on_loaded: Callable[[LoadedModel], None] | None = None  # metrics hook

    def is_loading(self, resolved: ResolvedModel) -> bool:
        return model_key(resolved) in self._loading

    def loaded(self, resolved: ResolvedModel) -> LoadedModel | None:
        return self.models.get(model_key(resolved))

    def failure(self, resolved: ResolvedModel) -> str | None:
        return self.failures.get(model_key(resolved))

    # -- acquire / release ---------------------------------------------------------------
    async def acquire(self, resolved: ResolvedModel) -> tuple[LoadedModel, int]:
        """The loaded model (loading it if needed) with one more active request.

        Returns the model and the nanoseconds spent loading it for this request (0 if it was
        already loaded). A load runs to its end even if the request that started it goes away
        (the model then stays for the default keep_alive), so no memory is ever orphaned.
        """
        key = model_key(resolved)
        while True:
            async with self._cond:
                loaded, pending = self.models.get(key), self._loading.get(key)
                if loaded is None and pending is None:
                    await self._make_room()  # may wait: another request may load it meanwhile
                    loaded, pending = self.models.get(key), self._loading.get(key)
                if loaded is not None:
                    self._touch(loaded)
                    return loaded, 0
                started = pending is None
                if pending is None:
                    pending = asyncio.get_running_loop().create_future()
                    self._loading[key] = pending
                    self._spawn(self._load_task(resolved, pending))
            loaded = await asyncio.shield(pending)
            async with self._cond:
                if self.models.get(key) is loaded:
                    self._touch(loaded)
                    return loaded, loaded.load_duration if started else 0
            # evicted between its load and this request's turn: start again

    async def _load_task(self, resolved: ResolvedModel, pending: asyncio.Future) -> None:
        key = model_key(resolved)
        try:
            loaded = await asyncio.to_thread(self._load, resolved)
        except BaseException as exc:
            async with self._cond:
                self._loading.pop(key, None)
                pending.set_exception(exc)
                pending.exception()  # retrieved: the requests waiting get it
                self._cond.notify_all()
            return
        async with self._cond:
            self._loading.pop(key, None)
            self.models[key] = loaded
            self.failures.pop(key, None)
            if self.on_loaded is not None:
                self.on_loaded(loaded)
            self._set_expiry(loaded, self.default_keep_alive)  # until a request touches it
            if self.default_keep_alive == 0:  # unless its request is gone: then unload
                asyncio.get_running_loop().call_soon(self._expire, loaded)
            pending.set_result(loaded)
            self._cond.notify_all()

    def _spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._unloads.add(task)
        task.add_done_callback(self._unloads.discard)

    def release(self, loaded: LoadedModel, keep_alive: float | None) -> None:
        """One request on ``loaded`` ended; apply ``keep_alive`` (seconds) when it was the last."""
        loaded.active = max(0, loaded.active - 1)
        loaded.last_used = time.monotonic()
        keep = self.default_keep_alive if keep_alive is None else keep_alive
        self._set_expiry(loaded, keep)
        if loaded.active == 0:
            if keep == 0:
                self.unload_now(loaded)
            else:
                self._notify()

    def _touch(self, loaded: LoadedModel) -> None:
        loaded.active += 1
        loaded.last_used = time.monotonic()
        if loaded.timer is not None:
            loaded.timer.cancel()
            loaded.timer = None

    def _set_expiry(self, loaded: LoadedModel, keep: float) -> None:
        if loaded.timer is not None:
            loaded.timer.cancel()
            loaded.timer = None
        if keep < 0:
            loaded.expires_at = loaded.expires_wall = None
            return
        loaded.expires_at = time.monotonic() + keep
        loaded.expires_wall = time.time() + keep
        if loaded.active == 0 and keep > 0:
            loop = asyncio.get_running_loop()
            loaded.timer = loop.call_later(keep, self._expire, loaded)

    def _expire(self, loaded: LoadedModel) -> None:
        loaded.timer = None
        if loaded.active == 0 and self.models.get(loaded.key) is loaded:
            log.info("unloading %s: keep_alive expired", loaded.name)
            self.unload_now(loaded)

    # -- loading and unloading -----------------------------------------------------------
    def _load(self, resolved: ResolvedModel) -> LoadedModel:
        """Blocking: load the weights and create the engine."""
        config = self._config_for(resolved)
        start = time.perf_counter_ns()
        try:
            model = Model.load(resolved.model_path)
        except LoadError as exc:
            self.failures[model_key(resolved)] = str(exc)
            raise ModelLoadError(f'failed to load model "{resolved.name}": {exc}') from None
        try:
            engine = Engine(model, config)
        except GatewayError as exc:
            model.free()
            self.failures[model_key(resolved)] = exc.message
            raise ModelLoadError(f'failed to load model "{resolved.name}": {exc.message}') from None
        took = time.perf_counter_ns() - start
        log.info("loaded %s in %.2f s", resolved.name, took / 1e9)
        return LoadedModel(
            name=resolved.name,
            resolved=resolved,
            model=model,
            engine=engine,
            config=config,
            load_duration=took,
        )

    async def _make_room(self) -> None:
        """Unload idle models (least recently used first) until one more fits; wait if none."""
        deadline = time.monotonic() + self.wait_timeout
        while len(self.models) + len(self._loading) >= self.max_loaded:
            idle = [m for m in self.models.values() if m.active == 0]
            if idle:
                victim = min(idle, key=lambda m: m.last_used)
                log.info("unloading %s to make room (max_loaded_models)", victim.name)
                self.unload_now(victim)
                continue
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ServerBusy("every loaded model is busy; try again later")
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._cond.wait(), remaining)

    def unload_now(self, loaded: LoadedModel) -> None:
        """Forget ``loaded`` at once and free it in a worker thread (after its requests)."""
        if self.models.get(loaded.key) is loaded:
            del self.models[loaded.key]
        if loaded.timer is not None:
            loaded.timer.cancel()
            loaded.timer = None
        self._spawn(asyncio.to_thread(loaded.close))
        self._notify()

    def _notify(self) -> None:
        async def notify() -> None:
            async with self._cond:
                self._cond.notify_all()

        self._spawn(notify())

    async def unload(self, resolved: ResolvedModel) -> bool:
        """Unload ``resolved`` now if it is loaded (under any name); True if it was."""
        loaded = self.models.get(model_key(resolved))
        if loaded is None:
            return False
        self.unload_now(loaded)
        await self.drain()
        return True

    async def drain(self) -> None:
        """Wait for pending unloads to finish freeing memory."""
        while self._unloads:
            await asyncio.gather(*list(self._unloads), return_exceptions=True)

    async def close(self) -> None:
        """Unload everything, including models whose load is still running."""
        while self.models or self._unloads:
            for loaded in list(self.models.values()):
                self.unload_now(loaded)
            await self.drain()
