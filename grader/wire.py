"""Frames between the learner's process and the parent: data only, strictly checked.

The learner's process is untrusted (it may write anything to its pipe), so the parent
never deserializes anything that can run code: no pickle, no ``torch.load``. A frame is

    8-byte little-endian size | 4-byte header size | JSON header (UTF-8) | tensor bytes

The header is a JSON object of a known type with known fields (`SCHEMA`). Values are JSON
trees with three tags, each an object of exactly one key:

    {"$t": i}        tensor i of header["tensors"]: {"dtype", "shape", "offset", "nbytes"}
    {"$f": "nan"}    a float JSON cannot write: "nan", "inf", "-inf"
    {"$d": {...}}    a dict (keys are strings)

Lists and tuples travel as JSON arrays. `decode_frame` checks every field, type, size,
tensor extent and nesting depth, and cleans every string (`grader.textsafe.clean_text`);
anything else raises `WireError`, which the runner reports as an integrity error.
"""

from __future__ import annotations

import json
import math
import struct
from typing import Any

from grader.model import Status
from grader.textsafe import clean_text

MAX_FRAME = 160 * 2**20  # bytes of one frame (probe outputs are capped at 64 MiB)
MAX_HEADER = 16 * 2**20  # bytes of the JSON part
MAX_DEPTH = 40  # nesting of lists and dicts
MAX_NODES = 200_000  # values in one output
MAX_TEXT = 20_000  # characters kept of a message or of captured output
MAX_DIMS = 16

DTYPES = {  # dtype name -> element size; nothing outside this list is accepted
    "float64": 8, "float32": 4, "float16": 2, "bfloat16": 2,
    "int64": 8, "int32": 4, "int16": 2, "int8": 1, "uint8": 1, "bool": 1,
}

# What a child may say about a probe: "ok" (an output follows) or a `Status` the child can
# know of (not "passed": judges decide; not "timeout": the parent's clock does).
STATUSES = ("ok", *(s.value for s in (Status.FAILED, Status.NOT_STARTED, Status.ERROR,
                                     Status.MEMORY)))

# frame type -> {field: expected python type}; every field is required
SCHEMA: dict[str, dict[str, Any]] = {
    "sandbox": {"active": list},
    "ready": {},
    "import_error": {"message": str, "stdout": str},
    "start": {"id": str},
    "result": {
        "id": str, "status": str, "message": str, "seconds": float, "stdout": str,
        "output": object,
    },
    "done": {"modules": list},
}


class WireError(ValueError):
    """A frame that breaks the protocol: a forged or damaged message."""


# ----------------------------------------------------------------------------- encoding
def _tensor_bytes(t: Any) -> tuple[str, list[int], bytes]:
    import torch

    t = t.detach()
    if t.is_complex() or t.is_sparse or t.is_quantized:
        raise TypeError(f"cannot send a {t.dtype} tensor")
    t = t.to("cpu").contiguous()
    name = str(t.dtype).removeprefix("torch.")
    if name not in DTYPES:
        raise TypeError(f"cannot send a {t.dtype} tensor")
    shape = list(t.shape)
    raw = t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
    return name, shape, raw


class Encoder:
    """Turns probe output (tensors, numbers, strings, containers) into a header tree + bytes."""

    def __init__(self) -> None:
        self.tensors: list[dict[str, Any]] = []
        self.chunks: list[bytes] = []
        self.size = 0

    def value(self, v: Any, depth: int = 0) -> Any:
        if depth > MAX_DEPTH:
            raise ValueError("output nested too deeply")
        if v is None or isinstance(v, bool):
            return v
        if isinstance(v, int):
            return int(v)
        if isinstance(v, float):
            return float(v) if math.isfinite(v) else {"$f": repr(float(v))}
        if isinstance(v, str):
            return str.__str__(v)
        import torch

        if isinstance(v, torch.Tensor):
            name, shape, raw = _tensor_bytes(v)
            self.tensors.append(
                {"dtype": name, "shape": shape, "offset": self.size, "nbytes": len(raw)}
            )
            self.chunks.append(raw)
            self.size += len(raw)
            return {"$t": len(self.tensors) - 1}
        if isinstance(v, dict):
            return {"$d": {str(k): self.value(x, depth + 1) for k, x in v.items()}}
        if isinstance(v, (list, tuple)):
            return [self.value(x, depth + 1) for x in v]
        if isinstance(v, (torch.dtype, torch.device)):
            return str(v)
        if type(v).__module__ == "numpy":
            import numpy as np

            if isinstance(v, np.ndarray):
                return self.value(torch.from_numpy(np.ascontiguousarray(v)), depth)
            if hasattr(v, "item"):
                return self.value(v.item(), depth)
        raise TypeError(f"cannot send a value of type {type(v).__name__}")


def encode_frame(message: dict[str, Any]) -> bytes:
    """One frame of ``message``; its ``output`` field (if any) is encoded as a value tree."""
    enc = Encoder()
    header = dict(message)
    if "output" in header:
        header["output"] = enc.value(header["output"])
    header["tensors"] = enc.tensors
    head = json.dumps(header, allow_nan=False, ensure_ascii=True).encode()
    body = struct.pack("<I", len(head)) + head + b"".join(enc.chunks)
    return struct.pack("<Q", len(body)) + body


# ----------------------------------------------------------------------------- decoding
def _reject_constant(name: str) -> Any:
    raise WireError(f"non-standard JSON constant {name}")


