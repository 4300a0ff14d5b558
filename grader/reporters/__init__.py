"""Reporters: turn chapter reports into a terminal table, JSON, Gradescope or JUnit.

Reporters never decide pass or fail; they only present `ChapterReport`s. Every string
taken from a report (messages, hints, output, titles, paths, import errors) is learner
text as far as reporters are concerned: it goes through `clean_text` before it is rendered
or written, and the terminal renderer builds rich ``Text`` objects so that nothing a learner
prints is read as markup. Files are written with `atomic_write`. Every table the `dlbn`
commands print is drawn here too (`grader.reporters.tables`).
"""

from grader.reporters.json_report import to_gradescope, to_json, write_gradescope, write_json
from grader.reporters.junit import to_junit, write_junit
from grader.reporters.limits import ReportPathError
from grader.reporters.safe_write import atomic_write, check_report_path
from grader.reporters.terminal import render

__all__ = [
    "ReportPathError",
    "atomic_write",
    "check_report_path",
    "render",
    "to_gradescope",
    "to_json",
    "to_junit",
    "write_gradescope",
    "write_json",
    "write_junit",
]
