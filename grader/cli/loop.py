"""The learner's loop besides `grade` and `watch`: `hint`, `reset`, `solution`, `next`.

Each reads and writes the progress file (`grader.progress`). None of them runs in graded
mode: `solution` and `hint` refuse in a course without solutions/ (the autograder package)
or when ``DLBN_GRADED`` is set.
"""

from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import click

from grader.cli.common import ChapterType, console, root_option
from grader.course import UsageError, course_root, exercises_path, resolve_chapter
from grader.model import Chapter


class TaskRef(click.ParamType):
    """``ch01.2``, ``1.2`` or ``ch01 2``-style task references, as (chapter, task)."""

    name = "CH.T"

    def convert(self, value, param, ctx):  # noqa: ANN001 - click's signature
        if isinstance(value, tuple):
            return value
        m = re.fullmatch(r"\s*((?:ch)?\d+)[.\s](\d+)\s*", str(value).lower())
        if not m:
            self.fail(f"{value!r} is not a task: write it as ch01.2 (chapter.task)", param, ctx)
        try:
            chapter = resolve_chapter(m.group(1))
        except UsageError as exc:
            self.fail(exc.message, param, ctx)
        task = int(m.group(2))
        if task not in chapter.tasks:
            self.fail(f"{chapter.id} has no task {task}; tasks: "
                      f"{', '.join(map(str, chapter.tasks))}", param, ctx)
        return chapter, task


def _self_study(root: Path, what: str) -> Path:
    """The reference's file for a self-study command; refuses in graded settings."""
    if os.environ.get("DLBN_GRADED") or not (root / "solutions").is_dir():
        raise UsageError(f"{what} is for self-study: this course has no solutions "
                         "(graded mode or the autograder package)")
    return root / "solutions"


def _reference_text(root: Path, chapter: Chapter) -> str:
    return exercises_path(root, chapter, solution=True).read_text(encoding="utf-8")


@click.command("hint")
@click.argument("ref", type=TaskRef())
@click.option("--level", type=click.IntRange(1, 3),
              help="Show this level (1 a nudge, 2 the idea, 3 the formula). Default: the next.")
@root_option()
def hint_cmd(ref, level, root) -> None:  # noqa: ANN001
    """Hints for task CH.T in three levels: a nudge, the idea, the formula.

    Each call reveals the next level (and shows the ones you have seen); `dlbn list CH`
    shows how many hints each task used.

    \b
    Examples:
        dlbn hint ch01.1
        dlbn hint 1.2 --level 3
    """
    from rich.text import Text

    from grader.progress import load, record_hint
    from grader.tasks import LEVELS, hints

    chapter, task = ref
    root_path = course_root(root)
    _self_study(root_path, "dlbn hint")
    levels = hints(_reference_text(root_path, chapter), chapter.id, task)
    if not levels:
        raise UsageError(f"{chapter.id}.{task} has no hints yet")
    seen = load(root_path).task(chapter.id, task).hints
    show = level or min(seen + 1, max(levels))
    record_hint(root_path, chapter.id, task, show)
    out = console()
    out.print(Text(f"{chapter.id}.{task} - {chapter.tasks[task]}", style="bold"))
    for n in sorted(levels):
        if n <= max(show, seen):
            out.print(Text(f"hint {n} ({LEVELS[n]}): ", style="cyan"), Text(levels[n]))
    if show < max(levels):
        out.print(Text(f"More: dlbn hint {chapter.id}.{task} ({max(levels) - show} level(s) "
                       "left)", style="dim"))


@click.command("solution")
@click.argument("ref", type=TaskRef())
@click.option("--give-up", is_flag=True,
              help="Show it although the task has not passed yet (recorded in your progress).")
@root_option()
def solution_cmd(ref, give_up, root) -> None:  # noqa: ANN001
    """Show the reference's code for task CH.T, to compare approaches once yours passes.

    Before the task passes, only with --give-up (recorded). Never in graded mode.

    \b
    Examples:
        dlbn solution ch01.1
        dlbn solution ch05.3 --give-up
    """
    from rich.syntax import Syntax

    from grader.progress import load, record_give_up
    from grader.stripping import HINT_MORE, LEVEL_HINT
    from grader.tasks import section

    chapter, task = ref
    root_path = course_root(root)
    _self_study(root_path, "dlbn solution")
    state = load(root_path).task(chapter.id, task)
    if not state.passed and not give_up:
        raise UsageError(f"{chapter.id}.{task} has not passed yet: grade it with `dlbn grade "
                         f"{chapter.id} --task {task}`, ask for a hint (`dlbn hint "
                         f"{chapter.id}.{task}`), or pass --give-up")
    if give_up and not state.passed:
        record_give_up(root_path, chapter.id, task)
    code = section(_reference_text(root_path, chapter), chapter.id, task)
    code = "\n".join(line for line in code.splitlines()
                     if not LEVEL_HINT.match(line) and not HINT_MORE.match(line))
    console().print(Syntax(code.rstrip() + "\n", "python", line_numbers=False))


