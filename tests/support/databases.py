"""Real PostgreSQL and Redis servers for tests, from Debian's packages, in temporary directories.

:class:`PostgresServer` runs ``initdb`` and ``pg_ctl`` (as the ``postgres`` user when the tests
run as root, since PostgreSQL refuses to run as root) on a free loopback port with trust auth;
:class:`RedisServer` runs ``redis-server --port N --save ''``. Both stop and remove everything
on ``stop()``. Without the packages, :func:`postgres_bin` / :func:`redis_bin` say how to install
them (the tests fail with that message: CI installs them, see ``.ci/run``).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from tests.support.processes import free_port

INSTALL = "apt-get install -y postgresql redis-server"


def postgres_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if found:
        return found[-1].parent
    on_path = shutil.which("pg_ctl")
    if on_path:
        return Path(on_path).resolve().parent
    raise AssertionError(f"PostgreSQL is not installed: {INSTALL}")


def redis_bin() -> str:
    found = shutil.which("redis-server")
    if found is None:
        raise AssertionError(f"Redis is not installed: {INSTALL}")
    return found


def _wait_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing answers on port {port}")


class PostgresServer:
    """One PostgreSQL cluster; :meth:`database` makes a fresh database and returns its URL."""

    def __init__(self) -> None:
        self.bin = postgres_bin()
        self.dir = Path(tempfile.mkdtemp(prefix="ogw-pg-"))
        self.data = self.dir / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.dir, "postgres")
        self._run(
            str(self.bin / "initdb"),
            *("-D", str(self.data), "-U", "gateway", "--auth=trust", "-E", "UTF8"),
        )

    def _run(self, *command: str) -> None:
        if self.as_root:
            command = ("runuser", "-u", "postgres", "--", *command)
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresServer:
        options = (
            f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200"
        )
        self._run(
            str(self.bin / "pg_ctl"),
            *("-D", str(self.data), "-o", options, "-l", str(self.dir / "log"), "-w", "start"),
        )
        _wait_port(self.port)
        return self

    def stop(self, remove: bool = False) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self._run(str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop")
        if remove:
            shutil.rmtree(self.dir, ignore_errors=True)

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://gateway@127.0.0.1:{self.port}/{database}"

    def database(self) -> str:
        """A new, empty database: its URL."""
        name = "t" + uuid.uuid4().hex[:12]
        subprocess.run(
            [
                str(self.bin / "psql"),
                *("-h", "127.0.0.1", "-p", str(self.port), "-U", "gateway", "-d", "postgres"),
                *("-q", "-c", f"CREATE DATABASE {name}"),
            ],
            check=True,
            capture_output=True,
            timeout=60,
        )
        return self.url(name)


class RedisServer:
    def __init__(self) -> None:
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [redis_bin(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        _wait_port(self.port)
        return self

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None
