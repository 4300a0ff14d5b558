"""The data layer: every data set as whole tensors on a device, by name.

MNIST-1D is the default and needs no network (generated, then cached); CIFAR-10 and
Fashion-MNIST come through torchvision once fetched. Batches are index slices of these
tensors (airbench style), not a DataLoader::

    from dlbn.data import load
    data = load("mnist1d", device="cpu")   # Splits: x_train (4000, 1, 40) float32
    idx = torch.randperm(len(data.y_train), device=data.device)[:128]
    x, y = data.x_train[idx], data.y_train[idx]  # (128, 1, 40), (128,)

On the command line: ``dlbn data list``, ``dlbn data fetch cifar10``, ``dlbn data verify``.
Importing this module imports neither torch nor torchvision.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

from dlbn.data_common import (
    DATASETS,
    DataCacheWarning,
    DataCorrupt,
    DataError,
    DataNotFound,
    DatasetCard,
    DataStatus,
    Splits,
    UnknownDataset,
    canonical_name,
    checksums,
    dataset_dir,
)
from dlbn.image_data import (
    CIFAR10_MEAN,
    CIFAR10_STD,
    FASHION_MNIST_MEAN,
    FASHION_MNIST_STD,
    check_files,
    fetch_images,
    load_cifar10,
    load_fashion_mnist,
)
from dlbn.mnist1d_data import (
    generate_mnist1d,
    load_mnist1d,
    mnist1d_arrays,
    mnist1d_path,
    verify_mnist1d,
)

if TYPE_CHECKING:
    import torch

__all__ = [
    "CIFAR10_MEAN",
    "CIFAR10_STD",
    "DATASETS",
    "FASHION_MNIST_MEAN",
    "FASHION_MNIST_STD",
    "DataCacheWarning",
    "DataCorrupt",
    "DataError",
    "DataNotFound",
    "DataStatus",
    "DatasetCard",
    "Splits",
    "UnknownDataset",
    "canonical_name",
    "checksums",
    "dataset_dir",
    "fetch",
    "generate_mnist1d",
    "is_on_disk",
    "load",
    "load_cifar10",
    "load_fashion_mnist",
    "load_mnist1d",
    "verify",
]

DEFAULT = "mnist1d"


def load(
    name: str = DEFAULT,
    device: str | torch.device = "cpu",
    root: str | os.PathLike[str] | None = None,
    download: bool = False,
) -> Splits:
    """Data set ``name`` ("mnist1d", "cifar10", "fashion_mnist") as `Splits` on ``device``.

    MNIST-1D is generated on first use whatever ``download`` says; the image sets raise
    `DataNotFound` unless fetched before or ``download=True``. Unknown names raise
    `UnknownDataset`, listing the valid ones.
    """
    key = canonical_name(name)
    if key == "mnist1d":
        return load_mnist1d(device=device, root=root)
    loader = {"cifar10": load_cifar10, "fashion_mnist": load_fashion_mnist}[key]
    return loader(device=device, root=root, download=download)


def fetch(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Put data set ``name`` on disk and check it; returns its folder.

    MNIST-1D: generate and cache (no network). CIFAR-10, Fashion-MNIST: download with
    torchvision unless already there, then check sha256/md5 against datasets/checksums.json.
    """
    key = canonical_name(name)
    if key == "mnist1d":
        mnist1d_arrays(root)
        return dataset_dir(key, root)
    return fetch_images(key, root)


def verify(
    root: str | os.PathLike[str] | None = None, names: list[str] | None = None
) -> list[DataStatus]:
    """For each data set (all by default): present, missing or corrupt, with the path checked.

    Hashes every file that is there (CIFAR-10: ~1 s); never downloads or generates.
    """
    statuses = []
    for name in names or list(DATASETS):
        key = canonical_name(name)
        statuses.append(verify_mnist1d(root) if key == "mnist1d" else check_files(key, root))
    return statuses


def is_on_disk(name: str, root: str | os.PathLike[str] | None = None) -> bool:
    """Whether the files ``load`` reads exist (no hashing; for listings)."""
    key = canonical_name(name)
    if key == "mnist1d":
        return mnist1d_path(root).is_file()
    return check_files(key, root, archives=False, hashes=False, formats=False).status != "missing"
