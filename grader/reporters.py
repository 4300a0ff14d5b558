"""Reporters: turn chapter reports into a terminal table, JSON, Gradescope or JUnit.

Reporters never decide pass or fail; they only present `ChapterReport`s.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from grader.model import ChapterReport, Status

ICONS = {
    Status.PASSED: "[green]✔ passed[/]",
    Status.FAILED: "[red]✘ failed[/]",
    Status.NOT_STARTED: "[yellow]○ not started[/]",
    Status.ERROR: "[red]✘ error[/]",
    Status.TIMEOUT: "[magenta]⏱ timeout[/]",
    Status.MEMORY: "[magenta]▲ memory[/]",
}


def render(
    report: ChapterReport, console: Any, *, verbose: bool = False, tasks: dict | None = None
) -> None:
    """Print one chapter's results as a rich table, grouped by task."""
    from rich.markup import escape
    from rich.panel import Panel
    from rich.table import Table

    if report.import_error:
        console.print(
            Panel(
                escape(report.import_error),
                title=f"could not import {Path(report.source).name}",
                border_style="red",
            )
        )
    table = Table(title=f"{report.chapter}: {report.title}", title_justify="left", expand=True)
    table.add_column("check", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("points", justify="right", no_wrap=True)
    table.add_column("what was checked / what went wrong", ratio=1)
    current_task = None
    for r in report.results:
        if r.task != current_task:
            current_task = r.task
            title = (tasks or {}).get(r.task, "")
            table.add_row(
                f"[bold]Task {report.chapter}.{r.task}[/]", "", "", f"[bold]{escape(title)}[/]"
            )
        detail = escape(r.title)
        if not r.passed and not report.import_error:
            if r.message and r.status is not Status.NOT_STARTED:
                detail += f"\n[red]{escape(r.message)}[/]"
            if r.hint:
                detail += f"\n[dim]hint: {escape(r.hint)}[/]"
        elif verbose and r.message:
            detail += f"\n[dim]{escape(r.message)}[/]"
        if verbose and r.stdout:
            detail += f"\n[dim]your output:\n{escape(r.stdout)}[/]"
        table.add_row(f"  {r.id}", ICONS[r.status], f"{r.score:g}/{r.max_score:g}", detail)
    console.print(table)
    counts = report.counts()
    style = "green" if report.all_passed else "yellow" if counts["not_started"] else "red"
    console.print(f"[bold {style}]{report.summary()}[/]")
    if counts["not_started"] and not report.import_error:
        first = next(r for r in report.results if r.status is Status.NOT_STARTED)
        console.print(
            f"[dim]Next: fill in the TODO for {report.chapter}.{first.task} in {report.source}, "
            f"then run: dlbn grade {report.chapter} --task {first.task}[/]"
        )


def to_json(reports: Sequence[ChapterReport]) -> dict[str, Any]:
    if len(reports) == 1:
        return reports[0].to_dict()
    return {
        "score": sum(r.score for r in reports),
        "max_score": sum(r.max_score for r in reports),
        "chapters": [r.to_dict() for r in reports],
    }


def write_json(reports: Sequence[ChapterReport], path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_json(reports), indent=2) + "\n")


def to_gradescope(reports: Sequence[ChapterReport]) -> dict[str, Any]:
    """Gradescope's autograder results.json."""
    tests = []
    for report in reports:
        for r in report.results:
            output = r.message if not r.passed else ""
            if r.hint and not r.passed:
                output += f"\nHint: {r.hint}"
            if report.import_error:
                output = f"Could not import your file:\n{report.import_error}"
            tests.append(
                {
                    "name": f"{r.id}: {r.title}",
                    "number": r.id.removeprefix("ch"),
                    "score": r.score,
                    "max_score": r.max_score,
                    "status": "passed" if r.passed else "failed",
                    "output": output.strip(),
                    "visibility": "visible",
                }
            )
    return {
        "score": sum(r.score for r in reports),
        "execution_time": round(sum(r.seconds for r in reports), 2),
        "output": "\n".join(r.summary() for r in reports),
        "tests": tests,
    }


def write_gradescope(reports: Sequence[ChapterReport], path: str | Path) -> None:
    Path(path).write_text(json.dumps(to_gradescope(reports), indent=2) + "\n")


def to_junit(reports: Sequence[ChapterReport]) -> ET.ElementTree:
    suites = ET.Element("testsuites", name="dlbn")
    for report in reports:
        counts = report.counts()
        suite = ET.SubElement(
            suites,
            "testsuite",
            name=report.chapter,
            tests=str(len(report.results)),
            failures=str(counts["failed"]),
            errors=str(counts["error"] + counts["timeout"] + counts["memory"]),
            skipped=str(counts["not_started"]),
            time=f"{report.seconds:.3f}",
        )
        for r in report.results:
            case = ET.SubElement(
                suite,
                "testcase",
                classname=f"{report.chapter}.{r.task}",
                name=r.id,
                time=f"{r.seconds:.3f}",
            )
            text = "\n".join(x for x in (r.message, f"hint: {r.hint}" if r.hint else "") if x)
            if r.status is Status.FAILED:
                ET.SubElement(case, "failure", message=r.message[:200]).text = text
            elif r.status is Status.NOT_STARTED:
                ET.SubElement(case, "skipped", message=r.message[:200] or "not started")
            elif r.status is not Status.PASSED:
                ET.SubElement(
                    case, "error", message=f"{r.status.value}: {r.message[:200]}"
                ).text = text
    return ET.ElementTree(suites)


def write_junit(reports: Sequence[ChapterReport], path: str | Path) -> None:
    tree = to_junit(reports)
    ET.indent(tree)
    tree.write(path, encoding="utf-8", xml_declaration=True)
