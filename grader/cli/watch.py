"""`dlbn watch`: grade the current task on every save (see grader.watch)."""

from __future__ import annotations

import click

from grader.cli.common import ChapterType, console, device_option, root_option
from grader.course import course_root, exercises_path


@click.command("watch")
@click.argument("chapters", type=ChapterType(allow_all=False))
@click.option("--task", type=int, help="Start at this task (default: the first not passed).")
@click.option("--poll", is_flag=True,
              help="Poll the file instead of waiting for file-system events (network drives, "
              "WSL's /mnt; also DLBN_WATCH_POLL=1). Chosen by itself where events do not "
              "arrive.")
@device_option()
@root_option()
def watch_cmd(chapters, task, poll, device, root) -> None:  # noqa: ANN001
    """Re-grade the current task whenever you save exercises.py.

    Shows the first failing check in full and the others one line each; when the task
    passes, moves on to the next. Keys: h hint, n/p next/previous task, a grade the whole
    chapter, r regrade, q quit. A syntax error or a crash in your file is one message, and
    watching goes on.

    \b
    Examples:
        dlbn watch ch01
        dlbn watch ch05 --task 3 --poll
    """
    from grader.engine import grade
    from grader.progress import record_report
    from grader.watch import WatchSession, run

    (chapter,) = chapters
    root_path = course_root(root)
    path = exercises_path(root_path, chapter)

    def grade_task(ch, t):  # noqa: ANN001, ANN202
        return grade(chapter=ch, root=root_path, task=t, device=device)

    session = WatchSession(chapter, root_path, console(), grade_task, task=task,
                           record=lambda report: record_report(root_path, report, path))
    run(session, path, poll=True if poll else None)
