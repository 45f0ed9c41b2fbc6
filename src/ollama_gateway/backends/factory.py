"""Choose and build the backend named by the settings (``auto`` probes Ollama first)."""

from __future__ import annotations

import asyncio
import logging

import aiohttp

from ollama_gateway.backends.base import Backend
from ollama_gateway.backends.ollama.backend import OllamaBackend
from ollama_gateway.errors import GatewayError
from ollama_gateway.settings import Settings

log = logging.getLogger(__name__)


async def ollama_answers(url: str, timeout: float = 1.5) -> tuple[bool, str]:
    """Whether an Ollama server answers ``GET /api/version`` at ``url``, and why not."""
    try:
        async with (
            aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session,
            session.get(f"{url}/api/version") as resp,
        ):
            if resp.status == 200:
                return True, f"Ollama answers at {url}"
            return False, f"{url} answered {resp.status}"
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as exc:
        return False, f"no Ollama at {url} ({type(exc).__name__})"


def _embedded(settings: Settings) -> Backend:
    try:
        from ollama_gateway.backends.llama_cpp.backend import EmbeddedBackend
    except ImportError as exc:
        raise GatewayError(
            f"the embedded engine is not installed: pip install 'ollama-gateway[embedded]' ({exc})"
        ) from None
    return EmbeddedBackend(settings)


async def choose_backend(settings: Settings) -> str:
    """``ollama``, ``embedded`` or ``fleet``: ``auto`` is the fleet when upstreams are
    configured, else Ollama when one answers, else embedded."""
    if settings.backend != "auto":
        return settings.backend
    if settings.upstreams:
        return "fleet"
    found, why = await ollama_answers(settings.ollama_url)
    chosen = "ollama" if found else "embedded"
    log.info("backend: %s (%s)", chosen, why)
    return chosen


async def build_backend(settings: Settings) -> Backend:
    chosen = await choose_backend(settings)
    if chosen == "ollama":
        return OllamaBackend(settings)
    if chosen == "fleet":
        from ollama_gateway.backends.router.backend import RouterBackend

        return RouterBackend(settings, embedded=_embedded)
    return _embedded(settings)
