"""The data-only protocol: values round-trip; anything else is a WireError, never code."""

from __future__ import annotations

import json
import math
import pickle
import struct

import pytest
import torch

from grader.wire import (
    MAX_FRAME,
    WireError,
    decode_frame,
    decode_value,
    encode_frame,
    encode_value,
    split_frames,
)


def body(frame: bytes) -> bytes:
    bodies, rest = split_frames(frame)
    assert len(bodies) == 1 and not rest
    return bodies[0]


def raw_frame(header: dict, blob: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    return struct.pack("<I", len(head)) + head + blob


def test_values_round_trip() -> None:
    value = {
        "x": torch.randn(3, 4, dtype=torch.float64),
        "half": torch.ones(2, dtype=torch.bfloat16),
        "empty": torch.empty(0, 3),
        "scalar": torch.tensor(2.5),
        "flags": [True, False, None],
        "n": 7, "f": 0.25, "nan": math.nan, "inf": -math.inf,
        "nested": {"t": (torch.arange(5), "text")},
        "ints": torch.tensor([1, 2], dtype=torch.int64),
        "mask": torch.tensor([True, False]),
        "dtype": torch.float32,
    }
    got = decode_value(encode_value(value))
    assert torch.equal(got["x"], value["x"]) and got["x"].dtype == torch.float64
    assert got["half"].dtype == torch.bfloat16 and got["empty"].shape == (0, 3)
    assert got["scalar"].shape == () and float(got["scalar"]) == 2.5
    assert got["flags"] == [True, False, None] and got["n"] == 7 and got["f"] == 0.25
    assert math.isnan(got["nan"]) and got["inf"] == -math.inf
    assert torch.equal(got["nested"]["t"][0], torch.arange(5)) and got["nested"]["t"][1] == "text"
    assert got["mask"].dtype == torch.bool and got["dtype"] == "torch.float32"


def test_a_non_contiguous_tensor_travels_by_value() -> None:
    x = torch.randn(4, 5).t()
    assert torch.equal(decode_value(encode_value(x)), x)


def test_unsendable_values_raise_before_anything_is_sent() -> None:
    class Odd:
        pass

    with pytest.raises(TypeError):
        encode_value(Odd())
    with pytest.raises(TypeError):
        encode_value(torch.randn(2, dtype=torch.complex64))


def test_a_pickle_frame_is_refused_and_never_unpickled(tmp_path) -> None:  # noqa: ANN001
    marker = tmp_path / "ran"

    class Boom:
        def __reduce__(self):  # noqa: ANN204
            return (open, (str(marker), "w"))

    payload = pickle.dumps({"type": "result", "x": Boom()})
    with pytest.raises(WireError):
        decode_frame(payload)
    with pytest.raises(WireError):
        decode_frame(struct.pack("<I", len(payload)) + payload)
    assert not marker.exists()


@pytest.mark.parametrize(
    "header",
    [
        {"type": "exec", "tensors": []},
        {"type": "ready", "tensors": [], "extra": 1},
        {"type": "start", "tensors": []},
        {"type": "start", "id": 3, "tensors": []},
        {"type": "result", "id": "a", "status": "passed", "message": "", "seconds": 0.0,
         "stdout": "", "output": None, "tensors": []},
        {"type": "result", "id": "a", "status": "ok", "message": "", "seconds": 0.0,
         "stdout": "", "output": {"$t": 0}, "tensors": []},
        {"type": "result", "id": "a", "status": "ok", "message": "", "seconds": 0.0,
         "stdout": "", "output": {"$t": 0},
         "tensors": [{"dtype": "float32", "shape": [1000], "offset": 0, "nbytes": 4000}]},
        {"type": "result", "id": "a", "status": "ok", "message": "", "seconds": 0.0,
         "stdout": "", "output": {"$t": 0},
         "tensors": [{"dtype": "object", "shape": [1], "offset": 0, "nbytes": 8}]},
        {"type": "result", "id": "a", "status": "ok", "message": "", "seconds": 0.0,
         "stdout": "", "output": {"__reduce__": ["os.system", "true"]}, "tensors": []},
        {"type": "result", "id": "a", "status": "ok", "message": "", "seconds": 0.0,
         "stdout": "", "output": 2**70, "tensors": []},
    ],
)
def test_malformed_frames_are_refused(header: dict) -> None:
    with pytest.raises(WireError):
        decode_frame(raw_frame(header))


def test_deep_nesting_and_junk_are_refused() -> None:
    deep = "[" * 100_000 + "]" * 100_000
    head = deep.encode()
    with pytest.raises(WireError):
        decode_frame(struct.pack("<I", len(head)) + head)
    with pytest.raises(WireError):
        decode_frame(b"\xff\xff\xff\xff")
    with pytest.raises(WireError):
        decode_frame(struct.pack("<I", 5) + b"NaN!!")
    with pytest.raises(WireError):
        split_frames(struct.pack("<Q", MAX_FRAME + 1))


def test_strings_are_cleaned_on_the_way_in() -> None:
    frame = encode_frame({"type": "import_error", "message": "a\ud800b\x1b[2J\x00c",
                          "stdout": "[red]x[/]"})
    got = decode_frame(body(frame))
    assert "\ud800" not in got["message"] and "\x1b" not in got["message"]
    assert "\x00" not in got["message"] and got["message"].endswith("c")
    got["message"].encode("utf-8")  # writable as UTF-8


def test_a_str_subclass_travels_as_plain_text() -> None:
    class Sneaky(str):
        def __reduce__(self):  # noqa: ANN204
            raise AssertionError("never called")

    got = decode_frame(body(encode_frame({"type": "start", "id": Sneaky("ch01.1.x")})))
    assert got["id"] == "ch01.1.x" and type(got["id"]) is str
