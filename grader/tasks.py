"""A task's parts in an exercise file: its section between banners, and its hint levels.

A section runs from its ``# Task chNN.T - title`` banner to the next banner (or the end of
the file). Under each banner of the reference, ``# Hint 1:`` (a nudge), ``# Hint 2:`` (the
idea) and ``# Hint 3:`` (the formula) lines, continued by indented ``#`` lines, hold the
hints `dlbn hint` reveals one level at a time; the starter does not contain them
(`grader.stripping` drops them).
"""

from __future__ import annotations

import re

from grader.stripping import HINT_MORE, LEVEL_HINT

LEVELS = {1: "a nudge", 2: "the idea", 3: "the formula"}
_BANNER = re.compile(r"^# Task (?P<chapter>ch\d\d)\.(?P<task>\d+) - ", re.M)


class SectionError(ValueError):
    """The file has no banner for the task (the learner removed or edited it)."""


def section_span(text: str, chapter: str, task: int) -> tuple[int, int]:
    """Character offsets [start, end) of the task's section in ``text``."""
    banners = [m for m in _BANNER.finditer(text) if m["chapter"] == chapter]
    for i, m in enumerate(banners):
        if int(m["task"]) == task:
            end = banners[i + 1].start() if i + 1 < len(banners) else len(text)
            return m.start(), end
    raise SectionError(f"no '# Task {chapter}.{task} - ...' banner in the file; keep the "
                       "banners the starter came with")


def section(text: str, chapter: str, task: int) -> str:
    start, end = section_span(text, chapter, task)
    return text[start:end]


def replace_section(text: str, chapter: str, task: int, new_section: str) -> str:
    """``text`` with the task's section replaced by ``new_section``."""
    start, end = section_span(text, chapter, task)
    return text[:start] + new_section + text[end:]


def hints(reference: str, chapter: str, task: int) -> dict[int, str]:
    """Level -> hint text for one task, from the reference's section (lines of one level
    are joined)."""
    found: dict[int, list[str]] = {}
    level = None
    for line in section(reference, chapter, task).splitlines():
        m = LEVEL_HINT.match(line)
        more = HINT_MORE.match(line)
        if m:
            level = int(m["level"])
            found.setdefault(level, []).append(m["text"].strip())
        elif more and level is not None:
            found[level].append(more["text"].strip())
        else:
            level = None
    return {level: " ".join(parts) for level, parts in sorted(found.items())}
