"""The web console at ``/ui/``: static files the gateway serves, and the headers that guard them.

The console is a single page written as plain ES modules and CSS (``static/``), with no build
step and no third-party code. It is a client of the public and admin APIs like any other: it signs
in with an API key kept in the browser's session storage and sends it as ``Authorization:
Bearer``. The files themselves hold no secret, so they are served without a key; every API call
they make is checked like any other request.
"""

from ollama_gateway.console.mount import CONSOLE_PATH, SECURITY_HEADERS, mount_console

__all__ = ["CONSOLE_PATH", "SECURITY_HEADERS", "mount_console"]
