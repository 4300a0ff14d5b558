"""The data layer (dlbn.data) and `dlbn data`, without the network.

MNIST-1D is generated once per module (~2 s) into a temporary folder; CIFAR-10 and
Fashion-MNIST are tiny files written here in the real on-disk formats and read by the same
loaders, with download off. Every test points DLBN_DATA at a temporary folder, so nothing
is written inside the repository.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import pickle
import random
import struct
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.error import URLError

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from data_formats import write_tiny_cifar10

import dlbn.mnist1d_data as mnist1d_data
from dlbn import data
from grader.cli.data import data as data_cli

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def data_root(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """An empty data folder per test (DLBN_DATA overrides every other location)."""
    root = tmp_path / "data"
    monkeypatch.setenv("DLBN_DATA", str(root))
    return root


# ---------------------------------------------------------------- MNIST-1D


@dataclass(frozen=True)
class Generated:
    folder: Path  # a DLBN_DATA folder holding mnist1d/mnist1d.npz
    splits: data.Splits
    seconds: float  # first load: generation + writing the cache
    numpy_state_kept: bool
    python_state_kept: bool


def _same_numpy_state(a: tuple, b: tuple) -> bool:
    return a[0] == b[0] and np.array_equal(a[1], b[1]) and a[2:] == b[2:]


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Generated:
    """Generate MNIST-1D once for the module, recording the global RNG states around it."""
    folder = tmp_path_factory.mktemp("mnist1d_data")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DLBN_DATA", str(folder))
        np.random.seed(1234)
        random.seed(1234)
        numpy_before, python_before = np.random.get_state(), random.getstate()
        start = time.perf_counter()
        splits = data.load_mnist1d()
        seconds = time.perf_counter() - start
        numpy_kept = _same_numpy_state(numpy_before, np.random.get_state())
        python_kept = python_before == random.getstate()
    return Generated(folder, splits, seconds, numpy_kept, python_kept)


def _reference() -> str:
    return json.loads((REPO / "datasets" / "checksums.json").read_text())["mnist1d"][
        "mnist1d/mnist1d.npz"
    ]["sha256"]


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_mnist1d_shapes_dtypes_and_labels(generated: Generated) -> None:
    s = generated.splits
    assert (s.name, s.num_classes, s.classes[:2]) == ("mnist1d", 10, ("0", "1"))
    assert s.x_train.shape == (4000, 1, 40) and s.x_train.dtype == torch.float32
    assert s.y_train.shape == (4000,) and s.y_train.dtype == torch.int64
    assert s.x_test.shape == (1000, 1, 40) and s.x_test.dtype == torch.float32
    assert s.y_test.shape == (1000,) and s.y_test.dtype == torch.int64
    assert s.device == torch.device("cpu")
    labels = torch.cat([s.y_train, s.y_test])
    assert labels.min() == 0 and labels.max() == 9
    assert torch.bincount(s.y_train).min() > 350  # roughly balanced: 400 per class
    x = torch.cat([s.x_train, s.x_test])  # the generator centres and scales the whole set
    assert abs(x.mean().item()) < 1e-3 and abs(x.std().item() - 1) < 1e-3
    assert "(4000, 1, 40) float32" in repr(s)


def test_mnist1d_generation_is_deterministic_and_recorded(generated: Generated) -> None:
    """The cache has the sha256 recorded in datasets/checksums.json (from an earlier run)."""
    cache = generated.folder / "mnist1d" / "mnist1d.npz"
    assert _sha256(cache) == _reference()
    assert not (generated.folder / "mnist1d" / "mnist1d.npz.sha256").exists()


def test_generation_leaves_global_rngs_alone(generated: Generated) -> None:
    """make_dataset calls set_seed(42) on NumPy's and Python's global RNGs; we restore them."""
    assert generated.numpy_state_kept
    assert generated.python_state_kept


def test_cached_load_is_fast_and_does_not_regenerate(
    generated: Generated, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DLBN_DATA", str(generated.folder))

    def must_not_run() -> None:
        raise AssertionError("regenerated although the cache is valid")

    monkeypatch.setattr(mnist1d_data, "generate_mnist1d", must_not_run)
    again = data.load("mnist1d")  # must_not_run proves the cache was used (no timing here)
    assert torch.equal(again.x_train, generated.splits.x_train)
    assert torch.equal(again.y_test, generated.splits.y_test)


def test_corrupt_cache_is_regenerated_with_a_warning(generated: Generated, data_root: Path) -> None:
    cache = data_root / "mnist1d" / "mnist1d.npz"
    cache.parent.mkdir(parents=True)
    blob = bytearray((generated.folder / "mnist1d" / "mnist1d.npz").read_bytes())
    blob[5000] ^= 0xFF  # one flipped byte inside x_train: the zip still opens
    cache.write_bytes(bytes(blob))
    assert data.verify()[0].status == "corrupt"
    with pytest.warns(data.DataCacheWarning, match="damaged"):
        splits = data.load_mnist1d()
    assert _sha256(cache) == _reference()  # a second, independent generation: same bytes
    assert torch.equal(splits.x_train, generated.splits.x_train)
    assert data.verify()[0].status == "present"


def test_npz_is_byte_stable_and_layout_checked(generated: Generated) -> None:
    arrays = mnist1d_data.parse_npz((generated.folder / "mnist1d" / "mnist1d.npz").read_bytes())
    assert mnist1d_data.npz_bytes(arrays) == mnist1d_data.npz_bytes(arrays)
    assert hashlib.sha256(mnist1d_data.npz_bytes(arrays)).hexdigest() == _reference()
    with np.load(io.BytesIO(mnist1d_data.npz_bytes(arrays))) as npz:  # plain numpy reads it
        assert npz["x_train"].shape == (4000, 40)
    short = {**arrays, "x_test": arrays["x_test"][:10]}
    with pytest.raises(data.DataCorrupt, match=r"x_test is \(10, 40\)"):
        mnist1d_data.parse_npz(mnist1d_data.npz_bytes(short))
    with pytest.raises(data.DataCorrupt, match="not a readable"):
        mnist1d_data.parse_npz(b"not a zip file")


def test_splits_to_returns_a_moved_copy(generated: Generated) -> None:
    s = generated.splits
    moved = s.to("meta")  # a real device change that needs no GPU
    assert moved.x_train.device.type == "meta" and moved.y_test.device.type == "meta"
    assert moved.x_train.shape == s.x_train.shape and moved.name == s.name
    assert s.device.type == "cpu"  # the original is unchanged (frozen)
    with pytest.raises(ValueError, match="4000 inputs but 3 labels"):
        data.Splits("bad", s.x_train, s.y_train[:3], s.x_test, s.y_test)


def test_load_by_name_and_unknown_names(generated: Generated, monkeypatch) -> None:
    monkeypatch.setenv("DLBN_DATA", str(generated.folder))
    assert data.load("MNIST-1D").name == "mnist1d"
    assert data.canonical_name("Fashion-MNIST") == "fashion_mnist"
    with pytest.raises(data.UnknownDataset, match="mnist1d, cifar10, fashion_mnist"):
        data.load("imagenet")


# ---------------------------------------------------------------- CIFAR-10, tiny


@pytest.fixture
def tiny_cifar(data_root: Path) -> dict[str, np.ndarray]:
    """cifar-10-batches-py/ with 2 images per training batch and 3 test images."""
    return write_tiny_cifar10(data_root)


def test_tiny_cifar_files_are_in_the_real_format(tiny_cifar, data_root: Path) -> None:
    path = data_root / "cifar10" / "cifar-10-batches-py" / "data_batch_1"
    with open(path, "rb") as f:
        batch = pickle.load(f, encoding="bytes")  # the recipe on the CIFAR-10 page
    assert batch[b"data"].dtype == np.uint8 and batch[b"data"].shape == (2, 3072)


def test_cifar10_loads_tiny_files(tiny_cifar) -> None:
    # The tiny files cannot match torchvision's md5s of the real batches, so the md5 check
    # is turned off; everything else (torchvision's parsing, our layout and normalization)
    # is the code users run. test_cifar10_md5_check_rejects_other_files covers the check.
    s = data.load_cifar10(check_integrity=False)
    assert s.x_train.shape == (10, 3, 32, 32) and s.x_train.dtype == torch.float32
    assert s.x_test.shape == (3, 3, 32, 32)
    assert (
        s.y_train.dtype == torch.int64 and s.y_train.tolist() == tiny_cifar["labels"][:10].tolist()
    )
    assert s.classes[0] == "airplane" and s.num_classes == 10
    raw = tiny_cifar["images"]  # (13, 3072): channel planes of 32x32 rows
    mean, std = data.CIFAR10_MEAN, data.CIFAR10_STD
    for i, c, h, w in [(0, 0, 0, 0), (3, 1, 5, 7), (12, 2, 31, 30)]:
        split, j = (s.x_train, i) if i < 10 else (s.x_test, i - 10)
        expected = (raw[i, c * 1024 + h * 32 + w] / 255 - mean[c]) / std[c]
        assert split[j, c, h, w].item() == pytest.approx(expected, abs=1e-5)


def test_cifar10_md5_check_rejects_other_files(tiny_cifar) -> None:
    with pytest.raises(data.DataCorrupt, match="dlbn data fetch cifar10"):
        data.load_cifar10()
    status = data.verify(names=["cifar10"])[0]
    assert status.status == "corrupt" and "md5" in status.detail


def test_missing_image_data_says_how_to_fetch(data_root: Path) -> None:
    with pytest.raises(data.DataNotFound) as info:
        data.load("cifar10")
    message = str(info.value)
    assert "dlbn data fetch cifar10" in message
    assert str(data_root / "cifar10") in message
    assert "cifar-10-batches-py/data_batch_1" in message
    with pytest.raises(data.DataNotFound, match="dlbn data fetch fashion_mnist"):
        data.load_fashion_mnist()
    assert issubclass(data.DataNotFound, data.DataError)


# ---------------------------------------------------------------- Fashion-MNIST, tiny


def _idx(array: np.ndarray) -> bytes:
    """idx-ubyte: zero, zero, type 0x08 (uint8), ndim; big-endian dims; the bytes."""
    header = bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(np.uint8).tobytes()


@pytest.fixture
def tiny_fashion(data_root: Path) -> dict[str, np.ndarray]:
    """FashionMNIST/raw/ as torchvision leaves it: the four .gz files and their contents."""
    raw = data_root / "fashion_mnist" / "FashionMNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(1)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (5, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, (5,), dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (2, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, (2,), dtype=np.uint8),
    }
    for name, array in arrays.items():
        (raw / name).write_bytes(_idx(array))  # what torchvision reads
        (raw / f"{name}.gz").write_bytes(gzip.compress(_idx(array)))  # what it downloaded
    return arrays


def test_fashion_mnist_loads_tiny_files(tiny_fashion) -> None:
    # torchvision keeps no checksums of the extracted files; our check compares their idx
    # headers with the real shapes (60000x28x28...), which tiny files cannot match.
    s = data.load_fashion_mnist(check_integrity=False)
    assert s.x_train.shape == (5, 1, 28, 28) and s.x_train.dtype == torch.float32
    assert s.x_test.shape == (2, 1, 28, 28)
    assert s.y_train.tolist() == tiny_fashion["train-labels-idx1-ubyte"].tolist()
    assert s.y_test.dtype == torch.int64 and s.classes[-1] == "Ankle boot"
    pixel = tiny_fashion["t10k-images-idx3-ubyte"][1, 27, 3]
    expected = (pixel / 255 - data.FASHION_MNIST_MEAN[0]) / data.FASHION_MNIST_STD[0]
    assert s.x_test[1, 0, 27, 3].item() == pytest.approx(expected, abs=1e-5)


def test_fashion_mnist_integrity_check_rejects_other_files(tiny_fashion) -> None:
    with pytest.raises(data.DataCorrupt, match=r"idx shape \(5, 28, 28\), expected \(60000"):
        data.load_fashion_mnist()
    status = data.verify(names=["fashion_mnist"])[0]
    assert status.status == "corrupt"


# ---------------------------------------------------------------- checksums and cards


def test_checksums_cover_every_data_set_and_mirror_torchvision() -> None:
    from torchvision.datasets import CIFAR10, FashionMNIST

    table = data.checksums()
    assert set(table) == set(data.DATASETS)
    for entries in table.values():
        for entry in entries.values():
            assert entry["role"] in ("archive", "data")
            if entry["role"] == "archive":
                assert len(entry["sha256"]) == 64
    cifar = table["cifar10"]
    assert cifar["cifar10/cifar-10-python.tar.gz"]["md5"] == CIFAR10.tgz_md5
    for filename, md5 in CIFAR10.train_list + CIFAR10.test_list:
        assert cifar[f"cifar10/cifar-10-batches-py/{filename}"]["md5"] == md5
    fashion = table["fashion_mnist"]
    for filename, md5 in FashionMNIST.resources:
        assert fashion[f"fashion_mnist/FashionMNIST/raw/{filename}"]["md5"] == md5


def test_hash_mismatch_messages(tmp_path: Path) -> None:
    from dlbn.image_data import _hash_problem

    path = tmp_path / "archive.gz"
    path.write_bytes(b"some bytes")
    md5 = hashlib.md5(b"some bytes").hexdigest()
    assert _hash_problem(path, {"bytes": 10, "sha256": _sha256(path)}) is None
    assert "10 bytes, expected 11" in _hash_problem(path, {"bytes": 11})
    wrong_sha = {"sha256": "0" * 64, "md5": md5}  # passes torchvision's md5, not our sha256
    assert "md5 matches torchvision's" in _hash_problem(path, wrong_sha)
    assert "md5 matches" not in _hash_problem(path, {"sha256": "0" * 64, "md5": "0" * 32})


def test_verify_reports_every_data_set(data_root: Path) -> None:
    statuses = data.verify()
    assert [s.name for s in statuses] == list(data.DATASETS)
    assert {s.status for s in statuses} == {"missing"}
    assert statuses[1].path == data_root / "cifar10"
    assert statuses[0].to_dict()["status"] == "missing"


# ---------------------------------------------------------------- the CLI


def test_cli_list(generated: Generated, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DLBN_DATA", str(generated.folder))
    result = CliRunner().invoke(data_cli, ["list"])
    assert result.exit_code == 0, result.output
    for name in data.DATASETS:
        assert name in result.output
    assert "(N, 3, 32, 32)" in result.output and "yes" in result.output


def test_cli_verify(tiny_cifar) -> None:
    result = CliRunner().invoke(data_cli, ["verify", "mnist1d", "fashion-mnist", "--json"])
    assert result.exit_code == 0, result.output
    statuses = json.loads(result.output)
    assert [s["status"] for s in statuses] == ["missing", "missing"]
    result = CliRunner().invoke(data_cli, ["verify"])  # the tiny CIFAR-10 is not the real one
    assert result.exit_code == 1
    assert "corrupt" in result.output


def test_cli_fetch_mnist1d(generated: Generated, data_root: Path, monkeypatch) -> None:
    # The generator itself is exercised above; here it returns those arrays, and the
    # command must write, checksum and report the cache.
    arrays = mnist1d_data.parse_npz((generated.folder / "mnist1d" / "mnist1d.npz").read_bytes())
    monkeypatch.setattr(mnist1d_data, "generate_mnist1d", lambda: arrays)
    result = CliRunner().invoke(data_cli, ["fetch", "mnist1d"])
    assert result.exit_code == 0, result.output
    assert "present" in result.output and "matches" in result.output
    assert _sha256(data_root / "mnist1d" / "mnist1d.npz") == _reference()


def test_cli_fetch_unknown_name_lists_the_valid_ones() -> None:
    result = CliRunner().invoke(data_cli, ["fetch", "imagenet"])
    assert result.exit_code == 2
    assert "mnist1d, cifar10, fashion_mnist" in result.output


def test_cli_fetch_failure_is_a_clean_exit_2(monkeypatch: pytest.MonkeyPatch) -> None:
    from torchvision.datasets import CIFAR10

    def offline(self) -> None:
        raise URLError("no network in tests")

    monkeypatch.setattr(CIFAR10, "download", offline)
    result = CliRunner().invoke(data_cli, ["fetch", "cifar10"])
    assert result.exit_code == 2
    assert "could not download CIFAR-10" in result.output
    assert "Traceback" not in result.output


def test_cli_help_has_examples() -> None:
    for command in ([], ["list"], ["fetch"], ["verify"]):
        result = CliRunner().invoke(data_cli, [*command, "--help"])
        assert result.exit_code == 0 and "Example" in result.output, command


def test_cli_does_not_import_torch(data_root: Path) -> None:
    """`dlbn data --help`, `list` and `verify` answer without torch (~2 s to import)."""
    code = (
        "import sys\n"
        "from click.testing import CliRunner\n"
        "from grader.cli.data import data\n"
        "for args in (['--help'], ['list'], ['verify']):\n"
        "    assert CliRunner().invoke(data, args).exit_code == 0, args\n"
        "print(sorted(m for m in ('torch', 'torchvision') if m in sys.modules))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]", out.stderr


def test_dlbn_data_overrides_the_location(data_root: Path) -> None:
    assert data.dataset_dir("CIFAR-10") == data_root / "cifar10"
