"""Build llama.cpp's own ``llama-server`` from the sources inside the llama-cpp-python sdist.

Same llama.cpp version as the embedded engine, so the engine benchmark compares like with like.
The builder lives in ``tests/support/llama_server.py`` (the identity tests use it too); the build
(about 5 minutes on 2 cores) lands in a cache directory, never in the repository:

    python bench/llama_server.py            # prints the path of the built binary
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.llama_server import build

if __name__ == "__main__":
    print(build())
