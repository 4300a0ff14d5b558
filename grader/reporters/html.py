"""A chapter report as HTML, for Jupyter (``ChapterReport._repr_html_``).

Every string is learner text: cleaned, then escaped; nothing is read as markup.
"""

from __future__ import annotations

from html import escape
from typing import Any

from grader.model import ChapterReport, CheckResult, Status
from grader.reporters.limits import NAME_LIMIT, TERMINAL_LIMIT
from grader.textsafe import clean_text

COLORS = {
    Status.PASSED: "#1a7f37", Status.FAILED: "#cf222e", Status.NOT_STARTED: "#9a6700",
    Status.ERROR: "#cf222e", Status.TIMEOUT: "#8250df", Status.MEMORY: "#8250df",
}


def _text(value: Any, limit: int = TERMINAL_LIMIT) -> str:
    return escape(clean_text(value, limit))


def _grid(detail: dict[str, Any]) -> str:
    try:
        got, expected, bad = detail["got"], detail["expected"], detail["bad"]
    except (KeyError, TypeError):
        return ""

    def cells(values: list[list[Any]], mark: bool) -> str:
        out = []
        for i, row in enumerate(values):
            tds = "".join(
                f'<td style="{"color:#cf222e;font-weight:bold" if mark and bad[i][j] else ""}">'
                f"{_text(f'{v:.4g}' if isinstance(v, float) else v, 20)}</td>"
                for j, v in enumerate(row))
            out.append(f"<tr>{tds}</tr>")
        return f'<table style="display:inline-table;margin-right:1em">{"".join(out)}</table>'

    return (f'<div><small>{_text(detail.get("name", "output"), NAME_LIMIT)}: got | expected'
            f"</small><br>{cells(got, True)}{cells(expected, False)}</div>")


def _row(r: CheckResult) -> str:
    color = COLORS.get(r.status, "#000")
    what = _text(r.title, NAME_LIMIT)
    if not r.passed and r.status is not Status.NOT_STARTED and r.message:
        what += f'<br><span style="color:#cf222e">{_text(r.message)}</span>'
    if r.hint and not r.passed:
        what += f'<br><span style="color:#57606a">hint: {_text(r.hint)}</span>'
    if r.detail and not r.passed:
        what += _grid(r.detail)
    return (f"<tr><td><code>{_text(r.id, NAME_LIMIT)}</code></td>"
            f'<td style="color:{color};white-space:nowrap">{_text(r.status.label)}</td>'
            f'<td style="text-align:right">{r.score:g}/{r.max_score:g}</td>'
            f'<td style="text-align:left">{what}</td></tr>')


def to_html(report: ChapterReport) -> str:
    head = (f"<b>{_text(report.chapter, NAME_LIMIT)}: {_text(report.title, NAME_LIMIT)}</b> "
            f"&mdash; {_text(report.summary(), NAME_LIMIT)}")
    error = ""
    if report.import_error:
        error = (f'<pre style="color:#cf222e">could not import: '
                 f"{_text(report.import_error)}</pre>")
    rows = "".join(_row(r) for r in report.results)
    return (f"<div>{head}{error}<table><thead><tr><th>check</th><th>status</th>"
            f"<th>points</th><th>what was checked / what went wrong</th></tr></thead>"
            f"<tbody>{rows}</tbody></table></div>")
