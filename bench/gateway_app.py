"""``uvicorn --factory gateway_app:app``: the gateway built from the environment (workers > 1)."""

from ollama_gateway.app import create_app
from ollama_gateway.settings import Settings


def app():
    return create_app(Settings())
