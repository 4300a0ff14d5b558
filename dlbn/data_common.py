"""What every data set shares: the `Splits` container, the errors, the cards, the checksums.

Nothing here imports torch; `dlbn data list` and `dlbn data verify` run on this alone.
The public names are re-exported by `dlbn.data`; import them from there::

    from dlbn.data import DATASETS, Splits, DataNotFound
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dlbn.paths import data_dir

if TYPE_CHECKING:
    import torch


class DataError(Exception):
    """Anything wrong with a data set: unknown, missing, corrupt, or not downloadable."""


class UnknownDataset(DataError):
    """A name that is not in `DATASETS`."""


class DataNotFound(DataError):
    """The files are not on disk; the message names the command that fetches them."""


class DataCorrupt(DataError):
    """The files are on disk but do not match their checksums or their format."""


class DataCacheWarning(UserWarning):
    """A cache was unreadable or did not match its checksum and was rebuilt."""


@dataclass(frozen=True, eq=False, repr=False)
class Splits:
    """A whole data set as tensors, train and test (airbench style: batches are slices).

    ``x_train`` is (N, C, L) for 1-D signals or (N, C, H, W) for images, float32;
    ``y_train`` is (N,) int64 class indices in ``[0, num_classes)``; same for test.
    """

    name: str
    x_train: torch.Tensor  # (N_train, C, ...) float32
    y_train: torch.Tensor  # (N_train,) int64
    x_test: torch.Tensor  # (N_test, C, ...) float32
    y_test: torch.Tensor  # (N_test,) int64
    num_classes: int = 10
    classes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        for x, y, split in (
            (self.x_train, self.y_train, "train"),
            (self.x_test, self.y_test, "test"),
        ):
            if x.shape[0] != y.shape[0]:
                raise ValueError(
                    f"{self.name} {split}: {x.shape[0]} inputs but {y.shape[0]} labels"
                )

    def to(self, device: str | torch.device) -> Splits:
        """The same data on ``device`` (a new `Splits`; this one is unchanged)."""
        return dataclasses.replace(
            self,
            x_train=self.x_train.to(device),
            y_train=self.y_train.to(device),
            x_test=self.x_test.to(device),
            y_test=self.y_test.to(device),
        )

    def head(self, n_train: int, n_test: int) -> Splits:
        """The first ``n_train`` training and ``n_test`` test examples (views, no copy)."""
        return dataclasses.replace(
            self, x_train=self.x_train[:n_train], y_train=self.y_train[:n_train],
            x_test=self.x_test[:n_test], y_test=self.y_test[:n_test])

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def __repr__(self) -> str:
        def shape(t: torch.Tensor) -> str:
            return f"{tuple(t.shape)} {str(t.dtype).removeprefix('torch.')}"

        return (
            f"Splits({self.name!r}, x_train={shape(self.x_train)}, y_train={shape(self.y_train)}, "
            f"x_test={shape(self.x_test)}, y_test={shape(self.y_test)}, "
            f"num_classes={self.num_classes}, device={self.device})"
        )


@dataclass(frozen=True)
class DataStatus:
    """What `verify` found for one data set."""

    name: str
    status: str  # "present" | "missing" | "corrupt"
    path: Path  # the file or folder that was checked
    detail: str = ""

    @property
    def ok(self) -> bool:
        """Not corrupt: missing data is normal until fetched."""
        return self.status != "corrupt"

    def to_dict(self) -> dict[str, str]:
        return {
            "name": self.name,
            "status": self.status,
            "path": str(self.path),
            "detail": self.detail,
        }


@dataclass(frozen=True)
class DatasetCard:
    """The facts `dlbn data list` shows; datasets/README.md has the full card."""

    name: str  # the id used everywhere: `dlbn data fetch <name>`, `load(<name>)`
    title: str
    source: str  # paper and home page
    license: str  # SPDX id, or "unspecified" (CIFAR-10: cite the tech report)
    size: str  # on disk after fetching: archives plus extracted files
    splits: str  # "train / test" example counts
    shapes: str  # of x (float32) in the `Splits` that `load` returns; y is always (N,) int64
    fetch: str  # what `dlbn data fetch` does for it

    def to_dict(self) -> dict[str, str]:
        return dataclasses.asdict(self)


DATASETS: dict[str, DatasetCard] = {
    card.name: card
    for card in (
        DatasetCard(
            name="mnist1d",
            title="MNIST-1D",
            source="Greydanus & Kobak 2020/2024, arXiv:2011.14439; github.com/greydanus/mnist1d",
            license="Apache-2.0",
            size="0.8 MB",
            splits="4,000 / 1,000",
            shapes="(N, 1, 40)",
            fetch="generated offline by the mnist1d package (seed 42), ~2 s",
        ),
        DatasetCard(
            name="cifar10",
            title="CIFAR-10",
            source="Krizhevsky 2009, Learning Multiple Layers of Features from Tiny Images",
            license="unspecified",
            size="357 MB",
            splits="50,000 / 10,000",
            shapes="(N, 3, 32, 32)",
            fetch="downloaded by torchvision (170 MB archive), sha256-checked",
        ),
        DatasetCard(
            name="fashion_mnist",
            title="Fashion-MNIST",
            source="Xiao, Rasul & Vollgraf 2017, arXiv:1708.07747; "
            "github.com/zalandoresearch/fashion-mnist",
            license="MIT",
            size="86 MB",
            splits="60,000 / 10,000",
            shapes="(N, 1, 28, 28)",
            fetch="downloaded by torchvision (four .gz files, 31 MB), sha256-checked",
        ),
    )
}

# Other spellings, keyed by lowercase letters and digits only.
_ALIASES = {"cifar": "cifar10", "fmnist": "fashion_mnist"}


def canonical_name(name: str) -> str:
    """``"Fashion-MNIST"`` -> ``"fashion_mnist"``; raises `UnknownDataset` listing the names."""
    compact = "".join(ch for ch in name.lower() if ch.isalnum())  # "CIFAR-10" -> "cifar10"
    for key in DATASETS:
        if compact == key.replace("_", ""):
            return key
    if compact in _ALIASES:
        return _ALIASES[compact]
    raise UnknownDataset(f"unknown data set {name!r}; data sets: {', '.join(DATASETS)}")


def dataset_dir(name: str, root: str | os.PathLike[str] | None = None) -> Path:
    """Where data set ``name`` lives: ``data_dir(root) / name`` (``DLBN_DATA`` overrides)."""
    return data_dir(root) / canonical_name(name)


def file_digest(path: str | os.PathLike[str], algorithm: str = "sha256") -> str:
    """Hex digest of a file, read in 1 MiB chunks (170 MB in ~0.4 s)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


# The tracked checksums file, beside the package in a course checkout.
CHECKSUMS_PATH = Path(__file__).resolve().parent.parent / "datasets" / "checksums.json"


@lru_cache(maxsize=1)
def checksums() -> dict[str, dict[str, dict[str, Any]]]:
    """datasets/checksums.json: ``{name: {path relative to data_dir: {"sha256", "md5", ...}}}``.

    Raises `DataError` when the file is absent (dlbn installed without its course folder).
    """
    try:
        table = json.loads(CHECKSUMS_PATH.read_text())
    except FileNotFoundError as e:
        raise DataError(f"checksums file not found: {CHECKSUMS_PATH}") from e
    except json.JSONDecodeError as e:
        raise DataError(f"checksums file is not valid JSON: {CHECKSUMS_PATH}: {e}") from e
    return {name: entries for name, entries in table.items() if not name.startswith("_")}
