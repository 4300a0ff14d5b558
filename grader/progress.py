"""The learner's progress: which tasks passed and when, hints used, solutions given up for.

One JSON file, ``<course root>/.dlbn/progress.json`` (git-ignored, written atomically),
read by `dlbn list`, `dlbn next`, `dlbn hint`, `dlbn solution` and `dlbn reset`. Only
self-study commands write it; graded runs never do. A damaged file reads as empty.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from grader.model import Chapter, ChapterReport


@dataclass
class TaskState:
    passed: bool = False
    passed_at: float | None = None  # first time every check of the task passed
    last_graded: float | None = None
    score: float = 0.0
    max_score: float = 0.0
    hints: int = 0  # the highest hint level revealed
    gave_up: bool = False  # saw the reference with `dlbn solution --give-up`


@dataclass
class Progress:
    tasks: dict[str, TaskState] = field(default_factory=dict)  # "ch01.2" -> state
    graded_files: dict[str, str] = field(default_factory=dict)  # chapter -> sha256 when graded

    def task(self, chapter: str, task: int) -> TaskState:
        return self.tasks.setdefault(f"{chapter}.{task}", TaskState())

    def next_task(self, chapters: tuple[Chapter, ...]) -> tuple[Chapter, int] | None:
        """The first task, in course order, that has not passed yet."""
        for chapter in chapters:
            for task in chapter.tasks:
                state = self.tasks.get(f"{chapter.id}.{task}")
                if state is None or not state.passed:
                    return chapter, task
        return None


def path_of(root: Path) -> Path:
    return Path(root) / ".dlbn" / "progress.json"


def load(root: Path) -> Progress:
    try:
        raw = json.loads(path_of(root).read_text(encoding="utf-8"))
        tasks = {k: TaskState(**v) for k, v in raw.get("tasks", {}).items()}
        return Progress(tasks=tasks, graded_files=dict(raw.get("graded_files", {})))
    except (OSError, ValueError, TypeError, AttributeError):
        return Progress()


def save(root: Path, progress: Progress) -> None:
    path = path_of(root)
    data = {"tasks": {k: asdict(v) for k, v in progress.tasks.items()},
            "graded_files": progress.graded_files}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".progress-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
        os.replace(tmp, path)
    except OSError:
        pass  # a read-only checkout still grades


def file_hash(path: Path) -> str:
    try:
        return hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError:
        return ""


def record_report(root: Path, report: ChapterReport, source: Path) -> Progress:
    """After a self-study grade: each graded task's score, and whether it passed."""
    progress = load(root)
    now = time.time()
    by_task: dict[int, list[Any]] = {}
    for r in report.results:
        by_task.setdefault(r.task, []).append(r)
    for task, results in by_task.items():
        state = progress.task(report.chapter, task)
        state.last_graded = now
        state.score = sum(r.score for r in results)
        state.max_score = sum(r.max_score for r in results)
        passed = all(r.passed for r in results)
        if passed and not state.passed:
            state.passed_at = now
        state.passed = passed
    progress.graded_files[report.chapter] = file_hash(source)
    save(root, progress)
    return progress


def record_hint(root: Path, chapter: str, task: int, level: int) -> None:
    progress = load(root)
    state = progress.task(chapter, task)
    state.hints = max(state.hints, level)
    save(root, progress)


def record_give_up(root: Path, chapter: str, task: int) -> None:
    progress = load(root)
    progress.task(chapter, task).gave_up = True
    save(root, progress)