@click.command("reset")
@click.argument("chapters", type=ChapterType(allow_all=False))
@click.option("--task", type=int, help="Restore only this task's section (between banners).")
@click.option("--yes", is_flag=True, help="Reset even if the file has changes not graded yet.")
@root_option()
def reset_cmd(chapters, task, yes, root) -> None:  # noqa: ANN001
    """Restore the starter code of a chapter's exercises.py, or of one task in it.

    A timestamped copy of your file goes to .dlbn/backups/ first. Without --yes, refuses
    when the file has changes you have not graded (so no work is lost by accident).

    \b
    Examples:
        dlbn reset ch01 --task 2
        dlbn reset ch01 --yes
    """
    from grader.progress import file_hash, load
    from grader.stripping import strip_solutions
    from grader.tasks import SectionError, replace_section, section

    (chapter,) = chapters
    root_path = course_root(root)
    _self_study(root_path, "dlbn reset")
    path = exercises_path(root_path, chapter)
    starter = strip_solutions(_reference_text(root_path, chapter), str(path))
    current = path.read_text(encoding="utf-8") if path.exists() else ""
    if task is not None and task not in chapter.tasks:
        raise UsageError(f"{chapter.id} has no task {task}")
    if task is None:
        new = starter
    else:
        try:
            new = replace_section(current, chapter.id, task, section(starter, chapter.id, task))
        except SectionError as exc:
            raise UsageError(f"{path.name}: {exc}; reset the whole file with "
                             f"`dlbn reset {chapter.id}`") from None
    if new == current:
        console().print(f"{path} already has the starter code there: nothing to reset")
        return
    graded = load(root_path).graded_files.get(chapter.id)
    if not yes and current and current != starter and file_hash(path) != graded:
        raise UsageError(f"{path} has changes you have not graded yet; grade them first "
                         f"(`dlbn grade {chapter.id}`) or pass --yes (a backup is kept)")
    backups = root_path / ".dlbn" / "backups"
    backups.mkdir(parents=True, exist_ok=True)
    backup = backups / f"{chapter.id}-exercises-{time.strftime('%Y%m%d-%H%M%S')}.py"
    if path.exists():
        shutil.copy2(path, backup)
    path.write_text(new, encoding="utf-8")
    what = f"task {chapter.id}.{task}" if task is not None else "the whole file"
    console().print(f"reset {what} in {path}; your previous file is in {backup}")


@click.command("next")
@click.option("--open", "open_editor", is_flag=True, help="Open the file in $EDITOR.")
@root_option()
def next_cmd(open_editor, root) -> None:  # noqa: ANN001
    """Name the next task to do (the first that has not passed), or open it in $EDITOR.

    \b
    Examples:
        dlbn next
        dlbn next --open
    """
    from grader.course import all_chapters
    from grader.progress import load
    from grader.tasks import section_span

    root_path = course_root(root)
    found = load(root_path).next_task(all_chapters())
    if found is None:
        console().print("[green]Every task has passed.[/] `dlbn run CH` redraws any "
                        "chapter's figures with your code.")
        return
    chapter, task = found
    path = exercises_path(root_path, chapter)
    text = path.read_text(encoding="utf-8")
    try:
        line = text[: section_span(text, chapter.id, task)[0]].count("\n") + 1
    except ValueError:
        line = 1
    console().print(f"next: [bold]{chapter.id}.{task}[/] - {chapter.tasks[task]}\n"
                    f"  {path}:{line}\n  then: dlbn grade {chapter.id} --task {task} "
                    f"(or dlbn watch {chapter.id})")
    if open_editor:
        click.edit(filename=str(path))


COMMANDS = (hint_cmd, solution_cmd, reset_cmd, next_cmd)