class Decoder:
    def __init__(self, tensors: Any, blob: bytes) -> None:
        if not isinstance(tensors, list):
            raise WireError("'tensors' must be a list")
        self.specs = tensors
        self.blob = blob
        self.nodes = 0

    def tensor(self, index: Any) -> Any:
        import torch

        if not isinstance(index, int) or isinstance(index, bool) or not (
            0 <= index < len(self.specs)
        ):
            raise WireError("bad tensor index")
        spec = self.specs[index]
        if not isinstance(spec, dict) or set(spec) != {"dtype", "shape", "offset", "nbytes"}:
            raise WireError("bad tensor descriptor")
        dtype, shape, offset, nbytes = spec["dtype"], spec["shape"], spec["offset"], spec["nbytes"]
        if dtype not in DTYPES:
            raise WireError(f"dtype {clean_text(dtype, 40)!r} not allowed")
        if not isinstance(shape, list) or len(shape) > MAX_DIMS or not all(
            isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**40 for n in shape
        ):
            raise WireError("bad tensor shape")
        numel = math.prod(shape)
        for n in (offset, nbytes):
            if not isinstance(n, int) or isinstance(n, bool) or n < 0:
                raise WireError("bad tensor extent")
        if nbytes != numel * DTYPES[dtype] or offset + nbytes > len(self.blob):
            raise WireError("tensor extent does not match its shape or the frame")
        torch_dtype = getattr(torch, dtype)
        if numel == 0:
            return torch.empty(shape, dtype=torch_dtype)
        raw = bytearray(self.blob[offset : offset + nbytes])
        return torch.frombuffer(raw, dtype=torch_dtype).reshape(shape)

    def value(self, v: Any, depth: int = 0) -> Any:
        self.nodes += 1
        if self.nodes > MAX_NODES or depth > MAX_DEPTH:
            raise WireError("output too large or nested too deeply")
        if v is None or isinstance(v, (bool, float)):
            return v
        if isinstance(v, int):
            if not -(2**63) <= v < 2**63:
                raise WireError("integer out of range")
            return v
        if isinstance(v, str):
            return clean_text(v, MAX_TEXT)
        if isinstance(v, list):
            return [self.value(x, depth + 1) for x in v]
        if isinstance(v, dict) and len(v) == 1:
            (tag, inner), = v.items()
            if tag == "$t":
                return self.tensor(inner)
            if tag == "$f" and inner in ("nan", "inf", "-inf"):
                return float(inner)
            if tag == "$d" and isinstance(inner, dict):
                return {clean_text(k, 200): self.value(x, depth + 1) for k, x in inner.items()}
        raise WireError("unknown value in output")


def decode_frame(body: bytes) -> dict[str, Any]:
    """Check and decode one frame body (without its 8-byte size); raises `WireError`."""
    if len(body) < 4:
        raise WireError("frame too short")
    (head_size,) = struct.unpack("<I", body[:4])
    if head_size > MAX_HEADER or 4 + head_size > len(body):
        raise WireError("bad header size")
    try:
        text = body[4 : 4 + head_size].decode("utf-8")
        header = json.loads(text, parse_constant=_reject_constant)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise WireError(f"header is not JSON: {type(exc).__name__}") from None
    if not isinstance(header, dict) or header.get("type") not in SCHEMA:
        raise WireError("unknown frame type")
    fields = SCHEMA[header["type"]]
    if set(header) != {"type", "tensors", *fields}:
        raise WireError(f"unexpected fields in a {header['type']} frame")
    decoder = Decoder(header["tensors"], body[4 + head_size :])
    out: dict[str, Any] = {"type": header["type"]}
    for name, kind in fields.items():
        value = header[name]
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if kind is object:
            out[name] = decoder.value(value)
        elif not isinstance(value, kind) or isinstance(value, bool):
            raise WireError(f"field {name!r} of a {header['type']} frame has the wrong type")
        elif kind is str:
            out[name] = clean_text(value, MAX_TEXT)
        elif kind is list:
            out[name] = [clean_text(x, 200) for x in value if isinstance(x, str)][:5000]
        else:
            out[name] = value
    if out["type"] == "result":
        if out["status"] not in STATUSES:
            raise WireError("unknown status")
        if not math.isfinite(out["seconds"]) or out["seconds"] < 0:
            out["seconds"] = 0.0
    return out


def split_frames(buffer: bytes) -> tuple[list[bytes], bytes]:
    """Complete frame bodies at the front of ``buffer`` and what is left; `WireError` when a
    declared size is over `MAX_FRAME`."""
    bodies = []
    while len(buffer) >= 8:
        (size,) = struct.unpack("<Q", buffer[:8])
        if size > MAX_FRAME:
            raise WireError(f"frame of {size} bytes is over the limit")
        if len(buffer) < 8 + size:
            break
        bodies.append(buffer[8 : 8 + size])
        buffer = buffer[8 + size :]
    return bodies, buffer


def encode_value(value: Any) -> bytes:
    """A stand-alone encoded value (the reference store's format): a `result`-less frame."""
    return encode_frame({"type": "result", "id": "", "status": "ok", "message": "",
                         "seconds": 0.0, "stdout": "", "output": value})


def decode_value(data: bytes) -> Any:
    bodies, rest = split_frames(data)
    if len(bodies) != 1 or rest:
        raise WireError("not one frame")
    return decode_frame(bodies[0])["output"]
