"""Failures of other projects' suites against the gateway on smollm2:135m, each explained.

Every entry is also in docs/peers.md (tests/test_peers_doc.py checks it). The runners fail CI
on a failure that is not here, and on an entry here that passes or no longer runs.
"""

LANGCHAIN_OLLAMA: dict[str, str] = {}

OLLAMA_JS: dict[str, str] = {}
