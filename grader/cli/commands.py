"""The `dlbn` command: parses arguments and calls the grader's API; nothing else.

`dlbn --help`, `dlbn list` and usage errors answer without importing torch.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from grader import __version__
from grader.cli.autograder import autograder
from grader.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    EXIT_USAGE,
    ChapterType,
    console,
    device_option,
    root_option,
)
from grader.cli.data import data
from grader.cli.loop import COMMANDS as LOOP_COMMANDS
from grader.cli.run import run_cmd
from grader.cli.watch import watch_cmd
from grader.course import UsageError, all_chapters, course_root, exercises_path
from grader.model import Chapter


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="dlbn")
def main() -> None:
    """dlbn: a textbook companion on batch normalization.

    Read a chapter (chapters/chNN_*/README.md), fill in the TODOs of its exercises.py,
    then grade your work:

    \b
        dlbn list                 chapters, points and your last results
        dlbn grade ch01           grade chapter 1 (exit 0 only if all checks pass)
        dlbn grade ch01 --task 2  grade one task
        dlbn run ch01             redraw the chapter's figures with your code
    """


@main.command("list")
@click.argument("chapters", type=ChapterType(), required=False)
@root_option()
def list_chapters(chapters, root: Path | None) -> None:  # noqa: ANN001
    """List the chapters (title, tasks, points, your last grade) and the next task; with
    CHAPTER, its tasks: passed or not, score, hints used.

    \b
    Examples:
        dlbn list
        dlbn list ch01
    """
    from dlbn.paths import find_course_root
    from grader.history import load_last
    from grader.progress import load
    from grader.reporters.tables import chapters_table, tasks_table

    where = root or find_course_root()
    progress = load(where) if where else None
    out = console()
    if chapters:
        for chapter in chapters:
            out.print(tasks_table(chapter, progress.tasks if progress else {}))
    else:
        every = all_chapters()
        last = {c.id: load_last(where, c.id) if where else None for c in every}
        out.print(chapters_table(every, last))
    if where is None:
        out.print("[dim]No course root here: cd into the course to see your results.[/]")
        return
    found = progress.next_task(chapters or all_chapters())
    if found:
        chapter, task = found
        out.print(f"next: [bold]{chapter.id}.{task}[/] - {chapter.tasks[task]}  "
                  f"(dlbn grade {chapter.id} --task {task}, or dlbn watch {chapter.id})")


def _grade_one(chapter: Chapter, **kw: object) -> object:
    from dlbn.progress import interactive
    from grader.engine import grade

    if not interactive():
        return grade(chapter=chapter, **kw)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    checks = chapter.select(kw.get("task"))
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=console(stderr=True), transient=True) as progress:
        bar = progress.add_task(f"{chapter.id}: starting Python and torch", total=len(checks))
        seen: list[str] = []

        def on_start(check) -> None:  # noqa: ANN001
            if seen:
                progress.advance(bar)
            seen.append(check.id)
            progress.update(bar, description=f"{chapter.id}: {check.id}")

        return grade(chapter=chapter, on_start=on_start, **kw)


@main.command("grade")
@click.argument("chapters", type=ChapterType())
@click.option("--task", type=int, help="Grade only this task number (e.g. 2 for ch01.2).")
@click.option("--solution", is_flag=True, help="Grade the reference in solutions/ (instructors).")
@device_option(help="Where your code runs; auto picks cuda, then mps, then cpu.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the probe inputs.")
@click.option(
    "--json", "json_path", type=click.Path(dir_okay=False), help="Also write our JSON report."
)
@click.option(
    "--gradescope", type=click.Path(dir_okay=False), help="Also write Gradescope's results.json."
)
@click.option("--junit", type=click.Path(dir_okay=False), help="Also write a JUnit XML report.")
@root_option()
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    help="Show messages of passed checks and what your code printed.",
)
@click.option(
    "--graded",
    is_flag=True,
    help="Graded mode: sandboxed child, a hidden seed set and precomputed expected outputs "
    "(from `dlbn autograder build`; see --expected). Always on inside the autograder.",
)
@click.option(
    "--expected",
    type=click.Path(file_okay=False),
    help="Graded mode's expected outputs (default: <course>/.dlbn/expected).",
)
def grade_cmd(
    chapters, task, solution, device, seed, json_path, gradescope, junit, root, verbose,
    graded, expected,
) -> None:  # noqa: ANN001
    """Grade a chapter's exercises.py: run your code, compare with the reference and the paper.

    CHAPTER is ch01, ch1, 1, the folder name (ch01_batchnorm) or `all`. Your code runs in a
    separate process with time and memory limits; your files are never modified.
    Exit code: 0 every check passed, 1 some did not, 2 usage or environment error.

    \b
    Examples:
        dlbn grade ch01
        dlbn grade 1 --task 2 -v
        dlbn grade all --json report.json --gradescope results.json
    """
    from grader import reporters
    from grader.history import save_last
    from grader.progress import record_report

    root_path = course_root(root, need_solutions=not graded)
    if task is not None and len(chapters) > 1:
        raise UsageError("--task needs a single chapter, not 'all'")
    setup = _graded_setup(root_path, expected) if graded else None
    untrusted = setup.sandbox.uid if setup else None
    writers = [
        (_report_path(path, untrusted), write)
        for path, write in (
            (json_path, reporters.write_json),
            (gradescope, reporters.write_gradescope),
            (junit, reporters.write_junit),
        )
        if path
    ]
    out = console()
    reports = []
    for chapter in chapters:
        report = _grade_one(
            chapter,
            root=root_path,
            solution=solution,
            device=device,
            seed=seed,
            task=task,
            graded=setup,
        )
        reports.append(report)
        if not solution and not graded:
            record_report(root_path, report, exercises_path(root_path, chapter))
            if task is None:
                save_last(root_path, report)
    for path, write in writers:  # on disk first: rendering comes after
        write(reports, path)
    for chapter, report in zip(chapters, reports, strict=True):
        reporters.render(report, out, verbose=verbose, tasks=chapter.tasks)
        exposed = [p for p in report.meta.get("protections", []) if p.startswith("EXPOSED")]
        if exposed:
            out.print(f"[yellow]graded mode: {'; '.join(exposed)}. Grade a class with the "
                      "autograder package (no solutions inside), or run as root where mount "
                      "namespaces are allowed.[/]")
    if len(reports) > 1:
        total = sum(r.score for r in reports)
        out.print(f"[bold]all chapters: {total:g}/{sum(r.max_score for r in reports):g} points[/]")
    sys.exit(EXIT_OK if all(r.all_passed for r in reports) else EXIT_FAILED)


def _report_path(path: str, untrusted: int | None) -> Path:
    from grader import reporters

    try:
        return reporters.check_report_path(path, untrusted)
    except reporters.ReportPathError as exc:
        raise UsageError(f"will not write a report there: {exc}") from None


def _graded_setup(root: Path, expected: str | None):  # noqa: ANN202 - grader.engine.Graded
    from grader import sandbox
    from grader.engine import Graded
    from grader.reference import ExpectedStore
    from grader.runner import Sandbox

    folder = Path(expected) if expected else root / ".dlbn" / "expected"
    if not (folder / "manifest.json").is_file():
        raise UsageError(f"graded mode needs expected outputs in {folder}; build them with "
                         "`dlbn autograder build CH` (instructors)")
    account = sandbox.learner_account()
    uid, gid = account if account else (None, None)
    return Graded(store=ExpectedStore(folder), sandbox=Sandbox(uid=uid, gid=gid))


@main.command("verify")
@click.argument("chapters", type=ChapterType(), default="all")
@device_option("cpu")
@root_option()
def verify_cmd(chapters, device, root) -> None:  # noqa: ANN001
    """Instructors: prove the checks are honest.

    For each chapter: the reference passes every check, the untouched starter reports
    not_started everywhere, starters are in sync with solutions, and every shipped mutant
    (a typical mistake) is caught. Exit 0 only if all of that holds.

    \b
    Examples:
        dlbn verify
        dlbn verify ch01
    """
    from dlbn.progress import interactive
    from grader.reporters.tables import verify_table
    from grader.verify import verify_chapter

    root_path = course_root(root)
    out = console()
    all_ok = True
    for chapter in chapters:
        status = None
        if interactive():
            status = console(stderr=True).status(f"{chapter.id}: starting")
            status.start()
        try:
            result = verify_chapter(
                chapter,
                root_path,
                device=device,
                on_step=(lambda s, c=chapter, st=status: st.update(f"{c.id}: {s}"))
                if status
                else None,
            )
        finally:
            if status:
                status.stop()
        table = verify_table(chapter, result.findings)
        out.print(table)
        all_ok &= result.ok
    out.print("[bold green]verified[/]" if all_ok else "[bold red]verification failed[/]")
    sys.exit(EXIT_OK if all_ok else EXIT_FAILED)


@main.command("doctor")
@root_option()
def doctor_cmd(root) -> None:  # noqa: ANN001
    """Check this machine: Python, torch, torchvision, devices, data cache, course root.

    Example: dlbn doctor
    """
    from grader.doctor import diagnose
    from grader.reporters.tables import doctor_table

    rows, ok = diagnose(root)
    table = doctor_table(rows)
    console().print(table)
    sys.exit(EXIT_OK if ok else EXIT_USAGE)


for command in (run_cmd, watch_cmd, *LOOP_COMMANDS):
    main.add_command(command)
main.add_command(autograder)
main.add_command(data)

if __name__ == "__main__":
    main()
