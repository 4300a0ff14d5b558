"""Bad learner code becomes a clean failed/error/timeout/memory result, never a crash.

Each case is a learner file the test writes: the reference with `batch_norm_forward`'s
body (task ch01.1) replaced by something broken. Checks of the other tasks must still
pass, the exit code is 1, and the learner's file is left byte-for-byte unchanged.
"""

from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

import pytest

from grader.course import resolve_chapter
from grader.engine import grade, reference_outputs
from grader.model import Status

pytestmark = pytest.mark.slow  # each case grades a chapter (seconds each)

CH01 = resolve_chapter("ch01")
# A check of each task: the broken task-1 check, and two healthy ones of tasks 2 and 3.
ONLY = ("ch01.1.train_3d", "ch01.1.contract", "ch01.2.grad_2d", "ch01.3.state_dict")
BODY = re.compile(r"(    # BEGIN SOLUTION ch01\.1\n).*?(    # END SOLUTION\n)", re.S)


def write_learner(course: Path, body: str, header: str = "") -> Path:
    path = course / "chapters" / "ch01_batchnorm" / "exercises.py"
    solution = (course / "solutions" / "ch01_batchnorm" / "exercises.py").read_text()
    indented = "".join(f"    {line}\n" if line else "\n" for line in body.strip("\n").splitlines())
    text = BODY.sub(lambda m: m.group(1) + indented + m.group(2), solution, count=1)
    future = "from __future__ import annotations\n"
    assert future in text
    path.write_text(text.replace(future, future + header, 1))
    return path


@pytest.fixture(scope="module")
def reference(repo_root):
    """The reference outputs once for the module (each grade would recompute them)."""
    checks = tuple(c for c in CH01.checks if c.id in ONLY)
    return reference_outputs(CH01, repo_root, checks, "cpu", 0, "small")


@pytest.fixture(autouse=True)
def _use_reference(reference, monkeypatch):
    monkeypatch.setitem(REFERENCE, "outcome", reference)


REFERENCE: dict = {}


def run(course: Path, path: Path, **kw):
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    report = grade(
        chapter=CH01, root=course, device="cpu", only=ONLY, reference=REFERENCE["outcome"], **kw
    )
    assert hashlib.sha256(path.read_bytes()).hexdigest() == digest, "learner file changed"
    assert not report.all_passed  # `dlbn grade` exits 1
    return {r.id: r for r in report.results}, report


def healthy(results) -> None:
    for check_id in ("ch01.2.grad_2d", "ch01.3.state_dict"):
        assert results[check_id].status is Status.PASSED, results[check_id]


def test_syntax_error_is_one_clear_import_error(course) -> None:
    path = write_learner(course, "return x +* 2")
    results, report = run(course, path)
    assert "SyntaxError" in report.import_error and "exercises.py" in report.import_error
    assert all(r.status is Status.ERROR for r in results.values())


def test_import_error(course) -> None:
    path = write_learner(course, "return x", header="import not_a_module_anywhere\n")
    results, report = run(course, path)
    assert "not_a_module_anywhere" in report.import_error


def test_exception_shows_learner_frames_only(course) -> None:
    path = write_learner(course, "return x.mean(dim=7)")
    results, _ = run(course, path)
    message = results["ch01.1.train_3d"].message
    assert results["ch01.1.train_3d"].status is Status.ERROR
    assert "exercises.py" in message and "IndexError" in message
    assert "grader" not in message and "site-packages" not in message
    healthy(results)


def test_nan_output(course) -> None:
    path = write_learner(course, "return x * float('nan')")
    results, _ = run(course, path)
    assert results["ch01.1.train_3d"].status is Status.FAILED
    assert "NaN" in results["ch01.1.train_3d"].message
    healthy(results)


def test_wrong_shape_and_type(course) -> None:
    path = write_learner(course, "return x.mean(dim=0)")
    results, _ = run(course, path)
    assert "shape" in results["ch01.1.train_3d"].message
    path = write_learner(course, "return [x]")
    results, _ = run(course, path)
    assert "expected a torch.Tensor" in results["ch01.1.train_3d"].message
    healthy(results)


