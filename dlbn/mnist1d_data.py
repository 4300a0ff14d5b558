"""MNIST-1D, the default data set: generated offline by the `mnist1d` package, then cached.

The first call runs ``mnist1d.data.make_dataset(get_dataset_args())`` (seed 42, 4,000 train
/ 1,000 test signals of length 40; ~2 s) and writes ``<data_dir>/mnist1d/mnist1d.npz``. The
file is byte-stable (fixed zip timestamps, float32/int64 arrays), so its sha256 is recorded in
datasets/checksums.json and every later load checks it (~5 ms)::

    from dlbn.data import load_mnist1d
    data = load_mnist1d(device="cpu")  # data.x_train: (4000, 1, 40) float32
"""

from __future__ import annotations

import hashlib
import io
import os
import random
import warnings
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from dlbn.data_common import (
    DataCacheWarning,
    DataCorrupt,
    DataError,
    DataStatus,
    Splits,
    checksums,
    dataset_dir,
)

if TYPE_CHECKING:
    import torch

FILENAME = "mnist1d.npz"
# What the cache holds: name -> (shape, dtype). Signals are stored without the channel axis.
LAYOUT: dict[str, tuple[tuple[int, ...], type[np.generic]]] = {
    "x_train": ((4000, 40), np.float32),
    "y_train": ((4000,), np.int64),
    "x_test": ((1000, 40), np.float32),
    "y_test": ((1000,), np.int64),
}
_ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the earliest zip timestamp: no wall clock in the bytes


def mnist1d_path(root: str | os.PathLike[str] | None = None) -> Path:
    """The cache file: ``data_dir(root) / "mnist1d" / "mnist1d.npz"``."""
    return dataset_dir("mnist1d", root) / FILENAME


def generate_mnist1d() -> dict[str, np.ndarray]:
    """Run mnist1d's generator with its default arguments; no disk access.

    ``make_dataset`` calls ``set_seed(42)``, which reseeds Python's `random` and NumPy's
    global RNG; both states are saved before and restored after, so a caller's random
    stream is not silently reset. Returns the arrays of `LAYOUT` (x float32, y int64).
    """
    from mnist1d.data import get_dataset_args, make_dataset  # imports matplotlib: keep lazy

    numpy_state, python_state = np.random.get_state(), random.getstate()
    try:
        raw = make_dataset(get_dataset_args())  # keys: x, y, x_test, y_test, t, templates
    finally:
        np.random.set_state(numpy_state)
        random.setstate(python_state)
    return {
        "x_train": raw["x"].astype(np.float32),  # (4000, 40)
        "y_train": raw["y"].astype(np.int64),  # (4000,)
        "x_test": raw["x_test"].astype(np.float32),  # (1000, 40)
        "y_test": raw["y_test"].astype(np.int64),  # (1000,)
    }


def npz_bytes(arrays: dict[str, np.ndarray]) -> bytes:
    """An .npz that `np.load` reads, with the same bytes for the same arrays on every run.

    ``np.savez`` stamps each member with the current time (and the host OS), so its sha256
    changes on every write; here the timestamp, OS field and member order are fixed.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for key in LAYOUT:
            member = io.BytesIO()
            np.lib.format.write_array(member, np.ascontiguousarray(arrays[key]), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=_ZIP_TIME)
            info.create_system = 3  # "Unix" on every host
            info.external_attr = 0o644 << 16
            archive.writestr(info, member.getvalue())
    return buffer.getvalue()


def parse_npz(blob: bytes) -> dict[str, np.ndarray]:
    """Read the cache's arrays and check them against `LAYOUT`; raises `DataCorrupt`."""
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in LAYOUT}
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as e:
        raise DataCorrupt(f"not a readable MNIST-1D cache ({type(e).__name__}: {e})") from e
    for key, (shape, dtype) in LAYOUT.items():
        got = arrays[key]
        if got.shape != shape or got.dtype != dtype:
            raise DataCorrupt(
                f"{key} is {got.shape} {got.dtype}, expected {shape} {np.dtype(dtype).name}"
            )
    return arrays


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256")


def reference_sha256() -> str | None:
    """The sha256 recorded in datasets/checksums.json (None without a course checkout)."""
    try:
        return checksums()["mnist1d"][f"mnist1d/{FILENAME}"]["sha256"]
    except (DataError, KeyError):
        return None


