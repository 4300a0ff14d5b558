"""CIFAR-10 and Fashion-MNIST through torchvision's own dataset classes, as whole tensors.

torchvision downloads and parses the files; this module only fetches on request, checks the
files against datasets/checksums.json, and turns torchvision's arrays into one normalized
float32 tensor per split. Fetch once (needs the network), then load offline::

    dlbn data fetch cifar10
    python -c "from dlbn.data import load_cifar10; print(load_cifar10())"

Files land in ``<data_dir>/cifar10/cifar-10-batches-py/`` and
``<data_dir>/fashion_mnist/FashionMNIST/raw/``, the layout torchvision expects.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlbn.data_common import (
    DATASETS,
    DataCorrupt,
    DataError,
    DataNotFound,
    DataStatus,
    Splits,
    checksums,
    file_digest,
)
from dlbn.paths import data_dir

if TYPE_CHECKING:
    import torch

# Per-channel mean and std of the training images scaled to [0, 1].
CIFAR10_MEAN = (0.4914, 0.4822, 0.4465)
CIFAR10_STD = (0.2470, 0.2435, 0.2616)
FASHION_MNIST_MEAN = (0.2860,)
FASHION_MNIST_STD = (0.3530,)

FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)  # fmt: skip


def _entries(name: str, role: str | None = None) -> dict[str, dict[str, Any]]:
    """checksums.json rows for ``name`` (path relative to data_dir -> entry), by role."""
    rows = checksums()[name]
    return {rel: e for rel, e in rows.items() if role is None or e.get("role") == role}


def _idx_shape(path: Path) -> tuple[int, ...] | None:
    """The dims in an idx-ubyte header (big-endian), or None if the file size disagrees."""
    with open(path, "rb") as f:
        header = f.read(4)
        if len(header) < 4 or header[:3] != b"\x00\x00\x08":  # zero, zero, uint8 type code
            return None
        raw_dims = f.read(4 * header[3])
    if len(raw_dims) != 4 * header[3]:
        return None
    dims = struct.unpack(f">{header[3]}I", raw_dims)
    size = 1
    for d in dims:
        size *= d
    return dims if path.stat().st_size == 4 + 4 * len(dims) + size else None


def _hash_problem(path: Path, entry: dict[str, Any]) -> str | None:
    """Size, then the strongest hash the entry has (sha256, else md5)."""
    if "bytes" in entry and path.stat().st_size != entry["bytes"]:
        return f"{path.name}: {path.stat().st_size:,} bytes, expected {entry['bytes']:,}"
    algorithm = "sha256" if "sha256" in entry else "md5"
    if algorithm not in entry:
        return None
    got = file_digest(path, algorithm)
    if got == entry[algorithm]:
        return None
    problem = f"{path.name}: {algorithm} {got}, expected {entry[algorithm]}"
    if algorithm == "sha256" and "md5" in entry and file_digest(path, "md5") == entry["md5"]:
        # The image sets' sha256s come from published sources (datasets/README.md); a file
        # that passes torchvision's md5 but not them would mean a wrong entry: say so.
        problem += " (its md5 matches torchvision's: please report the sha256 entry)"
    return problem


def _problem(path: Path, entry: dict[str, Any], hashes: bool, formats: bool) -> str | None:
    """Why ``path`` does not match its checksums.json ``entry``; None if it does."""
    if hashes:
        problem = _hash_problem(path, entry)
        if problem:
            return problem
    if formats and entry.get("format") == "idx":
        shape = _idx_shape(path)
        if shape != tuple(entry["shape"]):
            return f"{path.name}: idx shape {shape}, expected {tuple(entry['shape'])}"
    return None


def check_files(
    name: str,
    root: str | os.PathLike[str] | None = None,
    *,
    archives: bool = True,
    hashes: bool = True,
    formats: bool = True,
) -> DataStatus:
    """Check ``name``'s files against checksums.json without importing torch.

    missing: a data file torchvision reads is absent. corrupt: a file that is present fails
    its sha256/md5 (``hashes``) or its idx header shape (``formats``). Archives
    (``archives``) are checked when present: torchvision keeps them after extracting, but
    loading does not need them.
    """
    base = data_dir(root)
    folder = base / name
    data_rows = _entries(name, "data")
    missing = [rel for rel in data_rows if not (base / rel).is_file()]
    if missing:
        first = missing[0].split("/", 1)[1]  # relative to the data set's folder
        detail = f"{len(missing)} of {len(data_rows)} files missing, e.g. {first}"
        if any((base / rel).is_file() for rel in _entries(name, "archive")):
            detail += f"; the download is here: `dlbn data fetch {name}` extracts it"
        return DataStatus(name, "missing", folder, detail)
    checked = dict(data_rows)
    if archives:
        checked.update({r: e for r, e in _entries(name, "archive").items() if (base / r).is_file()})
    for rel, entry in checked.items():
        problem = _problem(base / rel, entry, hashes, formats)
        if problem:
            return DataStatus(name, "corrupt", folder, problem)
    what = "files match checksums.json" if hashes else "files present"
    return DataStatus(name, "present", folder, what)


def _not_found(name: str, root: str | os.PathLike[str] | None, detail: str) -> DataNotFound:
    folder = data_dir(root) / name
    card = DATASETS[name]
    return DataNotFound(
        f"{card.title} is not on disk ({detail}).\n"
        f"Fetch it with:\n"
        f"    dlbn data fetch {name}\n"
        f"({card.fetch}); it will land in {folder}"
    )


def fetch_images(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Download ``name`` with torchvision (skipped if already there), then check every file.

    Returns the data set's folder. Raises `DataError` when the download fails and
    `DataCorrupt` when a file does not match checksums.json.
    """
    from torchvision.datasets import CIFAR10, FashionMNIST

    folder = data_dir(root) / name
    folder.mkdir(parents=True, exist_ok=True)
    cls = {"cifar10": CIFAR10, "fashion_mnist": FashionMNIST}[name]
    try:
        cls(str(folder), train=True, download=True)  # one download covers both splits
    except (OSError, RuntimeError) as e:  # URLError is an OSError; md5 failures are RuntimeError
        archives = ", ".join(Path(rel).name for rel in _entries(name, "archive"))
        raise DataError(
            f"could not download {DATASETS[name].title} into {folder}: {e}\n"
            f"Offline? Copy {archives} into {folder} by hand and run "
            f"`dlbn data fetch {name}` again: torchvision uses files that are already there."
        ) from e
    status = check_files(name, root)
    if status.status != "present":
        raise DataCorrupt(f"{DATASETS[name].title} in {folder} is {status.status}: {status.detail}")
    return folder


