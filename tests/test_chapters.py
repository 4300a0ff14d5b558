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


def test_chapters_are_discovered() -> None:
    assert [c.id for c in CHAPTERS][:1] == ["ch01"]


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
