"""Our JSON report and Gradescope's results.json."""

from __future__ import annotations

import dataclasses
import json
import math
import re
from collections.abc import Iterator, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from grader.model import ChapterReport, CheckResult
from grader.reporters.limits import FILE_LIMIT, NAME_LIMIT
from grader.reporters.safe_write import atomic_write
from grader.textsafe import clean_text


def to_json(reports: Sequence[ChapterReport]) -> dict[str, Any]:
    """Our own JSON: one chapter's ``to_dict()``, or a total and the chapters; text cleaned."""
    if len(reports) == 1:
        return _cleaned(reports[0]).to_dict()
    return {
        "score": sum(r.score for r in reports),
        "max_score": sum(r.max_score for r in reports),
        "chapters": [_cleaned(r).to_dict() for r in reports],
    }


def write_json(reports: Sequence[ChapterReport], path: str | Path) -> None:
    """Write `to_json` to ``path`` (atomically)."""
    atomic_write(path, json.dumps(to_json(reports), indent=2) + "\n")


def _cleaned(report: ChapterReport) -> ChapterReport:
    """A copy of ``report`` whose string fields (its results' too) went through `clean_text`.

    Built with `dataclasses.replace`, which copies nothing else: ``to_dict()`` on the copy
    never deep-copies a learner's str subclass.
    """
    results = tuple(_clean_fields(r) for r in report.results)
    return dataclasses.replace(_clean_fields(report), results=results)


def _clean_fields(obj: Any) -> Any:
    """``obj`` (a dataclass) with each string field (not enums) replaced by its cleaned text."""
    changes = {
        f.name: clean_text(value, FILE_LIMIT)
        for f in dataclasses.fields(obj)
        if isinstance(value := getattr(obj, f.name), str) and not isinstance(value, Enum)
    }
    return dataclasses.replace(obj, **changes)


# --- Gradescope -----------------------------------------------------------------------


def to_gradescope(reports: Sequence[ChapterReport]) -> dict[str, Any]:
    """Gradescope's autograder ``results.json``.

    Each test is numbered ``chapter.task.check`` in dotted digits (the third check of task 1
    of ch01 is ``"1.1.3"``), so Gradescope sorts and groups them in course order.
    """
    tests = [
        _gradescope_test(report, r, number)
        for position, report in enumerate(reports, start=1)
        for r, number in _numbered(report, position)
    ]
    return {
        "score": sum(r.score for r in reports),
        "execution_time": _seconds(sum(r.seconds for r in reports), 2),
        "output": clean_text("\n".join(r.summary() for r in reports), FILE_LIMIT),
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def write_gradescope(reports: Sequence[ChapterReport], path: str | Path) -> None:
    """Write `to_gradescope` to ``path`` (atomically)."""
    atomic_write(path, json.dumps(to_gradescope(reports), indent=2) + "\n")


def _numbered(report: ChapterReport, position: int) -> Iterator[tuple[CheckResult, str]]:
    """Each result with its dotted number: chapter, task, 1-based index within the task."""
    digits = re.sub(r"\D", "", clean_text(report.chapter, NAME_LIMIT))
    chapter = int(digits) if digits else position
    seen: dict[int, int] = {}
    for r in report.results:
        task = _task_number(r.task)
        seen[task] = seen.get(task, 0) + 1
        yield r, f"{chapter}.{task}.{seen[task]}"


def _task_number(task: object) -> int:
    """A task as a non-negative int (0 when it is not a number)."""
    try:
        return max(0, int(task))  # type: ignore[call-overload]
    except (TypeError, ValueError, OverflowError):
        return 0


def _gradescope_test(report: ChapterReport, r: CheckResult, number: str) -> dict[str, Any]:
    """One entry of ``tests``: what a learner sees for one check."""
    if report.import_error:
        output = f"Could not import your file:\n{report.import_error}"
    elif r.passed:
        output = ""
    else:
        hint = f"\nHint: {clean_text(r.hint, FILE_LIMIT)}" if r.hint else ""
        output = clean_text(r.message, FILE_LIMIT) + hint
    return {
        "name": clean_text(f"{clean_text(r.id)}: {clean_text(r.title)}", NAME_LIMIT),
        "number": number,
        "score": r.score,
        "max_score": r.max_score,
        "status": "passed" if r.passed else "failed",
        "output": clean_text(output, FILE_LIMIT).strip(),
        "visibility": "visible",
        "execution_time": _seconds(r.seconds, 3),
    }


def _seconds(value: float, digits: int) -> float:
    """A duration for a report: rounded, and 0 when it is not a finite non-negative number."""
    try:
        value = float(value)
    except (TypeError, ValueError):
        return 0.0
    return round(value, digits) if math.isfinite(value) and value >= 0 else 0.0
