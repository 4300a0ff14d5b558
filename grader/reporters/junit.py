"""JUnit XML, as CI tools and LMS plugins read it."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path

from grader.model import ChapterReport, CheckResult, Status
from grader.reporters.json_report import _seconds, _task_number
from grader.reporters.limits import ATTRIBUTE_LIMIT, ERROR_STATUSES, FILE_LIMIT, NAME_LIMIT
from grader.reporters.safe_write import atomic_write
from grader.textsafe import clean_text


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