def test_wrong_dtype(course) -> None:
    path = write_learner(course, "return (x - x.mean(dim=(0, 2), keepdim=True)).float()")
    results, _ = run(course, path)
    assert "dtype" in results["ch01.1.train_3d"].message
    healthy(results)


def test_infinite_loop_times_out_and_the_task_is_skipped(course, monkeypatch) -> None:
    monkeypatch.setenv("DLBN_TIMEOUT_SCALE", "0.1")  # 2 s per check
    path = write_learner(course, "while True:\n    pass")
    results, _ = run(course, path)
    assert results["ch01.1.train_3d"].status is Status.TIMEOUT
    assert results["ch01.1.contract"].status is Status.TIMEOUT
    healthy(results)


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="the address-space limit is enforced on Linux only; elsewhere this "
                    "would really allocate 64 GiB")
def test_memory_bomb(course) -> None:
    path = write_learner(course, "hog = [bytearray(2**30) for _ in range(64)]\nreturn x")
    results, _ = run(course, path, memory_limit=2 * 2**30)
    assert results["ch01.1.train_3d"].status is Status.MEMORY
    healthy(results)


@pytest.mark.skipif(not sys.platform.startswith("linux"),
                    reason="the address-space limit is enforced on Linux only")
def test_huge_tensor_allocation(course) -> None:
    path = write_learner(course, "return torch.empty(2**40, dtype=torch.float64)")
    results, _ = run(course, path)
    assert results["ch01.1.train_3d"].status is Status.MEMORY
    healthy(results)


@pytest.mark.parametrize("call", ["import sys\nsys.exit(3)", "raise SystemExit"])
def test_sys_exit_in_a_function(course, call) -> None:
    path = write_learner(course, call)
    results, _ = run(course, path)
    assert results["ch01.1.train_3d"].status is Status.ERROR
    assert "sys.exit" in results["ch01.1.train_3d"].message
    healthy(results)


def test_hard_exit_kills_only_one_check(course) -> None:
    path = write_learner(course, "import os\nos._exit(7)")
    results, _ = run(course, path)
    assert results["ch01.1.train_3d"].status is Status.ERROR
    assert "exit code 7" in results["ch01.1.train_3d"].message
    healthy(results)


def test_sys_exit_at_import(course) -> None:
    path = write_learner(course, "return x", header="import sys\nsys.exit(0)\n")
    results, report = run(course, path)
    assert "sys.exit" in report.import_error


def test_stdout_flood_is_bounded(course) -> None:
    path = write_learner(course, "for i in range(200_000):\n    print('spam', i)\nreturn x")
    results, _ = run(course, path)
    assert results["ch01.1.train_3d"].status is Status.FAILED
    assert len(results["ch01.1.train_3d"].stdout) < 5000
    assert "more characters not shown" in results["ch01.1.train_3d"].stdout
    healthy(results)


def test_in_place_mutation_of_inputs(course) -> None:
    body = (
        "axes = channel_axes(x)\n"
        "x -= x.mean(dim=axes, keepdim=True)\n"
        "x /= torch.sqrt(x.var(dim=axes, unbiased=False, keepdim=True) + eps)\n"
        "return x"
    )
    path = write_learner(course, body)
    results, _ = run(course, path)
    assert results["ch01.1.contract"].status is not Status.PASSED
    healthy(results)


def test_monkeypatching_torch_cannot_fake_a_pass(course) -> None:
    header = (
        "import torch\n"
        "torch.allclose = lambda *a, **k: True\n"
        "torch.equal = lambda *a, **k: True\n"
        "torch.Tensor.__eq__ = lambda *a, **k: True\n"
    )
    path = write_learner(course, "return x * 0", header=header)
    results, _ = run(course, path)
    assert results["ch01.1.train_3d"].status is Status.FAILED
    healthy(results)
