"""Writers of tiny data files in the real on-disk formats torchvision reads (no network).

CIFAR-10: ``cifar-10-batches-py/`` with five ``data_batch_N`` files, ``test_batch`` and
``batches.meta``, pickled by Python 2 as the real ones were. Each image is a row of 3,072
bytes: the red, green and blue 32x32 planes, row-major.
"""

from __future__ import annotations

import io
import pickle
import struct
from pathlib import Path

import numpy as np

CIFAR_NAMES = [b"airplane", b"automobile", b"bird", b"cat", b"deer"]
CIFAR_NAMES += [b"dog", b"frog", b"horse", b"ship", b"truck"]


class _Py2Pickler(pickle._Pickler):
    """Writes bytes as Python 2 ``str`` (SHORT_BINSTRING), as in the real CIFAR-10 batches.

    They were pickled by Python 2: torchvision reads them with ``encoding="latin1"`` (keys
    come back as str), the CIFAR page's recipe with ``encoding="bytes"`` (keys ``b"data"``).
    A Python 3 pickle of ``{b"data": ...}`` would give bytes keys to torchvision too.
    """

    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj: bytes) -> None:
        if len(obj) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(obj)]) + obj)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(obj)) + obj)
        self.memoize(obj)

    dispatch[bytes] = _save_py2_str


def py2_pickle(path: Path, obj: dict) -> None:
    buffer = io.BytesIO()
    _Py2Pickler(buffer, protocol=2).dump(obj)
    path.write_bytes(buffer.getvalue())


def write_tiny_cifar10(
    data_root: Path, *, per_batch: int = 2, test: int = 3, seed: int = 0,
    labels: list[int] | None = None,
) -> dict[str, np.ndarray]:
    """``<data_root>/cifar10/cifar-10-batches-py/``: 5 x ``per_batch`` training and ``test``
    test images of random pixels. ``labels`` (length 5 * per_batch + test) default to random.

    Returns {"images": (N, 3072) uint8, "labels": (N,)}, training images first.
    """
    folder = data_root / "cifar10" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    total = 5 * per_batch + test
    images = rng.integers(0, 256, size=(total, 3072), dtype=np.uint8)  # rows: R, G, B planes
    labels = [int(v) for v in rng.integers(0, 10, size=total)] if labels is None else labels
    for b in range(5):
        rows = slice(per_batch * b, per_batch * (b + 1))
        batch = {
            b"batch_label": f"training batch {b + 1} of 5".encode(),
            b"labels": labels[rows],
            b"data": images[rows],
            b"filenames": [f"img_{i}.png".encode() for i in range(*rows.indices(total))],
        }
        py2_pickle(folder / f"data_batch_{b + 1}", batch)
    first = 5 * per_batch
    py2_pickle(folder / "test_batch", {
        b"batch_label": b"testing batch 1 of 1", b"labels": labels[first:],
        b"data": images[first:], b"filenames": [f"t{i}.png".encode() for i in range(test)],
    })
    meta = {b"num_cases_per_batch": per_batch, b"label_names": CIFAR_NAMES, b"num_vis": 3072}
    py2_pickle(folder / "batches.meta", meta)
    return {"images": images, "labels": np.array(labels)}
