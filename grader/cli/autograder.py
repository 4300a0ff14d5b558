"""`dlbn autograder`: build the Gradescope package, set it up, grade a submission."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grader.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    ChapterType,
    console,
    device_option,
    root_option,
)
from grader.course import UsageError, course_root


@click.group("autograder")
def autograder() -> None:
    """Instructors: a Gradescope autograder that a student's code cannot fool.

    \b
        dlbn autograder build ch01 -o autograder.zip   # here, with the solutions
        (upload autograder.zip to Gradescope; it runs setup.sh, then run_autograder)

    The package holds the course without solutions/ and the reference's outputs for several
    seed sets (drawn at random, each checked against every check). Every submission is
    graded in graded mode: the learner's code runs as an unprivileged user with no network,
    limits it cannot raise, a seed set it cannot know in advance, and nothing it reports is
    believed without the reference's agreement. See README, "For instructors".
    """


@autograder.command("build")
@click.argument("chapters", type=ChapterType())
@click.option("-o", "--output", type=click.Path(dir_okay=False), default="autograder.zip",
              show_default=True, help="The zip to upload to Gradescope.")
@click.option("--seed-sets", type=click.IntRange(1, 20), default=3, show_default=True,
              help="Seed sets to precompute; each graded run draws one.")
@device_option("cpu")
@root_option()
def build_cmd(chapters, output, seed_sets, device, root) -> None:  # noqa: ANN001
    """Run the reference ahead of time and write the Gradescope package.

    Also keeps the expected outputs in <course>/.dlbn/expected, which `dlbn grade --graded`
    uses on this machine.

    \b
    Examples:
        dlbn autograder build ch01
        dlbn autograder build all -o all-chapters.zip --seed-sets 5
    """
    import shutil

    from grader.autograder import STORE, build
    from grader.engine import resolve_device

    root_path = course_root(root)
    out = console()
    with console(stderr=True).status("building") as status:
        zip_path = build(chapters, root_path, Path(output), seed_sets=seed_sets,
                         device=resolve_device(device), on_step=status.update)
    local = root_path / ".dlbn" / STORE
    import zipfile

    from grader.reference import write_private

    shutil.rmtree(local, ignore_errors=True)
    with zipfile.ZipFile(zip_path) as zf:
        for name in zf.namelist():
            if name.startswith(f"{STORE}/"):
                write_private(root_path / ".dlbn" / name, zf.read(name))
    size = zip_path.stat().st_size / 2**20
    out.print(f"[green]wrote {zip_path}[/] ({size:.1f} MiB, {len(chapters)} chapter(s), "
              f"{seed_sets} seed sets each); expected outputs also in {local}")


@autograder.command("setup")
@click.option("--source", type=click.Path(file_okay=False, exists=True), required=True)
def setup_cmd(source) -> None:  # noqa: ANN001
    """Gradescope's setup step (run by setup.sh, as root)."""
    from grader.autograder import setup

    for line in setup(Path(source)):
        console().print(f"setup: {line}")


@autograder.command("run")
@click.option("--source", type=click.Path(file_okay=False, exists=True), required=True)
@click.option("--submission", type=click.Path(file_okay=False, exists=True), required=True)
@click.option("--results", type=click.Path(dir_okay=False), required=True)
def run_cmd(source, submission, results) -> None:  # noqa: ANN001
    """Grade a submission in graded mode and write Gradescope's results.json."""
    from grader import reporters
    from grader.autograder import (
        STORE,
        chapters_in,
        find_submission,
        graded_setup,
        missing_report,
        uid_of_learner,
        unfinished,
    )
    from grader.engine import grade
    from grader.reference import ExpectedStore

    source_path = Path(source).resolve()
    store = ExpectedStore(source_path / STORE)
    chapters = chapters_in(store)
    if not chapters:
        raise UsageError(f"{source_path / STORE} holds no expected outputs")
    graded = graded_setup(source_path)
    try:
        target = reporters.check_report_path(results, uid_of_learner())
    except reporters.ReportPathError as exc:
        raise UsageError(f"will not write results there: {exc}") from None
    reporters.write_gradescope(unfinished(chapters), target)
    reports = []
    for chapter in chapters:
        file = find_submission(Path(submission), chapter, only_one=len(chapters) == 1)
        if file is None:
            reports.append(missing_report(
                chapter, f"no {chapter.slug}/exercises.py (or exercises.py) in the submission"))
            continue
        reports.append(grade(chapter=chapter, root=source_path, source=file, device="cpu",
                             graded=graded))
    reporters.write_gradescope(reports, target)
    out = console()
    for report in reports:  # rendered only once the report is on disk
        out.print(report.summary())
    sys.exit(EXIT_OK if all(r.all_passed for r in reports) else EXIT_FAILED)
