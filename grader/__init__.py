"""dlbn's grader: runs a learner's exercises in a child process and judges them.

The public API is keyword-only and small (otter-grader style); `grader.cli` only parses
arguments and calls it. In a notebook::

    from grader import grade
    grade("ch01", task=2)        # the report, drawn as an HTML table in Jupyter

and in a script::

    report = grade("ch01", solution=True)
    print(report.summary())
"""

from __future__ import annotations

from typing import Any

__all__ = ["__version__", "grade"]
__version__ = "0.1.0"


def grade(chapter: str, task: int | None = None, **kw: Any) -> Any:
    """Grade ``chapter`` (``"ch01"``, ``1``...) as `grader.engine.grade` does, from the
    course around the working directory, and return the `ChapterReport`. It shows itself
    as HTML in Jupyter and as the terminal table elsewhere (``print(report.as_text())``).
    Self-study grades of your own file are recorded in the progress file like `dlbn grade`.
    """
    from grader.engine import grade as run

    report = run(chapter=str(chapter), task=task, **kw)
    if not kw.get("solution") and not kw.get("source") and not kw.get("graded"):
        from grader.course import course_root, exercises_path, resolve_chapter
        from grader.progress import record_report

        root = course_root(kw.get("root"))
        record_report(root, report, exercises_path(root, resolve_chapter(str(chapter))))
    return report
