"""Build llama.cpp's own ``llama-server`` from the sources inside the llama-cpp-python sdist.

Same llama.cpp version as the embedded engine, so the engine benchmark compares like with like.
The build (about 5 minutes on 2 cores) lands in a cache directory, never in the repository:

    python bench/llama_server.py            # prints the path of the built binary
"""

from __future__ import annotations

import os
import subprocess
import sys
import tarfile
import tempfile
from importlib import metadata
from pathlib import Path

CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ollama-gateway"


def llama_server(jobs: int | None = None) -> Path:
    version = metadata.version("llama-cpp-python")
    root = CACHE / f"llama-server-{version}"
    binary = root / "build" / "bin" / "llama-server"
    if binary.exists():
        return binary
    root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "download",
                "--no-binary",
                ":all:",
                "--no-deps",
                "-q",
                "-d",
                tmp,
                f"llama-cpp-python=={version}",
            ],
            check=True,
        )
        sdist = next(Path(tmp).glob("llama_cpp_python-*.tar.gz"))
        with tarfile.open(sdist) as tar:
            members = [m for m in tar.getmembers() if "/vendor/llama.cpp/" in m.name]
            tar.extractall(tmp, members=members, filter="data")
        source = next(Path(tmp).glob("llama_cpp_python-*/vendor/llama.cpp"))
        src_dir = root / "src"
        if src_dir.exists():
            subprocess.run(["rm", "-rf", str(src_dir)], check=True)
        source.rename(src_dir)
    build = root / "build"
    subprocess.run(
        [
            "cmake",
            "-S",
            str(root / "src"),
            "-B",
            str(build),
            "-DCMAKE_BUILD_TYPE=Release",
            "-DLLAMA_CURL=OFF",
            "-DLLAMA_BUILD_TESTS=OFF",
            "-DLLAMA_BUILD_EXAMPLES=OFF",
            "-DLLAMA_BUILD_SERVER=ON",
            "-DBUILD_SHARED_LIBS=OFF",
        ],
        check=True,
    )
    subprocess.run(
        [
            "cmake",
            "--build",
            str(build),
            "--target",
            "llama-server",
            "-j",
            str(jobs or os.cpu_count()),
        ],
        check=True,
    )
    return binary


if __name__ == "__main__":
    print(llama_server())
