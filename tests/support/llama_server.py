"""llama.cpp's own ``llama-server``, built from the sources inside the llama-cpp-python sdist.

The same llama.cpp version as the embedded engine, so tests (token-for-token identity) and
benchmarks (throughput) compare like with like. The build (about 5 minutes on 2 cores) lands in a
cache directory, never in the repository; the sdist comes from PyPI:

    python -m tests.support.llama_server        # builds when missing, prints the binary's path

The cache is ``$OLLAMA_GATEWAY_CACHE`` or ``$XDG_CACHE_HOME/ollama-gateway`` (``~/.cache``).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path

import httpx

from tests.support.processes import free_port


def cache_dir() -> Path:
    explicit = os.environ.get("OLLAMA_GATEWAY_CACHE")
    if explicit:
        return Path(explicit)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ollama-gateway"


def _root() -> Path:
    return cache_dir() / f"llama-server-{metadata.version('llama-cpp-python')}"


def built() -> Path | None:
    """The cached binary for the installed llama-cpp-python, or None when not built yet."""
    binary = _root() / "build" / "bin" / "llama-server"
    return binary if binary.is_file() else None


def _fetch_sources(root: Path) -> None:
    version = metadata.version("llama-cpp-python")
    with tempfile.TemporaryDirectory() as tmp:
        pip = [sys.executable, "-m", "pip", "download", "--no-binary", ":all:", "--no-deps"]
        subprocess.run([*pip, "-q", "-d", tmp, f"llama-cpp-python=={version}"], check=True)
        sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        with tarfile.open(sdist) as tar:
            members = [m for m in tar.getmembers() if "/vendor/llama.cpp/" in m.name]
            tar.extractall(tmp, members=members, filter="data")
        source = next(Path(tmp).glob("llama_cpp_python-*/vendor/llama.cpp"))
        src_dir = root / "src"
        if src_dir.exists():
            shutil.rmtree(src_dir)
        shutil.move(str(source), src_dir)


def build(jobs: int | None = None) -> Path:
    """The llama-server binary, built into the cache first when it is not there."""
    binary = built()
    if binary is not None:
        return binary
    root = _root()
    root.mkdir(parents=True, exist_ok=True)
    if not (root / "src" / "CMakeLists.txt").is_file():
        _fetch_sources(root)
    out = root / "build"
    options = ["-DCMAKE_BUILD_TYPE=Release", "-DLLAMA_CURL=OFF", "-DLLAMA_BUILD_TESTS=OFF"]
    options += ["-DLLAMA_BUILD_EXAMPLES=OFF", "-DLLAMA_BUILD_SERVER=ON", "-DBUILD_SHARED_LIBS=OFF"]
    subprocess.run(["cmake", "-S", str(root / "src"), "-B", str(out), *options], check=True)
    jobs_arg = str(jobs or os.cpu_count() or 1)
    subprocess.run(
        ["cmake", "--build", str(out), "--target", "llama-server", "-j", jobs_arg], check=True
    )
    return out / "bin" / "llama-server"


@contextmanager
def running(
    binary: Path, model: Path, *args: str, timeout: float = 120.0, log: Path | None = None
) -> Iterator[str]:
    """``llama-server -m MODEL ARGS`` on a free loopback port; yields its URL once healthy."""
    port = free_port()
    command = [str(binary), "-m", str(model), "--host", "127.0.0.1", "--port", str(port), *args]
    sink = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen(command, stdout=sink, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                if httpx.get(url + "/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"llama-server did not start (exit {proc.poll()}); see {log}")
            time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)
        if log:
            sink.close()


if __name__ == "__main__":
    print(build())
