"""Where things live: the course root, the data folder, the user cache.

The course root is the nearest folder at or above the current directory that holds both
`chapters/` and `solutions/`. Data lands in `<root>/datasets/` (git-ignored) when a course
root is found, otherwise in `~/.cache/dlbn/datasets`; `DLBN_DATA` overrides both.
"""

from __future__ import annotations

import os
from pathlib import Path


def is_course_root(path: Path) -> bool:
    return (path / "chapters").is_dir() and (path / "solutions").is_dir()


def find_course_root(start: str | os.PathLike[str] | None = None) -> Path | None:
    """The nearest folder at or above ``start`` (default: cwd) with chapters/ and solutions/."""
    here = Path(start or os.getcwd()).resolve()
    for candidate in (here, *here.parents):
        if is_course_root(candidate):
            return candidate
    return None


def cache_dir() -> Path:
    """The user cache (`DLBN_CACHE` overrides); created on demand by callers."""
    env = os.environ.get("DLBN_CACHE")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "dlbn"


def data_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder data sets are generated or downloaded into."""
    env = os.environ.get("DLBN_DATA")
    if env:
        return Path(env).expanduser()
    course = Path(root) if root is not None else find_course_root()
    if course is not None:
        return Path(course) / "datasets"
    return cache_dir() / "datasets"
