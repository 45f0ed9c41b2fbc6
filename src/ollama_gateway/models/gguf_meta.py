"""A small, fast reader of a GGUF file's metadata (the key/value section only), shared by the
model store (config blobs on import) and the embedded engine (``/api/show``, loading checks).

The ``gguf`` package's reader maps every field of the file and takes seconds on a 150k-token
vocabulary; this one reads the header and key/values with :mod:`struct` in a fraction of that and
needs no third-party package, so the embedded backend can describe a model (``/api/show``)
without loading it.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

GGUF_MAGIC = b"GGUF"

# GGUF value types (gguf spec).
UINT8, INT8, UINT16, INT16, UINT32, INT32, FLOAT32, BOOL, STRING, ARRAY = range(10)
UINT64, INT64, FLOAT64 = 10, 11, 12

_SCALAR = {
    UINT8: "<B",
    INT8: "<b",
    UINT16: "<H",
    INT16: "<h",
    UINT32: "<I",
    INT32: "<i",
    FLOAT32: "<f",
    BOOL: "<?",
    UINT64: "<Q",
    INT64: "<q",
    FLOAT64: "<d",
}


class GGUFFormatError(ValueError):
    """The file is not a GGUF file, or its metadata is truncated or malformed."""


@dataclass(slots=True)
class MetaValue:
    """One metadata value with its GGUF type (``sub_type`` for arrays)."""

    type: int
    value: Any
    sub_type: int | None = None


class _Cursor:
    def __init__(self, fp: BinaryIO) -> None:
        self.fp = fp

    def read(self, n: int) -> bytes:
        data = self.fp.read(n)
        if len(data) != n:
            raise GGUFFormatError("unexpected end of file in the GGUF metadata")
        return data

    def unpack(self, fmt: str) -> Any:
        return struct.unpack(fmt, self.read(struct.calcsize(fmt)))[0]

    def string(self) -> str:
        n = self.unpack("<Q")
        if n > 1 << 30:
            raise GGUFFormatError(f"implausible string length {n} in the GGUF metadata")
        return self.read(n).decode("utf-8", errors="replace")


def _read_value(cur: _Cursor, vtype: int, max_array: int | None) -> MetaValue:
    if vtype in _SCALAR:
        return MetaValue(vtype, cur.unpack(_SCALAR[vtype]))
    if vtype == STRING:
        return MetaValue(vtype, cur.string())
    if vtype != ARRAY:
        raise GGUFFormatError(f"unknown GGUF value type {vtype}")
    sub = cur.unpack("<I")
    count = cur.unpack("<Q")
    if count > 1 << 32:
        raise GGUFFormatError(f"implausible array length {count} in the GGUF metadata")
    skip = max_array is not None and count > max_array
    if sub in _SCALAR:
        fmt = _SCALAR[sub]
        size = struct.calcsize(fmt)
        raw = cur.read(size * count)
        if skip:
            return MetaValue(ARRAY, None, sub)
        return MetaValue(ARRAY, list(struct.unpack(f"<{count}{fmt[1]}", raw)), sub)
    if sub == STRING:
        return MetaValue(ARRAY, _read_strings(cur, count, skip), sub)
    raise GGUFFormatError(f"unsupported GGUF array element type {sub}")


def _read_strings(cur: _Cursor, count: int, skip: bool) -> list[str] | None:
    out: list[str] = []
    read = cur.read
    unpack_q = struct.Struct("<Q").unpack
    for _ in range(count):
        (n,) = unpack_q(read(8))
        data = read(n)
        if not skip:
            out.append(data.decode("utf-8", errors="replace"))
    return None if skip else out


def read_gguf_metadata(path: str | Path, *, max_array: int | None = None) -> dict[str, MetaValue]:
    """Every metadata key of the GGUF file at ``path`` with its typed value.

    Arrays longer than ``max_array`` are skipped (their value is ``None``). Raises
    :class:`GGUFFormatError` for a file that is not GGUF or whose metadata is cut short.
    """
    return read_gguf(path, max_array=max_array)[0]


def read_gguf(
    path: str | Path, *, max_array: int | None = None, tensors: bool = False
) -> tuple[dict[str, MetaValue], int]:
    """The metadata and, with ``tensors``, the parameter count (elements of every tensor)."""
    with open(path, "rb", buffering=1 << 20) as fp:
        cur = _Cursor(fp)
        try:
            magic = fp.read(4)
        except OSError as exc:  # a directory, a device...
            raise GGUFFormatError(str(exc)) from exc
        if magic != GGUF_MAGIC:
            raise GGUFFormatError("not a GGUF file (bad magic number)")
        version = cur.unpack("<I")
        if version not in (2, 3):
            raise GGUFFormatError(f"unsupported GGUF version {version}")
        n_tensors = cur.unpack("<Q")
        n_kv = cur.unpack("<Q")
        if n_kv > 1 << 20:
            raise GGUFFormatError(f"implausible metadata count {n_kv}")
        meta: dict[str, MetaValue] = {}
        for _ in range(n_kv):
            key = cur.string()
            vtype = cur.unpack("<I")
            meta[key] = _read_value(cur, vtype, max_array)
        n_params = 0
        if tensors:
            if n_tensors > 1 << 24:
                raise GGUFFormatError(f"implausible tensor count {n_tensors}")
            for _ in range(n_tensors):
                cur.string()
                n_dims = cur.unpack("<I")
                if n_dims > 8:
                    raise GGUFFormatError(f"implausible tensor rank {n_dims}")
                count = 1
                for _ in range(n_dims):
                    count *= cur.unpack("<Q")
                cur.read(12)  # type (u32) and offset (u64)
                n_params += count
        return meta, n_params


def plain_metadata(meta: dict[str, MetaValue]) -> dict[str, Any]:
    """The values only, as Ollama's ``model_info`` shows them."""
    return {key: item.value for key, item in meta.items()}


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


def human_parameter_count(n: int) -> str:
    """Ollama's parameter-size notation: 1777088000 -> '1.8B', 494032768 -> '494.03M'."""
    if n >= 1_000_000_000:
        return f"{n / 1e9:.1f}B"
    if n >= 1_000_000:
        return f"{n / 1e6:.2f}M"
    if n >= 1_000:
        return f"{n / 1e3:.2f}K"
    return str(n)


def describe(path: str | Path) -> dict[str, str]:
    """``model_family``, ``file_type`` and ``model_type`` of a GGUF file, where it tells."""
    meta = plain_metadata(read_gguf_metadata(path, max_array=0))
    out = {"model_family": str(meta.get("general.architecture", ""))}
    file_type = meta.get("general.file_type")
    if isinstance(file_type, int):
        out["file_type"] = FILE_TYPES.get(file_type, str(file_type))
    params = meta.get("general.parameter_count")
    if isinstance(params, int):
        out["model_type"] = human_parameter_count(params)
    elif isinstance(meta.get("general.size_label"), str):
        out["model_type"] = meta["general.size_label"]
    return out
