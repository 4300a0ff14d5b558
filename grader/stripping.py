"""Derive a starter exercises.py from the reference by stripping solution blocks.

In ``solutions/``::

    def f(x):
        # BEGIN SOLUTION ch01.1
        # HINT: reduce over every axis except the channel axis.
        return x.mean(0)
        # END SOLUTION

becomes, in ``chapters/``::

    def f(x):
        # TODO(ch01.1): reduce over every axis except the channel axis.
        raise NotImplementedError("ch01.1: implement f")

A block without a task id (``# BEGIN SOLUTION``) is removed with nothing in its place, and so
are the ``# Hint 1:`` ... ``# Hint 3:`` lines under a task banner (`dlbn hint` reveals them).
Authors regenerate starters with ``python -m grader.stripping --write``; a test and
``dlbn verify`` fail when they drift.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

BEGIN = re.compile(r"^(?P<indent>\s*)# BEGIN SOLUTION(?:\s+(?P<task>ch\d\d\.\d+))?\s*$")
END = re.compile(r"^\s*# END SOLUTION\s*$")
HINT = re.compile(r"^\s*# HINT:\s?(?P<text>.*)$")
# `dlbn hint` levels under a task banner (grader.hints): kept out of the starter
LEVEL_HINT = re.compile(r"^# Hint (?P<level>[123]):\s?(?P<text>.*)$")
HINT_MORE = re.compile(r"^#\s{3,}(?P<text>\S.*)$")  # a hint level's continuation line
DEF = re.compile(
    r"^(?P<indent>\s*)(?:async\s+)?def\s+(?P<name>\w+)|^(?P<cindent>\s*)class\s+(?P<cls>\w+)"
)


class MarkerError(ValueError):
    """Unbalanced or malformed solution markers."""


def _enclosing(lines: list[str], index: int, indent: int) -> str:
    """The dotted name of the def (and class) around line ``index``: ``BatchNorm.forward``."""
    names: list[str] = []
    for line in reversed(lines[:index]):
        m = DEF.match(line)
        level = len(m.group("indent") or m.group("cindent") or "") if m else indent
        if m and level < indent:
            names.insert(0, m.group("name") or m.group("cls"))
            indent = level
    return ".".join(names) or "this exercise"


def strip_solutions(text: str, filename: str = "exercises.py") -> str:
    """The starter text for a solution text (see the module docstring)."""
    lines = text.splitlines(keepends=False)
    out: list[str] = []
    i = 0
    while i < len(lines):
        begin = BEGIN.match(lines[i])
        if END.match(lines[i]):
            raise MarkerError(f"{filename}:{i + 1}: END SOLUTION without BEGIN")
        if not begin:
            if LEVEL_HINT.match(lines[i]):
                i += 1
                while i < len(lines) and HINT_MORE.match(lines[i]):
                    i += 1
                continue
            out.append(lines[i])
            i += 1
            continue
        indent, task = begin.group("indent"), begin.group("task")
        hints: list[str] = []
        j = i + 1
        while j < len(lines) and not END.match(lines[j]):
            if BEGIN.match(lines[j]):
                raise MarkerError(f"{filename}:{j + 1}: nested BEGIN SOLUTION")
            hint = HINT.match(lines[j])
            if hint:
                hints.append(hint.group("text"))
            j += 1
        if j == len(lines):
            raise MarkerError(f"{filename}:{i + 1}: BEGIN SOLUTION without END")
        if task:
            name = _enclosing(lines, i, len(indent))
            first, *rest = hints or ["your code here."]
            out.append(f"{indent}# TODO({task}): {first}")
            out.extend(f"{indent}#   {h}" for h in rest)
            out.append(f'{indent}raise NotImplementedError("{task}: implement {name}")')
        i = j + 1
    return "\n".join(out) + ("\n" if text.endswith("\n") else "")


def pairs(root: Path) -> list[tuple[Path, Path]]:
    """(solution, starter) paths for every chapter folder under ``root/solutions``."""
    found = []
    for solution in sorted((root / "solutions").glob("ch*/exercises.py")):
        starter = root / "chapters" / solution.parent.name / "exercises.py"
        found.append((solution, starter))
    return found


def drift(root: Path) -> list[str]:
    """Chapter folders whose starter is not the stripped solution."""
    stale = []
    for solution, starter in pairs(root):
        expected = strip_solutions(solution.read_text(), str(solution))
        if not starter.exists() or starter.read_text() != expected:
            stale.append(solution.parent.name)
    return stale


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Regenerate chapters/*/exercises.py from solutions/."
    )
    parser.add_argument("--root", default=".", help="course root (default: .)")
    parser.add_argument("--write", action="store_true", help="write the starters (else: check)")
    args = parser.parse_args(argv)
    root = Path(args.root)
    if not args.write:
        stale = drift(root)
        print("in sync" if not stale else "out of sync: " + ", ".join(stale))
        return 1 if stale else 0
    for solution, starter in pairs(root):
        starter.parent.mkdir(parents=True, exist_ok=True)
        starter.write_text(strip_solutions(solution.read_text(), str(solution)))
        print(f"wrote {starter}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
