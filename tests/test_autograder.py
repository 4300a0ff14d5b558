"""The Gradescope path, end to end: build the package, lay out Gradescope's folders, run
its setup.sh and run_autograder as root with graded mode on, check results.json."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import jsonschema
import pytest
from test_reporters import GRADESCOPE_SCHEMA

from grader.autograder import extract
from grader.specs.ch01 import CHAPTER as CH01
from grader.verify import apply_mutant

REPO = Path(__file__).resolve().parents[1]
FULL = int(CH01.max_score)
DLBN = [sys.executable, "-m", "grader.cli"]

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0,
                       reason="Gradescope runs the autograder as root on Linux"),
]


@pytest.fixture(scope="module")
def package(tmp_path_factory: pytest.TempPathFactory) -> Path:
    course = tmp_path_factory.mktemp("course")
    for part in ("chapters", "solutions", "datasets"):
        shutil.copytree(REPO / part, course / part, ignore=shutil.ignore_patterns("figures"))
    out = course / "autograder.zip"
    subprocess.run([*DLBN, "autograder", "build", "ch01", "-o", str(out), "--seed-sets", "2",
                    "--root", str(course)], check=True, capture_output=True, cwd=REPO)
    return out


def gradescope(tmp_path: Path, package: Path, submission: str | None) -> tuple[dict, Path]:
    """Gradescope's layout under tmp_path/autograder; returns results.json and source/."""
    ag = tmp_path / "autograder"
    source, sub, results = ag / "source", ag / "submission", ag / "results"
    for folder in (source, sub, results):
        folder.mkdir(parents=True)
    extract(package, source)
    if submission is not None:
        (sub / "exercises.py").write_text(submission)
    env = {**os.environ, "DLBN_AUTOGRADER": str(ag), "DLBN_PYTHON": sys.executable,
           "DLBN_SKIP_INSTALL": "1"}
    setup = subprocess.run(["bash", str(source / "setup.sh")], env=env, capture_output=True,
                           text=True)
    assert setup.returncode == 0, setup.stderr
    run = subprocess.run([str(source / "run_autograder")], env=env, capture_output=True,
                         text=True, timeout=300)
    assert run.returncode in (0, 1), run.stderr
    data = json.loads((results / "results.json").read_text())
    jsonschema.validate(data, GRADESCOPE_SCHEMA)
    return data, source


def test_package_has_no_solutions(package: Path) -> None:
    names = zipfile.ZipFile(package).namelist()
    assert "setup.sh" in names and "run_autograder" in names
    assert "expected/manifest.json" in names and "expected/ch01/" in "".join(names)
    assert not any(n.startswith("solutions/") for n in names)
    solution = (REPO / "solutions/ch01_batchnorm/exercises.py").read_text()
    body = solution.split("# BEGIN SOLUTION", 2)[1].split("# END SOLUTION")[0].strip()
    for name in names:
        if name.endswith(".py"):
            assert body not in zipfile.ZipFile(package).read(name).decode(errors="replace")


def test_correct_submission_scores_full_marks(tmp_path: Path, package: Path) -> None:
    solution = (REPO / "solutions/ch01_batchnorm/exercises.py").read_text()
    data, source = gradescope(tmp_path, package, solution)
    assert data["score"] == FULL, [t["output"] for t in data["tests"] if t["status"] != "passed"]
    assert len(data["tests"]) == FULL and all(t["status"] == "passed" for t in data["tests"])
    assert data["tests"][0]["number"] == "1.1.1"
    store = source / "expected"
    assert store.stat().st_mode & 0o077 == 0  # setup.sh: readable by root only
    assert all(p.stat().st_mode & 0o077 == 0 for p in store.rglob("*"))


def test_wrong_submission_loses_the_points_its_mistake_costs(
    tmp_path: Path, package: Path
) -> None:
    from grader.specs.ch01 import CHAPTER

    solution = (REPO / "solutions/ch01_batchnorm/exercises.py").read_text()
    mutant = next(m for m in CHAPTER.mutants if m.name == "biased_running_var")
    data, _ = gradescope(tmp_path, package, apply_mutant(solution, mutant))
    failed = {t["name"].split(":")[0] for t in data["tests"] if t["status"] == "failed"}
    assert {"ch01.1.small_batch", "ch01.1.running_stats"} & failed
    assert 0 < data["score"] < FULL
    assert all(t["score"] == 0 for t in data["tests"] if t["status"] == "failed")


def test_missing_submission_scores_zero(tmp_path: Path, package: Path) -> None:
    data, _ = gradescope(tmp_path, package, None)
    assert data["score"] == 0
    assert "no ch01_batchnorm/exercises.py" in data["tests"][0]["output"]


@pytest.mark.skipif(shutil.which("capsh") is None, reason="needs capsh to drop capabilities")
def test_graded_mode_works_without_sys_admin_as_in_docker(tmp_path: Path, package: Path) -> None:
    """Docker's default root has no CAP_SYS_ADMIN: no namespaces, but the user still drops."""
    ag = tmp_path / "autograder"
    source, sub, results = ag / "source", ag / "submission", ag / "results"
    for folder in (source, sub, results):
        folder.mkdir(parents=True)
    extract(package, source)
    (sub / "exercises.py").write_text((REPO / "solutions/ch01_batchnorm/exercises.py").read_text())
    env = {**os.environ, "DLBN_AUTOGRADER": str(ag), "DLBN_PYTHON": sys.executable,
           "DLBN_SKIP_INSTALL": "1"}
    for script in ("bash setup.sh", "./run_autograder"):
        subprocess.run(["capsh", "--drop=cap_sys_admin", "--", "-c", f"cd {source} && {script}"],
                       env=env, capture_output=True, text=True, timeout=300)
    data = json.loads((results / "results.json").read_text())
    assert data["score"] == FULL, [t["output"] for t in data["tests"] if t["status"] != "passed"]
