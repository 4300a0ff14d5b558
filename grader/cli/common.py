"""What the `dlbn` commands share: exit codes, options, the chapter argument, the console."""

from __future__ import annotations

from pathlib import Path

import click

from dlbn.device import DEVICES
from grader.course import UsageError, all_chapters, resolve_chapter

EXIT_OK = 0  # every check passed / everything verified
EXIT_FAILED = 1  # some check failed, a mutant escaped, a data set is corrupt
EXIT_USAGE = 2  # bad arguments, or an environment error (a clean message, no traceback)


class ChapterType(click.ParamType):
    """A chapter id (`ch01`, `ch1`, `1`, `ch01_batchnorm`), or `all` where allowed."""

    name = "chapter"

    def __init__(self, allow_all: bool = True) -> None:
        self.allow_all = allow_all

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
        if isinstance(value, tuple):
            return value
        if self.allow_all and value.strip().lower() == "all":
            return all_chapters()
        try:
            return (resolve_chapter(value),)
        except UsageError as exc:
            self.fail(exc.message, param, ctx)

    def get_metavar(self, param, ctx=None) -> str:  # noqa: ANN001
        ids = "|".join(c.id for c in all_chapters())
        return f"[{ids}{'|all' if self.allow_all else ''}]"


def root_option(help: str = "Course root (default: found from the current folder).",
                **kw: object):  # noqa: ANN201 - a click decorator
    """``--root PATH``, the same on every command."""
    return click.option("--root", type=click.Path(file_okay=False, path_type=Path),
                        default=None, help=help, **kw)


def device_option(default: str = "auto", help: str | None = None):  # noqa: ANN201
    """``--device``, choosing from `dlbn.device.DEVICES`."""
    return click.option(
        "--device", type=click.Choice(DEVICES), default=default, show_default=True,
        help=help or "Where the code runs; auto picks cuda, then mps, then cpu.",
    )


def console(stderr: bool = False):  # noqa: ANN201 - rich.console.Console
    """The one console the commands print to (rich resolves sys.stdout when printing)."""
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)