def _without_md5(cls: type) -> type:
    """A subclass of a torchvision CIFAR class whose file lists carry no md5.

    torchvision's ``check_integrity(path, md5=None)`` then only checks that each file
    exists. Only for files that cannot match the real md5s: the tests' tiny copies in the
    real format, or a re-packaged copy checked some other way.
    """
    return type(
        f"Unchecked{cls.__name__}",
        (cls,),
        {
            "train_list": [[filename, None] for filename, _ in cls.train_list],
            "test_list": [[filename, None] for filename, _ in cls.test_list],
            "meta": {**cls.meta, "md5": None},
        },
    )


def _normalize(
    images: torch.Tensor, mean: tuple[float, ...], std: tuple[float, ...], device: Any
) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 (N, C, H, W), ``(x / 255 - mean) / std`` per channel."""
    import torch

    x = images.to(device).float().div_(255)  # convert on the device: 4x less to copy
    mean_t = torch.tensor(mean, device=x.device).view(1, -1, 1, 1)  # (1, C, 1, 1)
    std_t = torch.tensor(std, device=x.device).view(1, -1, 1, 1)
    return x.sub_(mean_t).div_(std_t)


def _load(
    name: str,
    cls: type,
    root: str | os.PathLike[str] | None,
    download: bool,
    check_integrity: bool,
) -> tuple[Any, Any]:
    """Fetch if asked, check the files are there, then build torchvision's two splits."""
    if download:
        fetch_images(name, root)
    status = check_files(name, root, archives=False, hashes=False, formats=check_integrity)
    folder = str(data_dir(root) / name)
    if status.status == "missing":
        raise _not_found(name, root, status.detail)
    if status.status == "corrupt":
        raise DataCorrupt(
            f"{DATASETS[name].title} in {folder} is corrupt: {status.detail}\n"
            f"Delete that folder and run: dlbn data fetch {name}"
        )
    try:
        return cls(folder, train=True), cls(folder, train=False)
    except (RuntimeError, ValueError, TypeError, AssertionError, KeyError) as e:
        raise DataCorrupt(
            f"{DATASETS[name].title} in {folder} cannot be read ({type(e).__name__}: {e}).\n"
            f"Delete that folder and run: dlbn data fetch {name}"
        ) from e


