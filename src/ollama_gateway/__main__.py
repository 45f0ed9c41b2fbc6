"""``python -m ollama_gateway`` is the ``ollama-gateway`` command."""

from ollama_gateway.cli import main

if __name__ == "__main__":
    main()
