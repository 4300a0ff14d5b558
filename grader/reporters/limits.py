"""Shared by every reporter: status icons, size limits, the report-path error."""

from __future__ import annotations

from grader.model import Status

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
