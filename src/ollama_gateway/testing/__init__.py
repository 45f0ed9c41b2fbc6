"""Helpers for tests and benchmarks (random-weight GGUF models)."""
