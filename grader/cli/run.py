"""`dlbn run`: a chapter's experiments and figures (see grader.experiments)."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grader.cli.common import ChapterType, console, device_option, root_option
from grader.course import course_root, exercises_path


@click.command("run")
@click.argument("chapter", type=ChapterType(allow_all=False))
@click.option(
    "--solution", is_flag=True, help="Use the reference in solutions/ instead of your code."
)
@device_option()
@click.option("--seed", type=int, default=0, show_default=True)
@click.option(
    "--scale",
    type=click.Choice(("small", "paper")),
    default="small",
    show_default=True,
    help="small: MNIST-1D on a CPU in minutes; paper: the papers' settings (GPU, CIFAR-10).",
)
@click.option(
    "--dataset",
    type=click.Choice(("mnist1d", "cifar10")),
    default=None,
    help="Data for chapters that offer a choice (ch05, ch08): cifar10 trains 2-D nets on "
    "CIFAR-10 (ch08: its airplanes and birds, the book's CIFAR-2) at paper scale. Needs "
    "`dlbn data fetch cifar10` first; meant for a GPU. Default: mnist1d, or cifar10 with "
    "--scale paper.",
)
@click.option(
    "--threads",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="CPU threads for torch. The chapters' numbers were measured with 1: more threads "
    "sum floats in another order, and training runs then drift to other (equally valid) "
    "numbers. The small nets gain little from more.",
)
@click.option(
    "--out", type=click.Path(file_okay=False), help="Where figures go (default: runs/CHAPTER)."
)
@click.option("--compare", is_flag=True,
              help="Show the chapter text's numbers (its figures/results.json) beside this "
              "run's, with the relative difference.")
@root_option()
def run_cmd(chapter, solution, device, seed, scale, dataset, threads, out, compare,  # noqa: ANN001
            root) -> None:
    """Run a chapter's experiments and redraw its figures (with a progress bar).

    Uses your exercises.py (finish the tasks first) or, with --solution, the reference.

    \b
    Examples:
        dlbn run ch01
        dlbn run ch01 --compare
        dlbn run ch05 --solution --out figures/
        dlbn run ch08 --dataset cifar10 --device cuda
    """
    from grader.experiments import run_chapter

    (chapter,) = chapter
    root_path = course_root(root)
    source = exercises_path(root_path, chapter, solution)
    out_dir = Path(out) if out else root_path / "runs" / chapter.id
    code = run_chapter(
        chapter, source, out_dir, device=device, seed=seed, scale=scale, dataset=dataset,
        threads=threads, out=console(),
        compare_with=root_path / "chapters" / chapter.slug / "figures" / "results.json"
        if compare else None,
    )
    sys.exit(code)
