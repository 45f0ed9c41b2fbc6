"""The embedded backend: Ollama's API served by llama.cpp in this process.

Models are named, never located, by a request: a name is a model of the Ollama-layout
:class:`~ollama_gateway.models.store.ModelStore` (``deepseek-r1:1.5b``) or the operator's
``--model`` file under its short name (``--model ./tiny.gguf`` serves ``tiny:latest``,
``--model name=path`` serves ``name``). A path in a request is an invalid model name (400),
refused before any file is looked at. Each loaded model has one
:class:`~ollama_gateway.backends.llama_cpp.engine.Engine` batching up to ``settings.parallel``
requests; :class:`~ollama_gateway.backends.llama_cpp.loaded.ModelManager` keys loaded models by
what they are (their weights file), applies ``keep_alive`` and ``max_loaded_models``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ollama_gateway.backends.llama_cpp import creating
from ollama_gateway.backends.llama_cpp import show as show_info
from ollama_gateway.backends.llama_cpp.capabilities import capabilities, check_request
from ollama_gateway.backends.llama_cpp.context import EngineConfig
from ollama_gateway.backends.llama_cpp.embeddings import EmbedCancelled, embed_inputs
from ollama_gateway.backends.llama_cpp.loaded import LoadedModel, ModelManager
from ollama_gateway.backends.llama_cpp.model import TokenizeCancelled
from ollama_gateway.backends.llama_cpp.options import engine_options
from ollama_gateway.backends.llama_cpp.preparing import Prepared, constrain_calls, prepare
from ollama_gateway.backends.llama_cpp.tool_calls import plan_tools, with_tool_calls
from ollama_gateway.backends.llama_cpp.work import in_worker
from ollama_gateway.core.types import (
    Chunk,
    EmbedRequest,
    EmbedResult,
    GenerationRequest,
    ModelInfo,
    RunningModel,
    Stats,
)
from ollama_gateway.errors import (
    GatewayError,
    ModelLoadError,
    ModelNotFound,
    ServiceUnavailable,
    clip,
)
from ollama_gateway.models.create import CreateSpec
from ollama_gateway.models.gotemplate import Cancelled
from ollama_gateway.models.refs import ModelRef, parse_ref
from ollama_gateway.models.store import ModelStore, ResolvedModel
from ollama_gateway.settings import Settings

if TYPE_CHECKING:
    from ollama_gateway.observability.metrics import Metrics

log = logging.getLogger(__name__)
T = TypeVar("T")


class EmbeddedBackend:
    """:class:`~ollama_gateway.backends.base.Backend` on llama.cpp, in-process."""

    name = "embedded"
    splits_thinking = False

    def __init__(self, settings: Settings, store: ModelStore | None = None) -> None:
        self.settings = settings
        self._warmup: asyncio.Task[None] | None = None
        self._cancels: set[threading.Event] = set()  # of the worker-thread jobs running now
        self.store = store or ModelStore(settings.resolved_models_dir)
        self.spec = settings.model_spec
        # The operator's file (``--model path``), served under ``spec.name``; resolved once.
        self._file_ref: ModelRef | None = parse_ref(self.spec.name) if self.spec.path else None
        self._file_model: ResolvedModel | None = None
        self._file_lock: asyncio.Lock | None = None
        self.startup_failure: str | None = None
        # Called when the default model cannot be loaded at start (the app stops serving).
        self.on_fatal: Callable[[str], None] | None = None
        self.manager = ModelManager(
            self._engine_config,
            max_loaded=settings.max_loaded_models,
            default_keep_alive=settings.keep_alive_seconds,
            wait_timeout=settings.queue_timeout,
        )

    def _engine_config(self, _resolved: ResolvedModel) -> EngineConfig:
        s = self.settings
        return EngineConfig(
            n_ctx=s.num_ctx, n_parallel=s.parallel, n_threads=s.num_threads, n_batch=s.num_batch
        )

    def bind_metrics(self, metrics: Metrics) -> None:
        """Every model load (by a request or at start) is observed where it happens."""
        self.manager.on_loaded = lambda loaded: metrics.observe_load(
            loaded.name, loaded.load_duration / 1e9
        )

    async def start(self) -> None:
        """Begin loading the default model, so that ``/ready`` turns 200 once it is in memory."""
        self._warmup = asyncio.get_running_loop().create_task(self._preload())

    async def _preload(self) -> None:
        name = self.spec.name
        try:
            resolved = await self._resolve(name)
            loaded, _ = await self.manager.acquire(resolved)
        except GatewayError as exc:
            self.startup_failure = f'default model "{name}" cannot be loaded: {exc.message}'
            log.error("%s", self.startup_failure)
            if self.on_fatal is not None:
                self.on_fatal(self.startup_failure)
            return
        self._release(loaded, None)
        log.info('default model "%s" loaded', name)

    async def close(self) -> None:
        if self._warmup is not None and not self._warmup.done():
            self._warmup.cancel()
        for cancel in list(self._cancels):  # worker-thread jobs stop at their next check
            cancel.set()
        await self.manager.close()

    # -- generation ----------------------------------------------------------------------
    def generate(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        return self._generation(request)

    def chat(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        return self._generation(request)

    def _is_file_model(self, ref: ModelRef) -> bool:
        return self._file_ref is not None and ref.same_model(self._file_ref)

    async def _resolve(self, name: str) -> ResolvedModel:
        """The model ``name`` (or the default) names. A name that is not a model name, a path
        among them, is a 400 before any file is touched."""
        name = name or self.spec.name
        if self._is_file_model(parse_ref(name)):
            return await self._operator_model()
        return await asyncio.to_thread(self.store.resolve, name)

    async def _operator_model(self) -> ResolvedModel:
        """The operator's ``--model`` file, resolved (and hashed) once."""
        assert self.spec.path is not None
        if self._file_lock is None:
            self._file_lock = asyncio.Lock()
        async with self._file_lock:
            if self._file_model is None:
                self._file_model = await asyncio.to_thread(
                    self.store.resolve_file, self.spec.path, self.spec.name
                )
        return self._file_model

    async def _generation(self, request: GenerationRequest) -> AsyncGenerator[Chunk, None]:
        start = time.perf_counter_ns()
        resolved = await self._resolve(request.model)
        name = request.model or resolved.name
        check_request(request, await asyncio.to_thread(capabilities, resolved), resolved)
        options = await _maybe_in_thread(
            isinstance(request.format, dict),  # a JSON schema: converting it can take a while
            engine_options,
            request.options,
            model_params=resolved.params,
            max_predict=self.settings.max_predict,
            format=request.format,
        )
        tools = await asyncio.to_thread(plan_tools, request, resolved) if request.tools else None
        if tools is not None:
            constrain_calls(options, tools, request)
        if request.logprobs:
            options.sampling.logprobs = request.top_logprobs
        loaded, load_ns = await self.manager.acquire(resolved)
        keep_alive = request.keep_alive
        try:
            empty = not request.messages if request.kind == "chat" else not request.prompt
            if empty and not request.context:
                reason = "unload" if keep_alive == 0 else "load"
                yield Chunk(
                    done=True,
                    done_reason=reason,
                    model=name,
                    stats=Stats(
                        total_duration=time.perf_counter_ns() - start, load_duration=load_ns
                    ),
                )
                return
            job = await self._work(
                prepare, loaded, resolved, request, options, tools, discard=Prepared.free
            )
            opened = job.opened
            chunks: AsyncIterator[Chunk] = loaded.engine.generate(
                job.tokens, options.sampling, n_ctx=job.limit, sampler=job.sampler
            )
            if tools is not None:
                chunks = with_tool_calls(chunks, tools.parser(job.call_opened))
            async for chunk in chunks:
                chunk.model = name
                if opened:  # the output starts inside a reasoning block the template opened
                    chunk.text, opened = opened + chunk.text, ""
                if chunk.done:
                    stats = chunk.stats or Stats()
                    stats.total_duration = time.perf_counter_ns() - start
                    stats.load_duration = load_ns
                    chunk.stats = stats
                    if request.kind != "generate":
                        chunk.context = None
                yield chunk
        finally:
            self._release(loaded, keep_alive)

    def _release(self, loaded: LoadedModel, keep_alive: float | None) -> None:
        try:
            self.manager.release(loaded, keep_alive)
        except RuntimeError:  # the event loop is shutting down: close() frees everything
            log.debug("release of %s skipped: no running loop", loaded.name)

    async def _work(self, fn: Callable[..., T], /, *args: Any, discard=None) -> T:
        """``fn(*args, cancel)`` in a worker thread (work.py), stopped when this task is
        cancelled or the backend closes."""
        cancel = threading.Event()
        self._cancels.add(cancel)
        try:
            return await in_worker(fn, *args, cancel, cancel=cancel, discard=discard)
        except (Cancelled, TokenizeCancelled, EmbedCancelled):
            raise ServiceUnavailable("the request was cancelled: the server is stopping") from None
        finally:
            self._cancels.discard(cancel)

    # -- embeddings ----------------------------------------------------------------------
    async def embed(self, request: EmbedRequest) -> EmbedResult:
        start = time.perf_counter_ns()
        resolved = await self._resolve(request.model)
        loaded, load_ns = await self.manager.acquire(resolved)
        try:
            vectors, count = await self._work(embed_inputs, loaded, request)
        finally:
            self._release(loaded, request.keep_alive)
        return EmbedResult(
            model=request.model or resolved.name,
            embeddings=vectors,
            prompt_eval_count=count,
            total_duration=time.perf_counter_ns() - start,
            load_duration=load_ns,
        )

    # -- models --------------------------------------------------------------------------
    async def list_models(self) -> list[ModelInfo]:
        models = await asyncio.to_thread(self.store.list)
        if self._file_ref is not None:  # the operator's file first; it shadows a namesake
            file_ref = self._file_ref
            models = [m for m in models if m.ref is None or not m.ref.same_model(file_ref)]
            models.insert(0, await self._operator_model())
        return [m.to_model_info() for m in models]

    async def show(self, model: str, verbose: bool = False) -> dict[str, Any]:
        resolved = await self._resolve(model)
        return await asyncio.to_thread(show_info.show, resolved, verbose)

    async def running(self) -> list[RunningModel]:
        return [show_info.running_model(m) for m in self.manager.models.values()]

    async def pull(
        self, model: str, insecure: bool = False
    ) -> AsyncGenerator[dict[str, Any], None]:
        from ollama_gateway.models.pull import pull_model
        from ollama_gateway.models.registry_guard import GuardedResolver

        guard = GuardedResolver(self.settings.pull_allow_private)  # redirects included
        async for event in pull_model(
            model, self.store, self.settings.registry_url, insecure=insecure, resolver=guard
        ):
            yield event

    async def delete(self, model: str) -> None:
        """Delete a model of the store; unload it only when no other name uses its weights.

        The operator's ``--model`` file is not in the store: like any name the store lacks, it
        is a 404 (Ollama's wording), and it stays loaded.
        """
        not_found = ModelNotFound(model, f"model '{clip(model)}' not found")
        if self._is_file_model(parse_ref(model)):
            raise not_found
        try:
            resolved: ResolvedModel | None = await self._resolve(model)
        except ModelNotFound:
            raise not_found from None
        except ModelLoadError:  # a corrupt manifest: delete it all the same
            resolved = None
        try:
            await asyncio.to_thread(self.store.delete, model)
        except ModelNotFound:
            raise not_found from None
        if resolved is not None and not await asyncio.to_thread(resolved.model_path.exists):
            await self.manager.unload(resolved)

    async def copy(self, source: str, destination: str) -> None:
        await asyncio.to_thread(self.store.copy, source, destination)

    def create(self, spec: CreateSpec) -> AsyncIterator[dict[str, Any]]:
        """``/api/create``: Ollama's status events, ending with success (creating.py)."""
        return creating.create_model(self.store, spec, max_predict=self.settings.max_predict)

    async def has_blob(self, digest: str) -> bool:
        return await creating.has_blob(self.store, digest)

    async def upload_blob(self, digest: str, body: AsyncIterator[bytes], max_bytes: int) -> bool:
        """Store an uploaded blob; False when it was there already (the body is not read)."""
        return await creating.upload_blob(self.store, digest, body, max_bytes)

    async def check_ready(self) -> tuple[bool, str]:
        name = self.spec.name
        if self.startup_failure is not None:
            return False, self.startup_failure
        if self._warmup is not None and not self._warmup.done():
            return False, f'model "{name}" is loading'
        try:
            resolved = await self._resolve(name)
        except ModelNotFound as exc:
            return False, exc.message
        except GatewayError as exc:
            return False, f'model "{name}": {exc.message}'
        if self.manager.loaded(resolved) is not None:
            return True, f'model "{name}" is loaded'
        if self.manager.is_loading(resolved):
            return False, f'model "{name}" is loading'
        failure = self.manager.failure(resolved)
        if failure:
            return False, f'model "{name}" failed to load: {failure}'
        return True, f'model "{name}" is available; it loads on first use'


async def _maybe_in_thread(in_thread: bool, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    if in_thread:
        return await asyncio.to_thread(fn, *args, **kwargs)
    return fn(*args, **kwargs)
