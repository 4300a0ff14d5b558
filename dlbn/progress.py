"""One progress bar for the whole project: a tiny generator around rich.

It draws only when stderr is a terminal (or ``enabled=True``); otherwise it is a no-op, so
logs, CI and `--json` output stay clean.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def interactive() -> bool:
    return sys.stderr.isatty()


def track(
    items: Iterable[T],
    description: str = "working",
    total: int | None = None,
    enabled: bool | None = None,
) -> Iterator[T]:
    """Yield ``items`` while drawing a progress bar on stderr when interactive."""
    if enabled is None:
        enabled = interactive()
    if not enabled:
        yield from items
        return
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    if total is None and hasattr(items, "__len__"):
        total = len(items)  # type: ignore[arg-type]
    columns = (
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=Console(stderr=True), transient=True) as progress:
        task = progress.add_task(description, total=total)
        for item in items:
            yield item
            progress.advance(task)