def load_cifar10(
    device: str | torch.device = "cpu",
    root: str | os.PathLike[str] | None = None,
    download: bool = False,
    check_integrity: bool = True,
) -> Splits:
    """CIFAR-10 as whole tensors on ``device``.

    Returns `Splits` with x_train (50000, 3, 32, 32) float32, normalized per channel with
    `CIFAR10_MEAN`/`CIFAR10_STD`; y_train (50000,) int64; x_test (10000, 3, 32, 32);
    y_test (10000,). ~740 MB as float32. ``download=True`` fetches first; otherwise missing
    files raise `DataNotFound`, naming ``dlbn data fetch cifar10``. ``check_integrity``:
    torchvision md5-checks each batch file (~0.3 s); turn off only for files known not to
    match the real ones (tests).
    """
    import torch
    from torchvision.datasets import CIFAR10

    cls = CIFAR10 if check_integrity else _without_md5(CIFAR10)
    train, test = _load("cifar10", cls, root, download, check_integrity)

    def images(split: Any) -> torch.Tensor:  # numpy (N, 32, 32, 3) uint8 -> (N, 3, 32, 32)
        return torch.from_numpy(split.data).permute(0, 3, 1, 2).contiguous()

    return Splits(
        name="cifar10",
        x_train=_normalize(images(train), CIFAR10_MEAN, CIFAR10_STD, device),  # (N, 3, 32, 32)
        y_train=torch.tensor(train.targets, dtype=torch.int64, device=device),  # (N,)
        x_test=_normalize(images(test), CIFAR10_MEAN, CIFAR10_STD, device),
        y_test=torch.tensor(test.targets, dtype=torch.int64, device=device),
        num_classes=10,
        classes=tuple(train.classes),
    )


def load_fashion_mnist(
    device: str | torch.device = "cpu",
    root: str | os.PathLike[str] | None = None,
    download: bool = False,
    check_integrity: bool = True,
) -> Splits:
    """Fashion-MNIST as whole tensors on ``device``.

    Returns `Splits` with x_train (60000, 1, 28, 28) float32, normalized with
    `FASHION_MNIST_MEAN`/`FASHION_MNIST_STD`; y_train (60000,) int64; x_test
    (10000, 1, 28, 28); y_test (10000,). torchvision reads the extracted idx files and keeps
    no checksum for them, so ``check_integrity`` checks their headers against the real
    shapes (60000x28x28, ...); turn off only for files known to differ (tests).
    """
    import torch
    from torchvision.datasets import FashionMNIST

    train, test = _load("fashion_mnist", FashionMNIST, root, download, check_integrity)
    mean, std = FASHION_MNIST_MEAN, FASHION_MNIST_STD
    return Splits(
        name="fashion_mnist",
        x_train=_normalize(train.data.unsqueeze(1), mean, std, device),  # (N, 1, 28, 28)
        y_train=train.targets.to(device=device, dtype=torch.int64),  # (N,)
        x_test=_normalize(test.data.unsqueeze(1), mean, std, device),
        y_test=test.targets.to(device=device, dtype=torch.int64),
        num_classes=10,
        classes=FASHION_MNIST_CLASSES,
    )
