"""Reporters: turn chapter reports into a terminal table, JSON, Gradescope or JUnit.

Reporters never decide pass or fail; they only present `ChapterReport`s. Every string
taken from a report (messages, hints, output, titles, paths, import errors) is learner
text as far as reporters are concerned: it goes through `clean_text` before it is rendered
or written, and the terminal renderer builds rich ``Text`` objects so that nothing a learner
prints is read as markup. Files are written with `atomic_write`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import stat
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Iterator, Sequence
from enum import Enum
from pathlib import Path
from typing import Any

from grader.model import ChapterReport, CheckResult, Status
from grader.textsafe import clean_text

ICONS = {
    Status.PASSED: "[green]✔ passed[/]",
    Status.FAILED: "[red]✘ failed[/]",
    Status.NOT_STARTED: "[yellow]○ not started[/]",
    Status.ERROR: "[red]✘ error[/]",
    Status.TIMEOUT: "[magenta]⏱ timeout[/]",
    Status.MEMORY: "[magenta]▲ memory[/]",
}

NAME_LIMIT = 300  # ids, titles, paths
TERMINAL_LIMIT = 2_000  # one message or hint in the terminal
TERMINAL_OUTPUT_LIMIT = 4_000  # learner output or an import error in the terminal
FILE_LIMIT = 50_000  # one string field in a written report
ATTRIBUTE_LIMIT = 500  # one XML attribute

ERROR_STATUSES = (Status.ERROR, Status.TIMEOUT, Status.MEMORY)


class ReportPathError(ValueError):
    """A report cannot be written safely to the requested path."""


# --- terminal -------------------------------------------------------------------------


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
    """The last column of one check's row: its title, then what went wrong."""
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
    return detail


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


# --- JSON -----------------------------------------------------------------------------


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


# --- JUnit ----------------------------------------------------------------------------


def to_junit(reports: Sequence[ChapterReport]) -> ET.ElementTree:
    """A JUnit XML tree: one ``testsuite`` per chapter, one ``testcase`` per check.

    Failed and not-started checks are ``<failure>`` (a not-started one's message starts
    with "not started"); errors, timeouts and memory overruns are ``<error>``. Nothing is
    ``<skipped>``. A check's output is its ``<system-out>``; an import error is carried by
    every testcase of its chapter.
    """
    suites = ET.Element("testsuites", name="dlbn")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for report in reports:
        suite = _junit_suite(report)
        suites.append(suite)
        for key in totals:
            totals[key] += int(suite.get(key, "0"))
    for key, value in totals.items():
        suites.set(key, str(value))
    suites.set("time", f"{_seconds(sum(r.seconds for r in reports), 3):.3f}")
    return ET.ElementTree(suites)


def write_junit(reports: Sequence[ChapterReport], path: str | Path) -> None:
    """Write `to_junit` to ``path`` as indented UTF-8 XML (atomically)."""
    tree = to_junit(reports)
    ET.indent(tree)
    body = ET.tostring(tree.getroot(), encoding="unicode")
    atomic_write(path, f'<?xml version="1.0" encoding="utf-8"?>\n{body}\n')


def _junit_kind(r: CheckResult) -> str | None:
    """The JUnit element of a result: "failure", "error", or None for a pass."""
    if r.status is Status.PASSED:
        return None
    return "error" if r.status in ERROR_STATUSES else "failure"


def _junit_suite(report: ChapterReport) -> ET.Element:
    """One chapter's ``testsuite``; failures count not-started checks too."""
    kinds = [_junit_kind(r) for r in report.results]
    suite = ET.Element(
        "testsuite",
        name=clean_text(report.chapter, NAME_LIMIT),
        tests=str(len(report.results)),
        failures=str(kinds.count("failure")),
        errors=str(kinds.count("error")),
        skipped="0",
        time=f"{_seconds(report.seconds, 3):.3f}",
    )
    properties = ET.SubElement(suite, "properties")
    for name in ("title", "source", "device"):
        value = clean_text(getattr(report, name), ATTRIBUTE_LIMIT)
        ET.SubElement(properties, "property", name=name, value=value)
    for r in report.results:
        suite.append(_junit_case(report, r))
    return suite


def _junit_case(report: ChapterReport, r: CheckResult) -> ET.Element:
    """One check's ``testcase``, with its failure or error and its output."""
    chapter = clean_text(report.chapter, NAME_LIMIT)
    case = ET.Element(
        "testcase",
        classname=f"{chapter}.{_task_number(r.task)}",
        name=clean_text(r.id, NAME_LIMIT),
        time=f"{_seconds(r.seconds, 3):.3f}",
    )
    kind = _junit_kind(r)
    if report.import_error:
        message, text = _first_line(report.import_error), clean_text(report.import_error)
    else:
        message, text = _first_line(r.message), _junit_text(r)
    if kind is not None:
        problem = ET.SubElement(
            case, kind, message=_junit_message(r, message), type=r.status.value
        )
        problem.text = clean_text(text, FILE_LIMIT)
    if r.stdout:
        ET.SubElement(case, "system-out").text = clean_text(r.stdout, FILE_LIMIT)
    if report.import_error and kind is None:
        ET.SubElement(case, "system-err").text = clean_text(text, FILE_LIMIT)
    return case


