"""The fleet: many upstreams (Ollama, OpenAI-compatible, the embedded engine) as one backend.

``backend`` (the :class:`RouterBackend`), ``registry`` (upstreams, DNS expansion, lookups by
model), ``upstream`` (one upstream's state and names), ``strategies`` (who gets a request),
``admission`` (per-upstream limits and the queue), ``health`` (circuit breakers), ``poller``
(health checks and discovery in the background), ``management`` (merged lists, pull, delete).
"""