def _accepted(path: Path) -> set[str]:
    """The reference digest, plus the one this machine produced if it differed.

    Float rounding in NumPy/SciPy can differ across versions and CPUs; a cache generated
    here that differs from the reference is kept (with a warning at generation time) and
    its digest is written beside it, so it is not regenerated on every load.
    """
    accepted = {reference_sha256()}
    sidecar = _sidecar(path)
    if sidecar.is_file():
        accepted.add(sidecar.read_text().strip())
    return {d for d in accepted if d}


def _read_verified(path: Path) -> tuple[dict[str, np.ndarray], str]:
    """The arrays and the file's sha256; raises `DataCorrupt` on a digest or layout mismatch."""
    blob = path.read_bytes()
    digest = hashlib.sha256(blob).hexdigest()
    accepted = _accepted(path)
    if accepted and digest not in accepted:
        expected = " or ".join(sorted(accepted))
        raise DataCorrupt(f"sha256 is {digest}, expected {expected}")
    return parse_npz(blob), digest


def _write_atomically(path: Path, blob: bytes) -> None:
    """Write beside, then rename: a reader in another process never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, path)


def mnist1d_arrays(root: str | os.PathLike[str] | None = None) -> dict[str, np.ndarray]:
    """The cached arrays of `LAYOUT`, generating (or regenerating a bad cache) first."""
    path = mnist1d_path(root)
    if path.exists():
        try:
            return _read_verified(path)[0]
        except DataCorrupt as e:
            warnings.warn(
                f"MNIST-1D cache {path} is damaged ({e}); regenerating it",
                DataCacheWarning,
                stacklevel=3,
            )
    arrays = generate_mnist1d()
    blob = npz_bytes(arrays)
    digest = hashlib.sha256(blob).hexdigest()
    reference = reference_sha256()
    _write_atomically(path, blob)
    if reference is not None and digest != reference:
        warnings.warn(
            f"MNIST-1D generated here has sha256 {digest}, not the reference {reference} "
            "(different NumPy/SciPy/mnist1d?); using it, and recording its digest beside it",
            DataCacheWarning,
            stacklevel=3,
        )
        _write_atomically(_sidecar(path), (digest + "\n").encode())
    else:
        _sidecar(path).unlink(missing_ok=True)
    return arrays


def load_mnist1d(
    device: str | torch.device = "cpu", root: str | os.PathLike[str] | None = None
) -> Splits:
    """MNIST-1D as tensors on ``device``, generated and cached on first use.

    Returns `Splits` with x_train (4000, 1, 40) float32, y_train (4000,) int64,
    x_test (1000, 1, 40) float32, y_test (1000,) int64, num_classes=10. The signals are
    already centred and scaled to unit standard deviation by the generator.
    ``root`` is the course root (data lands in ``<root>/datasets``); ``DLBN_DATA`` overrides.
    """
    import torch

    arrays = mnist1d_arrays(root)
    tensors = {key: torch.from_numpy(value).to(device) for key, value in arrays.items()}
    return Splits(
        name="mnist1d",
        x_train=tensors["x_train"].unsqueeze(1),  # (4000, 1, 40)
        y_train=tensors["y_train"],  # (4000,)
        x_test=tensors["x_test"].unsqueeze(1),  # (1000, 1, 40)
        y_test=tensors["y_test"],  # (1000,)
        num_classes=10,
        classes=tuple(str(digit) for digit in range(10)),
    )


def verify_mnist1d(root: str | os.PathLike[str] | None = None) -> DataStatus:
    """present (sha256 and shapes check out), missing, or corrupt; never generates."""
    path = mnist1d_path(root)
    if not path.exists():
        detail = "generated on first use, or by `dlbn data fetch mnist1d`"
        return DataStatus("mnist1d", "missing", path, detail)
    try:
        _, digest = _read_verified(path)
    except DataCorrupt as e:
        return DataStatus("mnist1d", "corrupt", path, f"{e}; the next load regenerates it")
    if digest == reference_sha256():
        return DataStatus("mnist1d", "present", path, "sha256 matches checksums.json")
    return DataStatus("mnist1d", "present", path, f"generated here, sha256 {digest[:16]}…")
