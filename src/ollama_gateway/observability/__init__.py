"""Prometheus metrics and the log setup (text or JSON lines; prompts only when asked for)."""
