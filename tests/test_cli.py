"""The `dlbn` command through click's CliRunner: exit codes, reports, aliases, no writes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader.cli import main
from grader.specs.ch01 import CHAPTER as CH01

FULL = int(CH01.max_score)


def tree_digest(folder: Path) -> str:
    h = hashlib.sha256()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            h.update(str(path.relative_to(folder)).encode() + path.read_bytes())
    return h.hexdigest()


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


@pytest.mark.parametrize("args", [["--help"], ["list"], ["grade", "ch99"], ["grade", "--help"]])
def test_fast_paths_do_not_import_torch(args, repo_root) -> None:
    code = (
        "import sys\nfrom grader.cli import main\n"
        f"try:\n    main({args!r})\nexcept SystemExit:\n    pass\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=repo_root, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("command", ["grade", "verify", "run", "list", "doctor", "data"])
def test_every_command_has_help_with_an_example(runner, command) -> None:
    result = runner.invoke(main, [command, "--help"])
    assert result.exit_code == 0
    assert "dlbn" in result.output and ("Example" in result.output or "example" in result.output)


def test_list_shows_chapters(runner, course) -> None:
    result = runner.invoke(main, ["list", "--root", str(course)])
    assert result.exit_code == 0
    assert "ch01" in result.output and "Batch norm from scratch" in result.output


@pytest.mark.parametrize("alias", ["ch01", "1", "ch1", "01", "ch01_batchnorm"])
def test_chapter_aliases(alias) -> None:
    from grader.course import resolve_chapter

    assert resolve_chapter(alias).id == "ch01"


def test_unknown_chapter_is_a_usage_error(runner, course) -> None:
    result = runner.invoke(main, ["grade", "ch42", "--root", str(course)])
    assert result.exit_code == 2
    assert "ch01" in result.output  # says which chapters exist


def test_no_course_root(runner, tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(main, ["grade", "ch01"])
    assert result.exit_code == 2
    assert "course root" in result.output


def test_bad_device(runner, course) -> None:
    result = runner.invoke(main, ["grade", "ch01", "--device", "tpu", "--root", str(course)])
    assert result.exit_code == 2


def test_unavailable_device_is_a_usage_error(runner, course) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    result = runner.invoke(main, ["grade", "ch01", "--device", "cuda", "--root", str(course)])
    assert result.exit_code == 2
    assert "not available" in result.output


def test_bad_task(runner, course) -> None:
    result = runner.invoke(main, ["grade", "ch01", "--task", "9", "--root", str(course)])
    assert result.exit_code == 2 and "tasks: 1, 2, 3" in result.output


def test_grade_starter_reports_not_started_and_writes_reports(runner, course, tmp_path) -> None:
    before = tree_digest(course / "chapters") + tree_digest(course / "solutions")
    out = tmp_path / "out"
    out.mkdir()
    result = runner.invoke(
        main,
        [
            "grade",
            "ch01",
            "--root",
            str(course),
            "--device",
            "cpu",
            "--json",
            str(out / "r.json"),
            "--gradescope",
            str(out / "gs.json"),
            "--junit",
            str(out / "junit.xml"),
        ],
    )
    assert result.exit_code == 1, result.output
    assert "not started" in result.output and f"0/{FULL}" in result.output
    assert before == tree_digest(course / "chapters") + tree_digest(course / "solutions")

    ours = json.loads((out / "r.json").read_text())
    assert ours["chapter"] == "ch01" and ours["score"] == 0 and ours["max_score"] == FULL
    test = ours["tests"][0]
    assert {"id", "name", "status", "score", "max_score", "message", "seconds"} <= set(test)
    assert test["status"] == "not_started"

    gs = json.loads((out / "gs.json").read_text())
    assert {"score", "execution_time", "output", "tests"} <= set(gs)
    assert {"name", "number", "score", "max_score", "status", "output", "visibility"} <= set(
        gs["tests"][0]
    )
    assert gs["tests"][0]["status"] == "failed"

    suite = ET.parse(out / "junit.xml").getroot().find("testsuite")
    # a not-started check is a failure in JUnit
    assert suite.get("tests") == str(FULL) and suite.get("failures") == str(FULL)

    listed = runner.invoke(main, ["list", "--root", str(course)])
    assert f"0/{FULL}" in listed.output  # the last result is remembered (outside chapters/)


def test_grade_solution_one_task(runner, course) -> None:
    result = runner.invoke(
        main, ["grade", "1", "--solution", "--task", "2", "--device", "cpu", "--root", str(course)]
    )
    assert result.exit_code == 0, result.output
    assert "6/6" in result.output


def test_run_on_the_starter_says_what_to_finish(runner, course, tmp_path) -> None:
    result = runner.invoke(
        main,
        ["run", "ch01", "--device", "cpu", "--root", str(course), "--out", str(tmp_path / "f")],
    )
    assert result.exit_code == 1
    assert "Not finished yet" in result.output and "ch01." in result.output


def test_doctor(runner, course) -> None:
    result = runner.invoke(main, ["doctor", "--root", str(course)])
    assert result.exit_code == 0, result.output
    assert "torch" in result.output and "course root" in result.output


@pytest.mark.slow
def test_run_compares_with_the_texts_numbers(runner, course, repo_root) -> None:
    import shutil

    figures = repo_root / "chapters" / CH01.slug / "figures" / "results.json"
    (course / "chapters" / CH01.slug / "figures").mkdir(exist_ok=True)
    shutil.copy(figures, course / "chapters" / CH01.slug / "figures" / "results.json")
    result = runner.invoke(main, ["run", "ch01", "--solution", "--compare", "--device", "cpu",
                                  "--root", str(course), "--out", str(course / "out")])
    assert result.exit_code == 0, result.output
    assert "the text's" in result.output and "difference" in result.output
