"""Every chapter's checks are honest: `dlbn verify` holds for each chapter.

The reference passes every check, the starter reports not_started (never a crash), the
starter is the stripped solution, and every shipped mutant is caught.
"""

from __future__ import annotations

import importlib

import pytest

from grader.course import all_chapters
from grader.verify import apply_mutant, verify_chapter

CHAPTERS = all_chapters()
MIN_MUTANTS = {"ch01": 8}


def test_every_chapter_is_discovered(repo_root) -> None:
    """One spec per chapters/chNN_* folder, in order, each with the layout's five files."""
    folders = sorted(p.name for p in (repo_root / "chapters").glob("ch[0-9][0-9]_*"))
    assert [c.slug for c in CHAPTERS] == folders
    for chapter in CHAPTERS:
        spec = repo_root / "grader" / "specs" / chapter.id
        assert (spec / "__init__.py").is_file() and (spec / "mutants.py").is_file(), chapter.id
        assert (spec / "figures.py").is_file() and list(spec.glob("checks_*.py")), chapter.id
        assert chapter.spec_module == f"grader.specs.{chapter.id}"


def test_task_titles_come_from_the_banners(repo_root) -> None:
    from grader.spec import task_titles

    for chapter in CHAPTERS:
        for part in ("chapters", "solutions"):
            text = (repo_root / part / chapter.slug / "exercises.py").read_text()
            assert task_titles(text, chapter.id) == chapter.tasks, (part, chapter.id)


def test_readme_task_tables_are_generated_from_the_specs(repo_root) -> None:
    from grader.docs import drift

    stale = drift(repo_root, CHAPTERS)
    assert not stale, "run python -m grader.docs --write:\n" + "\n".join(stale)


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.id)
def test_spec_is_well_formed(chapter, repo_root) -> None:
    ids = [c.id for c in chapter.checks]
    assert len(ids) == len(set(ids)), "duplicate check ids"
    for check in chapter.checks:
        assert check.id.startswith(f"{chapter.id}.{check.task}."), check.id
        assert check.task in chapter.tasks, check.id
        assert check.hint and check.points > 0, check.id
    assert set(chapter.tasks) == {c.task for c in chapter.checks}, "a task without checks"
    assert len(chapter.mutants) >= MIN_MUTANTS.get(chapter.id, 4)
    solution = (repo_root / "solutions" / chapter.slug / "exercises.py").read_text()
    for mutant in chapter.mutants:
        assert apply_mutant(solution, mutant) != solution
        assert all(any(c.id.startswith(p) for c in chapter.checks) for p in mutant.caught_by), (
            f"{mutant.name} names a check that does not exist"
        )
    for part in ("chapters", "solutions"):
        assert (repo_root / part / chapter.slug / "exercises.py").is_file()
    assert (repo_root / "chapters" / chapter.slug / "README.md").is_file()
    module_name, _, function = chapter.run.partition(":")
    assert callable(getattr(importlib.import_module(module_name), function)), chapter.run


@pytest.mark.slow
@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda c: c.id)
def test_verify(chapter, repo_root) -> None:
    result = verify_chapter(chapter, repo_root, device="cpu")
    failures = [f"{f.what}: {f.detail}" for f in result.findings if not f.ok]
    assert not failures, "\n".join(failures)
    whats = {f.what for f in result.findings}
    assert {"sync", "reference", "starter"} <= whats
    assert sum(w.startswith("mutant:") for w in whats) == len(chapter.mutants)


@pytest.mark.slow
def test_a_shape_limited_learner_still_gets_the_api_verdicts(course) -> None:
    """d2l-style code that asserts 2-D or 4-D input fails the 3-D checks only: the api checks
    (contract, from scratch, one value per channel) use 2-D input and still pass."""
    from grader.engine import grade
    from grader.specs.ch01 import CHAPTER

    (mutant,) = [m for m in CHAPTER.mutants if m.name == "only_2d_and_4d"]
    path = course / "solutions" / CHAPTER.slug / "exercises.py"
    path.write_text(apply_mutant(path.read_text(), mutant))
    report = grade(chapter=CHAPTER, root=course, source=path, task=1)
    status = {r.id: r.status.value for r in report.results}
    assert status["ch01.1.train_3d"] != "passed"
    for check in ("ch01.1.contract", "ch01.1.single_value", "ch01.1.from_scratch",
                  "ch01.1.train_2d", "ch01.1.train_4d"):
        assert status[check] == "passed", (check, status)
