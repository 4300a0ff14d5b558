"""Every table a `dlbn` command prints besides the grade report: the chapter list, a
verification, the doctor's findings and the data cards (rich, imported when printing)."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any


def plain_table(title: str, columns: Iterable[str], *, no_wrap: bool = False) -> Any:
    """A borderless table that fits 80 columns."""
    from rich import box
    from rich.table import Table

    table = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True)
    for column in columns:
        table.add_column(column, no_wrap=no_wrap, overflow="fold")
    return table


def chapters_table(chapters: Iterable[Any], last: dict[str, dict | None]) -> Any:
    """``dlbn list``: id, title, tasks, points, and the learner's last grade per chapter."""
    from rich.table import Table

    table = Table(title="dlbn chapters", title_justify="left")
    for column in ("chapter", "title", "tasks", "points", "your last result"):
        table.add_column(column, justify="right" if column in ("tasks", "points") else "left")
    for chapter in chapters:
        shown = "not graded yet"
        if last.get(chapter.id):
            result = last[chapter.id]
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(result["when"]))
            shown = f"{result['score']:g}/{result['max_score']:g} ({when})"
        table.add_row(chapter.id, chapter.title, str(len(chapter.tasks)),
                      f"{chapter.max_score:g}", shown)
    return table


def verify_table(chapter: Any, findings: Iterable[Any]) -> Any:
    """``dlbn verify``: one row per finding (reference, starter, each mutant)."""
    from rich.table import Table

    table = Table(title=f"verify {chapter.id}: {chapter.title}", title_justify="left",
                  expand=True)
    table.add_column("what")
    table.add_column("ok", no_wrap=True)
    table.add_column("detail", ratio=1)
    for finding in findings:
        table.add_row(finding.what, "[green]yes[/]" if finding.ok else "[red]NO[/]",
                      finding.detail)
    return table


def doctor_table(rows: Iterable[tuple[str, str]]) -> Any:
    """``dlbn doctor``: what was looked for, what was found."""
    from rich.table import Table

    table = Table(title="dlbn doctor", title_justify="left")
    table.add_column("what")
    table.add_column("found", ratio=1)
    for what, found in rows:
        table.add_row(what, found)
    return table


def tasks_table(chapter: Any, states: dict[str, Any]) -> Any:
    """``dlbn list CH``: each task's title, points, state, hints used (from the progress)."""
    from rich.table import Table

    table = Table(title=f"{chapter.id}: {chapter.title}", title_justify="left")
    for column in ("task", "title", "points", "state", "hints"):
        table.add_column(column, justify="right" if column in ("points", "hints") else "left")
    for task, title in chapter.tasks.items():
        state = states.get(f"{chapter.id}.{task}")
        shown = "[dim]not graded yet[/]"
        if state is not None and state.last_graded:
            day = time.strftime("%Y-%m-%d", time.localtime(state.passed_at))
            shown = (f"[green]passed[/] {day}" if state.passed
                     else f"[yellow]{state.score:g}/{state.max_score:g}[/]")
            if state.gave_up:
                shown += " (saw the solution)"
        hints = str(state.hints) if state is not None and state.hints else ""
        table.add_row(f"{chapter.id}.{task}", title, f"{chapter.task_points(task):g}", shown,
                      hints)
    return table


def _shown(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def numbers_table(title: str, numbers: dict[str, Any], text: dict[str, Any] | None = None) -> Any:
    """``dlbn run``: the numbers a chapter's run measured; with ``text`` (the chapter's own
    results.json), those numbers beside them and the relative difference (over 5% in
    yellow: expected across machines for training runs, not for exact computations)."""
    from rich.table import Table

    table = Table(title=title, title_justify="left")
    table.add_column("quantity")
    table.add_column("this run", justify="right")
    if text is not None:
        table.add_column("the text's", justify="right")
        table.add_column("difference", justify="right")
    for name, value in numbers.items():
        row = [name, _shown(value)]
        if text is not None:
            theirs = text.get(name)
            row.append("-" if theirs is None else _shown(theirs))
            diff = ""
            if isinstance(value, (int, float)) and isinstance(theirs, (int, float)):
                scale = max(abs(float(theirs)), 1e-12)
                rel = abs(float(value) - float(theirs)) / scale
                diff = f"[yellow]{rel:.1%}[/]" if rel > 0.05 else f"{rel:.1%}"
            elif theirs is not None:
                diff = "same" if value == theirs else "[yellow]differs[/]"
            row.append(diff)
        table.add_row(*row)
    return table
