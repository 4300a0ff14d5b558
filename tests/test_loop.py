"""The learner's loop: hint, reset, solution, next, list CH, progress, the notebook API,
and `dlbn watch` driven for real in a terminal (tmux)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from grader import progress
from grader.cli import main
from grader.specs.ch01 import CHAPTER as CH01
from grader.tasks import hints, replace_section, section

STARTER = Path("chapters") / CH01.slug / "exercises.py"
SOLUTION = Path("solutions") / CH01.slug / "exercises.py"


@pytest.fixture()
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, course: Path, *args: str):
    return runner.invoke(main, [*args, "--root", str(course)])


def solve(course: Path, task: int) -> None:
    """Put the reference's section of ``task`` into the learner's file."""
    path = course / STARTER
    reference = (course / SOLUTION).read_text()
    path.write_text(replace_section(path.read_text(), "ch01", task,
                                    section(reference, "ch01", task)))


def test_every_task_has_three_hint_levels(repo_root) -> None:
    from grader.course import all_chapters

    for chapter in all_chapters():
        text = (repo_root / "solutions" / chapter.slug / "exercises.py").read_text()
        for task in chapter.tasks:
            assert sorted(hints(text, chapter.id, task)) == [1, 2, 3], f"{chapter.id}.{task}"


def test_hints_are_revealed_one_level_at_a_time_and_recorded(runner, course) -> None:
    first = invoke(runner, course, "hint", "ch01.2")
    assert first.exit_code == 0, first.output
    assert "hint 1" in first.output and "hint 2" not in first.output
    second = invoke(runner, course, "hint", "1.2")
    assert "hint 1" in second.output and "hint 2" in second.output
    assert progress.load(course).task("ch01", 2).hints == 2
    assert invoke(runner, course, "hint", "ch01.9").exit_code == 2  # no such task


def test_the_starter_never_contains_the_hints(repo_root) -> None:
    starter = (repo_root / STARTER).read_text()
    for level in hints((repo_root / SOLUTION).read_text(), "ch01", 1).values():
        assert level[:40] not in starter


def test_solution_needs_a_pass_or_giving_up(runner, course) -> None:
    refused = invoke(runner, course, "solution", "ch01.1")
    assert refused.exit_code == 2 and "has not passed" in refused.output
    shown = invoke(runner, course, "solution", "ch01.1", "--give-up")
    assert shown.exit_code == 0 and "def batch_norm_forward" in shown.output
    assert "Hint 1" not in shown.output
    assert progress.load(course).task("ch01", 1).gave_up


def test_solution_and_hints_refuse_without_solutions(runner, course, monkeypatch) -> None:
    monkeypatch.setenv("DLBN_GRADED", "1")
    for args in (("solution", "ch01.1", "--give-up"), ("hint", "ch01.1")):
        result = invoke(runner, course, *args)
        assert result.exit_code == 2 and "self-study" in result.output


def test_reset_restores_one_task_with_a_backup(runner, course) -> None:
    path = course / STARTER
    starter = path.read_text()
    solve(course, 1)
    solve(course, 2)
    solved = path.read_text()
    refused = invoke(runner, course, "reset", "ch01", "--task", "2")
    assert refused.exit_code == 2 and "not graded" in refused.output  # ungraded changes
    done = invoke(runner, course, "reset", "ch01", "--task", "2", "--yes")
    assert done.exit_code == 0, done.output
    now = path.read_text()
    assert section(now, "ch01", 2) == section(starter, "ch01", 2)
    assert section(now, "ch01", 1) == section(solved, "ch01", 1)  # task 1 kept
    (backup,) = (course / ".dlbn" / "backups").glob("ch01-exercises-*.py")
    assert backup.read_text() == solved
    whole = invoke(runner, course, "reset", "ch01", "--yes")
    assert whole.exit_code == 0 and path.read_text() == starter


def test_reset_without_yes_is_fine_once_graded(runner, course) -> None:
    solve(course, 1)
    path = course / STARTER
    state = progress.load(course)
    state.graded_files["ch01"] = progress.file_hash(path)  # as a grade records it
    progress.save(course, state)
    assert invoke(runner, course, "reset", "ch01", "--task", "1").exit_code == 0


def test_next_and_list_follow_the_progress(runner, course) -> None:
    assert "next: ch01.1" in invoke(runner, course, "next").output
    state = progress.load(course)
    for task in (1, 2):
        t = state.task("ch01", task)
        t.passed, t.passed_at, t.last_graded = True, time.time(), time.time()
    progress.save(course, state)
    assert "next: ch01.3" in invoke(runner, course, "next").output
    listed = invoke(runner, course, "list", "ch01")
    assert listed.exit_code == 0 and listed.output.count("passed") == 2
    assert "next: ch01.3" in listed.output


def test_a_damaged_progress_file_reads_as_empty(course) -> None:
    path = progress.path_of(course)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert progress.load(course).tasks == {}
    path.write_text(json.dumps({"tasks": {"ch01.1": {"bogus": 1}}}))
    assert progress.load(course).tasks == {}


@pytest.mark.slow
def test_grading_records_progress_and_the_notebook_api_renders_html(course, monkeypatch) -> None:
    from grader import grade

    solve(course, 1)
    monkeypatch.chdir(course)
    report = grade("ch01", task=1)
    assert report.all_passed
    html = report._repr_html_()
    assert "<table>" in html and "ch01.1.train_2d" in html
    assert "ch01.1.train_2d" in report.as_text()
    state = progress.load(course).task("ch01", 1)
    assert state.passed and state.score == CH01.task_points(1)


# ----------------------------------------------------------------------------- watch
def _pane(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-J", "-S", "-", "-t", session],
                          capture_output=True, text=True).stdout


def _wait_for(session: str, text: str, timeout: float) -> float:
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if text in _pane(session):
            return time.monotonic() - start
        time.sleep(0.1)
    raise AssertionError(f"{text!r} did not appear in {timeout} s:\n{_pane(session)[-3000:]}")


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("tmux") is None, reason="needs tmux")
@pytest.mark.parametrize("poll", [False, True], ids=["events", "polling"])
def test_watch_in_a_terminal(course, poll) -> None:
    """Save a solved task: the new verdict appears within 2 s of the save plus the grading
    time; a syntax error is one message and watching goes on; keys work."""
    session = f"dlbn-watch-{int(poll)}-{time.time_ns()}"
    dlbn = Path(sys.executable).parent / "dlbn"
    command = f"{dlbn} watch ch01 --root {course}" + (" --poll" if poll else "")
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "150", "-y", "60",
                    command], check=True)
    try:
        _wait_for(session, "0/11 points", 120)  # the first verdict: nothing started
        path = course / STARTER
        path.write_text(path.read_text() + "\ndef broken(:\n")
        _wait_for(session, "does not import", 60)
        path.write_text(path.read_text().replace("\ndef broken(:\n", ""))
        _wait_for(session, "0/11 points\n", 60)
        saved = time.monotonic()
        solve(course, 1)
        _wait_for(session, "ch01.1 passed", 120)
        waited = time.monotonic() - saved
        pane = _pane(session)
        graded = float(pane.split("ch01.1 passed")[1].split("graded in ")[1].split(" s")[0])
        assert waited <= graded + 2.0 + 1.0, (waited, graded)  # + 1 s: tmux and this loop
        assert "next: ch01.2" in pane
        subprocess.run(["tmux", "send-keys", "-t", session, "h"], check=True)
        _wait_for(session, "hint 1 (a nudge)", 20)
        subprocess.run(["tmux", "send-keys", "-t", session, "q"], check=True)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and session in subprocess.run(
                ["tmux", "ls"], capture_output=True, text=True).stdout:
            time.sleep(0.2)
        assert session not in subprocess.run(["tmux", "ls"], capture_output=True,
                                             text=True).stdout, "q did not quit"
    finally:
        subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)
