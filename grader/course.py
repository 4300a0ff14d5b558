"""Find the course root and the chapters in it.

Chapters are discovered from ``grader/specs/chNN*.py`` (a module or package exposing
``CHAPTER``). Importing a spec must not import torch: specs use ``grader.lazy``.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from functools import lru_cache
from pathlib import Path

import click

from dlbn.paths import find_course_root
from grader.model import Chapter


class UsageError(click.ClickException):
    """A usage or environment error: a clean message and exit code 2."""

    exit_code = 2


@lru_cache(maxsize=1)
def all_chapters() -> tuple[Chapter, ...]:
    import grader.specs as specs

    found = []
    for info in pkgutil.iter_modules(specs.__path__):
        if re.fullmatch(r"ch\d\d", info.name):
            module = importlib.import_module(f"grader.specs.{info.name}")
            found.append(module.CHAPTER)
    return tuple(sorted(found, key=lambda c: c.id))


def resolve_chapter(name: str) -> Chapter:
    """Accept ``ch01``, ``ch1``, ``1``, ``01`` or the slug ``ch01_batchnorm``."""
    chapters = all_chapters()
    key = name.strip().lower()
    match = re.fullmatch(r"(?:ch)?0*(\d+)", key)
    for chapter in chapters:
        if key in (chapter.id, chapter.slug):
            return chapter
        if match and int(match.group(1)) == int(chapter.id[2:]):
            return chapter
    valid = ", ".join(c.id for c in chapters)
    raise UsageError(f"unknown chapter {name!r}; chapters: {valid} (or 'all')")


def course_root(root: str | Path | None = None, need_solutions: bool = True) -> Path:
    """The course folder (chapters/ and solutions/). The autograder package has no
    solutions/; graded runs there pass ``need_solutions=False``."""
    if root is not None:
        path = Path(root).expanduser().resolve()
        if not (path / "chapters").is_dir() or (
            need_solutions and not (path / "solutions").is_dir()
        ):
            raise UsageError(
                f"{path} is not a dlbn course root (it needs chapters/ and solutions/)"
            )
        return path
    found = find_course_root()
    if found is None:
        raise UsageError(
            "no dlbn course root at or above the current directory "
            "(a folder holding chapters/ and solutions/); cd into the course or pass --root PATH"
        )
    return found


def exercises_path(root: Path, chapter: Chapter, solution: bool = False) -> Path:
    return root / ("solutions" if solution else "chapters") / chapter.slug / "exercises.py"
