"""`dlbn data`: list, fetch and verify the course's data sets.

    dlbn data list
    dlbn data fetch cifar10
    dlbn data verify

Only parses arguments and calls `dlbn.data`. Importing this module, ``--help``, ``list``,
``verify`` and ``fetch mnist1d`` never import torch (~2 s); fetching an image set does,
through torchvision.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from dlbn import data as api
from dlbn.paths import data_dir
from grader.cli.common import EXIT_FAILED, console, root_option
from grader.course import UsageError  # a clean message, no traceback, exit code 2
from grader.reporters.tables import plain_table


class DatasetName(click.ParamType):
    """A data set id; accepts ``Fashion-MNIST``-style spellings and lists the valid names."""

    name = "dataset"

    def convert(self, value: str, param: click.Parameter | None, ctx: click.Context | None) -> str:
        try:
            return api.canonical_name(value)
        except api.UnknownDataset:
            self.fail(
                f"unknown data set {value!r}; choose from: {', '.join(api.DATASETS)}", param, ctx
            )

    def shell_complete(self, ctx: click.Context, param: click.Parameter, incomplete: str) -> list:
        from click.shell_completion import CompletionItem

        return [CompletionItem(name) for name in api.DATASETS if name.startswith(incomplete)]


ROOT_HELP = ("Course root (data goes to ROOT/datasets). Default: found from the current "
             "folder. The DLBN_DATA environment variable overrides both.")


@click.group("data")
def data() -> None:
    """List, fetch and verify the data sets (MNIST-1D, CIFAR-10, Fashion-MNIST).

    \b
    Examples:
      dlbn data list
      dlbn data fetch cifar10
      dlbn data verify
    """


@data.command("list")
@root_option(ROOT_HELP)
def list_cmd(root: Path | None) -> None:
    """Show each data set's card: splits, shapes, size, license, and whether it is on disk.

    \b
    Example:
      dlbn data list
    """
    columns = ("name", "train / test", "x shape", "size", "license", "on disk")
    table = plain_table(f"Data sets (in {data_dir(root)})", columns, no_wrap=True)
    for card in api.DATASETS.values():
        on_disk = "yes" if api.is_on_disk(card.name, root) else "no"
        table.add_row(card.name, card.splits, card.shapes, card.size, card.license, on_disk)
    console().print(table)
    console().print("Fetch one with: dlbn data fetch NAME  (details: datasets/README.md)")


@data.command("fetch")
@click.argument("name", type=DatasetName())
@root_option(ROOT_HELP)
def fetch_cmd(name: str, root: Path | None) -> None:
    """Put data set NAME on disk and check its checksums.

    MNIST-1D is generated offline (~2 s). CIFAR-10 (170 MB) and Fashion-MNIST (31 MB) are
    downloaded by torchvision, unless already there, then checked against
    datasets/checksums.json.

    \b
    Examples:
      dlbn data fetch mnist1d
      dlbn data fetch cifar10
      DLBN_DATA=/scratch/data dlbn data fetch fashion_mnist
    """
    try:
        folder = api.fetch(name, root)
    except api.DataError as e:
        raise UsageError(str(e)) from e
    status = api.verify(root, [name])[0]
    console().print(f"{api.DATASETS[name].title}: {status.status} in {folder} ({status.detail})")


@data.command("verify")
@click.argument("names", nargs=-1, type=DatasetName())
@root_option(ROOT_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the statuses as JSON.")
def verify_cmd(names: tuple[str, ...], root: Path | None, as_json: bool) -> None:
    """Check the data sets on disk (all, or NAMES): present, missing or corrupt.

    Hashes every file that is there and compares it with datasets/checksums.json; never
    downloads or generates anything. Exit code 1 if one is corrupt, 0 otherwise (missing
    is normal until fetched).

    \b
    Examples:
      dlbn data verify
      dlbn data verify cifar10 --json
    """
    try:
        statuses = api.verify(root, list(names) or None)
    except api.DataError as e:
        raise UsageError(str(e)) from e
    if as_json:
        click.echo(json.dumps([s.to_dict() for s in statuses], indent=2))
    else:
        table = plain_table("Data on disk", ("name", "status", "path", "detail"))
        style = {"present": "green", "missing": "yellow", "corrupt": "bold red"}
        for s in statuses:
            table.add_row(s.name, f"[{style[s.status]}]{s.status}[/]", str(s.path), s.detail)
        console().print(table)
    if not all(s.ok for s in statuses):
        click.get_current_context().exit(EXIT_FAILED)
