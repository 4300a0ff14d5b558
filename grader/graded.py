"""Graded mode's verdicts beyond the judges: points backed by matches, integrity reports."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from pathlib import Path

from grader.model import Chapter, ChapterReport, Check, CheckResult, Kind, Status


def backed_by_matches(results: list[CheckResult], checks: tuple[Check, ...]) -> list[CheckResult]:
    """Graded mode: an api or property check counts only when its task's implementation is
    shown correct on the hidden seeds, i.e. when a match check of the task passes (tasks
    without match checks rely on `grader.backing` alone). An api check's expected output
    is often a constant (True: "inputs untouched"), which a process could simply report."""
    kinds = {c.id: c.kind for c in checks}
    tasks_with_matches = {c.task for c in checks if c.needs_reference}
    proven = {r.task for r in results if r.passed and kinds[r.id] is Kind.MATCH}
    out = []
    for r in results:
        if r.passed and kinds[r.id] is not Kind.MATCH and r.task in tasks_with_matches - proven:
            r = dataclasses.replace(
                r, status=Status.FAILED, score=0.0,
                message="graded mode: this check counts once a match check of its task passes "
                "(your implementation agrees with the reference on the hidden inputs)")
        out.append(r)
    return out


def integrity_report(
    chapter: Chapter, checks: tuple[Check, ...], path: Path, device: str, breaches: list[str],
    started: float, on_result: Callable[[CheckResult], None] | None,
) -> ChapterReport:
    message = ("integrity: graded mode runs ordinary numeric code only; in your file, "
               + "; ".join(breaches[:4]) + (" ..." if len(breaches) > 4 else "")
               + ". Remove that and submit again.")
    results = tuple(
        CheckResult(id=c.id, task=c.task, title=c.title, kind=c.kind.value, status=Status.ERROR,
                    score=0.0, max_score=c.points, message=message)
        for c in checks
    )
    for r in results:
        if on_result:
            on_result(r)
    return ChapterReport(chapter=chapter.id, title=chapter.title, source=str(path), device=device,
                         results=results, import_error=message,
                         seconds=time.perf_counter() - started,
                         meta={"seed": "hidden", "graded": True, "integrity": breaches})
