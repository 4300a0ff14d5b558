"""The terminal report: one rich table per chapter, grouped by task."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from grader.model import ChapterReport, CheckResult, Status
from grader.reporters.limits import ICONS, NAME_LIMIT, TERMINAL_LIMIT, TERMINAL_OUTPUT_LIMIT
from grader.textsafe import clean_text


def render(
    report: ChapterReport, console: Any, *, verbose: bool = False, tasks: dict | None = None
) -> None:
    """Print one chapter's results as a rich table, grouped by task."""
    from rich.panel import Panel
    from rich.table import Table
    from rich.text import Text

    chapter = clean_text(report.chapter, NAME_LIMIT)
    source = clean_text(report.source, NAME_LIMIT)
    if report.import_error:
        console.print(
            Panel(
                Text(clean_text(report.import_error, TERMINAL_OUTPUT_LIMIT)),
                title=Text(f"could not import {Path(source).name}"),
                border_style="red",
            )
        )
    title = Text(f"{chapter}: {clean_text(report.title, NAME_LIMIT)}")
    table = Table(title=title, title_justify="left", expand=True)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("points", justify="right", no_wrap=True)
    table.add_column("what was checked / what went wrong", ratio=1)
    current_task = None
    for r in report.results:
        if r.task != current_task:
            current_task = r.task
            task_title = clean_text((tasks or {}).get(r.task, ""), NAME_LIMIT)
            table.add_row(
                Text(f"Task {chapter}.{clean_text(r.task)}", style="bold"),
                "",
                "",
                Text(task_title, style="bold"),
            )
        table.add_row(
            Text(f"  {clean_text(r.id, NAME_LIMIT)}"),
            ICONS.get(r.status, "?"),
            f"{r.score:g}/{r.max_score:g}",
            _detail(report, r, verbose),
        )
    console.print(table)
    _render_footer(report, console, chapter, source)


def _detail(report: ChapterReport, r: CheckResult, verbose: bool) -> Any:
    """The last column of one check's row: its title, then what went wrong (and, for a
    small tensor, got and expected side by side)."""
    from rich.console import Group
    from rich.text import Text

    detail = Text(clean_text(r.title, NAME_LIMIT))
    message = clean_text(r.message, TERMINAL_LIMIT)
    if not r.passed and not report.import_error:
        if message and r.status is not Status.NOT_STARTED:
            detail.append(f"\n{message}", style="red")
        if r.hint:
            detail.append(f"\nhint: {clean_text(r.hint, TERMINAL_LIMIT)}", style="dim")
    elif verbose and message:
        detail.append(f"\n{message}", style="dim")
    if verbose and r.stdout:
        stdout = clean_text(r.stdout, TERMINAL_OUTPUT_LIMIT).rstrip("\n")
        detail.append(f"\nyour output:\n{stdout}", style="dim")
    grid = side_by_side(r.detail) if r.detail and not r.passed else None
    return Group(detail, grid) if grid is not None else detail


def _cell(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else clean_text(value, 20)


def side_by_side(detail: dict[str, Any]) -> Any:
    """Got and expected of a small tensor next to each other, differing entries in red."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    try:
        got, expected, bad = detail["got"], detail["expected"], detail["bad"]
        name = clean_text(detail.get("name", "output"), NAME_LIMIT)
        rows = len(got)
        cols = len(got[0]) if rows else 0
    except (KeyError, TypeError, IndexError):
        return None
    table = Table(box=box.SIMPLE, pad_edge=False, show_edge=False, title_justify="left",
                  title=Text(f"{name}: got | expected (differing entries in red)", style="dim"))
    for side in ("got", "|", "expected"):
        for j in range(1 if side == "|" else cols):
            table.add_column("|" if side == "|" else f"{side[0]}{j}", justify="right",
                             no_wrap=True)
    for i in range(rows):
        cells = [Text(_cell(got[i][j]), style="bold red" if bad[i][j] else "")
                 for j in range(cols)]
        cells.append(Text("|", style="dim"))
        cells += [Text(_cell(expected[i][j])) for j in range(cols)]
        table.add_row(*cells)
    return table


def _render_footer(report: ChapterReport, console: Any, chapter: str, source: str) -> None:
    """The summary line and, for an unfinished chapter, what to do next."""
    from rich.text import Text

    counts = report.counts()
    style = "green" if report.all_passed else "yellow" if counts["not_started"] else "red"
    console.print(Text(clean_text(report.summary(), NAME_LIMIT), style=f"bold {style}"))
    if counts["not_started"] and not report.import_error:
        first = next(r for r in report.results if r.status is Status.NOT_STARTED)
        task = clean_text(first.task)
        console.print(
            Text(
                f"Next: fill in the TODO for {chapter}.{task} in {source}, "
                f"then run: dlbn grade {chapter} --task {task}",
                style="dim",
            )
        )
