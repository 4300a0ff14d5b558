"""`dlbn run --dataset cifar10` (ch05, ch08) on tiny CIFAR-10 files in the real format.

The chapters' CIFAR configs are shrunk (2-D nets of width 4, an epoch or two) so that the
whole paper-scale path (loading CIFAR-10 through torchvision, 2-D nets, figures,
results.json) runs in seconds on a CPU; the real configs need the real data and a GPU.
"""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from data_formats import write_tiny_cifar10

from grader.cli import main

TRAIN_PER_BATCH, TEST = 16, 30
LABELS = [(0, 2, 5)[i % 3] for i in range(5 * TRAIN_PER_BATCH + TEST)]  # ch08 keeps 0 and 2


@pytest.fixture
def tiny_cifar(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """DLBN_DATA with tiny CIFAR-10 files; torchvision's md5 check (which tiny files cannot
    pass) replaced by the existence check that ``load_cifar10(check_integrity=False)`` uses."""
    import torchvision.datasets

    from dlbn.image_data import _without_md5

    root = tmp_path / "data"
    write_tiny_cifar10(root, per_batch=TRAIN_PER_BATCH, test=TEST, labels=LABELS)
    monkeypatch.setenv("DLBN_DATA", str(root))
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", _without_md5(torchvision.datasets.CIFAR10))
    return root


def run(course: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["run", *args, "--solution", "--device", "cpu",
                                       "--root", str(course), "--out", str(course / "out")])
    return result.exit_code, result.output


def results(course: Path) -> dict:
    return json.loads((course / "out" / "results.json").read_text())


@pytest.mark.slow
def test_ch05_learning_rates_on_cifar10(course: Path, tiny_cifar: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.specs.ch05 import figures

    tiny = replace(figures.PAPER, depth=2, width=4, epochs=1, num_lrs=2, stress_epochs=2,
                   long_epochs=1, batch_size=16)
    monkeypatch.setattr(figures, "PAPER", tiny)
    code, output = run(course, "ch05", "--dataset", "cifar10")
    assert code == 0, output
    record = results(course)
    assert record["config"]["dataset"] == "cifar10"
    assert record["config"]["threads"] == 1  # the chapters' numbers need a fixed thread count
    assert record["numbers"]["dataset"] == "cifar10"
    for name in ("accuracy_vs_lr.png", "stress_test.png"):
        assert (course / "out" / name).stat().st_size > 10_000
    assert len(record["numbers"]["sweep_batch"].split()) == 2  # one entry per LR


@pytest.mark.slow
def test_ch08_gap_on_cifar2(course: Path, tiny_cifar: Path,
                            monkeypatch: pytest.MonkeyPatch) -> None:
    from grader.specs.ch08 import figures

    tiny = {**figures.CIFAR2, "train_size": 16, "val_size": 8, "depth": 2, "width": 4,
            "epochs": 2, "batch_size": 8, "eval_every": 1}
    monkeypatch.setattr(figures, "CIFAR2", tiny)
    code, output = run(course, "ch08", "--scale", "paper")  # paper scale means CIFAR-2
    assert code == 0, output
    numbers = results(course)["numbers"]
    assert numbers["dataset"] == "cifar2" and numbers["train_size"] == 16
    assert len(numbers["batchnorm.gap.per_seed"]) == 3
    assert (course / "out" / "gap_bars.png").stat().st_size > 10_000


def test_cifar10_without_the_data_says_how_to_fetch(course: Path, tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DLBN_DATA", str(tmp_path / "empty"))
    code, output = run(course, "ch05", "--dataset", "cifar10")
    assert code == 1
    assert "data problem" in output and "dlbn data fetch cifar10" in output
    assert "Traceback" not in output


@pytest.mark.parametrize(("args", "message"), [
    (("ch01", "--dataset", "cifar10"), "works for ch05, ch08"),
    (("ch05", "--dataset", "mnist1d", "--scale", "paper"), "drop --dataset mnist1d"),
    (("ch08", "--dataset", "svhn"), "'svhn' is not one of"),
    (("ch08", "--threads", "0"), "0 is not in the range x>=1"),
])
def test_dataset_usage_errors(course: Path, args: tuple[str, ...], message: str) -> None:
    code, output = run(course, *args)
    assert code == 2, output
    assert message in output and "Traceback" not in output