def _junit_message(r: CheckResult, first_line: str) -> str:
    """The ``message`` attribute: one line, led by the status unless it is a plain fail."""
    if r.status is Status.NOT_STARTED:
        message = f"not started: {first_line}" if first_line else "not started"
    elif r.status in ERROR_STATUSES:
        message = f"{r.status.value}: {first_line}"
    else:
        message = first_line
    return clean_text(message, ATTRIBUTE_LIMIT)


def _junit_text(r: CheckResult) -> str:
    """The text of a failure or error: the whole message, then the hint."""
    parts = (clean_text(r.message), f"hint: {clean_text(r.hint)}" if r.hint else "")
    return "\n".join(p for p in parts if p)


def _first_line(text: object) -> str:
    """The first non-blank line of ``text``, cleaned."""
    for line in clean_text(text, FILE_LIMIT).splitlines():
        if line.strip():
            return clean_text(line.strip(), ATTRIBUTE_LIMIT)
    return ""


# --- writing files --------------------------------------------------------------------


def atomic_write(path: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically.

    The text goes to a temporary file in the same directory, is flushed and fsynced, and is
    renamed onto ``path`` with `os.replace`: readers see the old file or the new one, never
    a part. Refuses (`ReportPathError`) when ``path`` is a symlink or exists and is not a
    regular file. A replaced file keeps its permission bits; a new one gets 0644.
    """
    target = Path(path)
    existing = _lstat(target)
    _refuse_special(target, existing)
    mode = stat.S_IMODE(existing.st_mode) if existing is not None else 0o644
    directory = target.parent
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    except FileNotFoundError as exc:
        raise ReportPathError(f"cannot write {target}: {directory} does not exist") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace", newline="") as f:
            f.write(text)
            f.flush()
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    _fsync_directory(directory)


def check_report_path(
    path: str | Path, untrusted_uid: int | None, *, untrusted_gids: Iterable[int] = ()
) -> Path:
    """Return the path a report will be written to, refusing unsafe places.

    The parent directory is resolved (it must exist). A symlink or a non-regular file at the
    path is refused. With ``untrusted_uid`` (the user learner code runs as), the directory
    and the file, if it exists, are refused when that user owns them or can write them: by
    the world-write bit (sticky directories such as /tmp included) or the group-write bit of
    one of its groups (its primary and supplementary groups from the user database, plus
    ``untrusted_gids``; for a uid the database does not know, the gid equal to the uid).
    Each directory above must not be owned by that user nor writable by it, unless sticky.
    """
    target = Path(path)
    if target.name in ("", ".", ".."):
        raise ReportPathError(f"{path}: not a file name")
    try:
        parent = target.parent.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise ReportPathError(f"{target.parent}: the report's directory does not exist") from exc
    if not parent.is_dir():
        raise ReportPathError(f"{parent}: not a directory")
    target = parent / target.name
    existing = _lstat(target)
    _refuse_special(target, existing)
    if untrusted_uid is not None:
        gids = _groups_of(untrusted_uid) | set(untrusted_gids)
        for ancestor in parent.parents:
            _refuse_untrusted(ancestor, os.stat(ancestor), untrusted_uid, gids, sticky_ok=True)
        _refuse_untrusted(parent, os.stat(parent), untrusted_uid, gids)
        if existing is not None:
            _refuse_untrusted(target, existing, untrusted_uid, gids)
    return target


def _lstat(path: Path) -> os.stat_result | None:
    """``os.lstat(path)``, or None when nothing is there."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _refuse_special(path: Path, st: os.stat_result | None) -> None:
    """Refuse a symlink or a non-regular file at ``path``."""
    if st is None:
        return
    if stat.S_ISLNK(st.st_mode):
        raise ReportPathError(f"refusing to write a report through the symlink {path}")
    if not stat.S_ISREG(st.st_mode):
        raise ReportPathError(f"refusing to write a report over {path}: not a regular file")


def _groups_of(uid: int) -> set[int]:
    """The primary and supplementary group ids of ``uid`` (``{uid}`` if it is unknown)."""
    import grp
    import pwd

    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return {uid}
    gids = {entry.pw_gid}
    try:
        gids |= {g.gr_gid for g in grp.getgrall() if entry.pw_name in g.gr_mem}
    except OSError:  # pragma: no cover - an unreadable group database
        pass
    return gids


def _refuse_untrusted(
    path: Path, st: os.stat_result, uid: int, gids: set[int], *, sticky_ok: bool = False
) -> None:
    """Refuse ``path`` when ``uid`` owns it or may write it (sticky dirs too, unless ok)."""
    if st.st_uid == uid:
        raise ReportPathError(f"refusing to write a report in {path}: owned by uid {uid}")
    writable = bool(st.st_mode & stat.S_IWOTH) or (
        bool(st.st_mode & stat.S_IWGRP) and st.st_gid in gids
    )
    if writable and not (sticky_ok and st.st_mode & stat.S_ISVTX):
        raise ReportPathError(f"refusing to write a report in {path}: writable by uid {uid}")


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable where the platform allows it (best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
