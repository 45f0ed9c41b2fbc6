"""Read a few metadata keys from a GGUF file header, without loading the model.

Just enough to fill a model's config blob on import (architecture, file type, parameter count
when the file records it). Stops reading as soon as the wanted keys were seen.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any, BinaryIO

GGUF_MAGIC = b"GGUF"

# GGUF value types
_SCALARS = {
    0: "<B",
    1: "<b",
    2: "<H",
    3: "<h",
    4: "<I",
    5: "<i",
    6: "<f",
    7: "<?",
    10: "<Q",
    11: "<q",
    12: "<d",
}
_STRING, _ARRAY = 8, 9

# llama.cpp's llama_ftype values -> Ollama's quantization names
FILE_TYPES = {
    0: "F32",
    1: "F16",
    2: "Q4_0",
    3: "Q4_1",
    7: "Q8_0",
    8: "Q5_0",
    9: "Q5_1",
    10: "Q2_K",
    11: "Q3_K_S",
    12: "Q3_K_M",
    13: "Q3_K_L",
    14: "Q4_K_S",
    15: "Q4_K_M",
    16: "Q5_K_S",
    17: "Q5_K_M",
    18: "Q6_K",
    19: "IQ2_XXS",
    20: "IQ2_XS",
    21: "Q2_K_S",
    22: "IQ3_XS",
    23: "IQ3_XXS",
    24: "IQ1_S",
    25: "IQ4_NL",
    26: "IQ3_S",
    27: "IQ3_M",
    28: "IQ2_S",
    29: "IQ2_M",
    30: "IQ4_XS",
    31: "IQ1_M",
    32: "BF16",
}


class GGUFError(ValueError):
    """Not a GGUF file, or a truncated one."""


def _read(f: BinaryIO, n: int) -> bytes:
    data = f.read(n)
    if len(data) != n:
        raise GGUFError("truncated GGUF header")
    return data


def _read_str(f: BinaryIO) -> str:
    (length,) = struct.unpack("<Q", _read(f, 8))
    if length > 1 << 24:
        raise GGUFError("implausible GGUF string length")
    return _read(f, length).decode("utf-8", errors="replace")


def _read_value(f: BinaryIO, vtype: int, keep: bool) -> Any:
    if vtype in _SCALARS:
        fmt = _SCALARS[vtype]
        return struct.unpack(fmt, _read(f, struct.calcsize(fmt)))[0]
    if vtype == _STRING:
        return _read_str(f)
    if vtype == _ARRAY:
        (itype,) = struct.unpack("<I", _read(f, 4))
        (count,) = struct.unpack("<Q", _read(f, 8))
        if itype in _SCALARS and not keep:
            f.seek(struct.calcsize(_SCALARS[itype]) * count, 1)
            return None
        items = [_read_value(f, itype, keep) for _ in range(count)]
        return items if keep else None
    raise GGUFError(f"unknown GGUF value type {vtype}")


def read_metadata(path: Path, wanted: set[str] | None = None) -> dict[str, Any]:
    """Scalar and string metadata of a GGUF file (arrays skipped), up to the wanted keys."""
    with open(path, "rb") as f:
        if f.read(4) != GGUF_MAGIC:
            raise GGUFError(f"{path} is not a GGUF file")
        (version,) = struct.unpack("<I", _read(f, 4))
        if version < 2:
            raise GGUFError(f"GGUF version {version} is not supported")
        _tensors, kv_count = struct.unpack("<QQ", _read(f, 16))
        found: dict[str, Any] = {}
        for _ in range(kv_count):
            key = _read_str(f)
            (vtype,) = struct.unpack("<I", _read(f, 4))
            value = _read_value(f, vtype, keep=False)
            if value is not None:
                found[key] = value
            if wanted and wanted.issubset(found):
                break
        return found


def human_parameter_count(n: int) -> str:
    """Ollama's parameter-size notation: 1777088000 -> '1.8B', 494032768 -> '494.03M'."""
    if n >= 1_000_000_000:
        return f"{n / 1e9:.1f}B"
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M"
    if n >= 1_000:
        return f"{n / 1e3:.2f}K"
    return str(n)


def describe(path: Path) -> dict[str, str]:
    """``model_family``, ``file_type`` and ``model_type`` of a GGUF file, where it tells."""
    meta = read_metadata(path)
    arch = str(meta.get("general.architecture", ""))
    out = {"model_family": arch}
    file_type = meta.get("general.file_type")
    if isinstance(file_type, int):
        out["file_type"] = FILE_TYPES.get(file_type, str(file_type))
    params = meta.get("general.parameter_count")
    if isinstance(params, int):
        out["model_type"] = human_parameter_count(params)
    elif isinstance(meta.get("general.size_label"), str):
        out["model_type"] = meta["general.size_label"]
    return out
