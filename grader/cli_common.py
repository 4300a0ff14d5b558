"""What the `dlbn` commands share: exit codes, the device choices, the chapter argument."""

from __future__ import annotations

import click

from grader.course import UsageError, all_chapters, resolve_chapter

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")


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


def console(stderr: bool = False):
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)
