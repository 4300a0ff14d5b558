"""`dlbn watch`: re-grade the current task whenever exercises.py is saved.

Two sources feed one queue: file saves (``watchfiles`` events on the file's folder, so an
editor's save-by-rename is seen too; polling where events do not arrive: network and WSL
file systems, or ``DLBN_WATCH_POLL=1``) and single key presses (cbreak mode on a terminal).
`WatchSession` holds the state (chapter, current task) and draws each verdict: the first
failing check expanded, the others one line each; a passing task moves on to the next one.
"""

from __future__ import annotations

import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from grader.model import Chapter, ChapterReport, Status

POLL_SECONDS = 0.25
NETWORK_FILESYSTEMS = {"nfs", "nfs4", "cifs", "smbfs", "smb3", "9p", "fuse.sshfs", "drvfs",
                       "virtiofs", "vboxsf"}
KEYS = r"keys: \[h]int  \[n]ext / \[p]revious task  \[a]ll tasks  \[r]egrade  \[q]uit"


def should_poll(path: Path) -> bool:
    """Poll instead of waiting for events: asked for, or a file system that sends none."""
    if os.environ.get("DLBN_WATCH_POLL", "") not in ("", "0"):
        return True
    try:
        mounts = Path("/proc/mounts").read_text().splitlines()
    except OSError:
        return False
    target, best, kind = str(path.resolve()), "", ""
    for line in mounts:
        parts = line.split()
        if len(parts) >= 3 and target.startswith(parts[1]) and len(parts[1]) > len(best):
            best, kind = parts[1], parts[2]
    return kind in NETWORK_FILESYSTEMS


def _signature(path: Path) -> tuple[float, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_mtime, st.st_size


def saves(path: Path, stop: threading.Event, *, poll: bool | None = None) -> Iterator[None]:
    """Yield once per save of ``path`` until ``stop`` is set."""
    poll = should_poll(path) if poll is None else poll
    if not poll:
        try:
            import watchfiles
        except ImportError:
            poll = True
    if poll:
        last = _signature(path)
        while not stop.wait(POLL_SECONDS):
            now = _signature(path)
            if now != last and now is not None:
                last = now
                yield
        return
    name = path.name
    for _changes in watchfiles.watch(path.parent, stop_event=stop, debounce=150, step=40,
                                     watch_filter=lambda _change, p: Path(p).name == name,
                                     rust_timeout=500, yield_on_timeout=False):
        yield


@contextmanager
def cbreak(stream: Any) -> Iterator[bool]:
    """Single key presses without Enter while inside (True when the stream is a terminal)."""
    try:
        import termios
        import tty

        fd = stream.fileno()
        saved = termios.tcgetattr(fd)
    except (ImportError, OSError, ValueError, AttributeError):
        yield False
        return
    try:
        tty.setcbreak(fd)
        yield True
    finally:
        termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def read_keys(stream: Any, events: queue.Queue, stop: threading.Event) -> None:
    """Put ("key", ch) on ``events`` for each character typed, until ``stop``."""
    import select

    while not stop.is_set():
        try:
            ready, _, _ = select.select([stream], [], [], 0.1)
        except (OSError, ValueError):
            return
        if ready:
            ch = stream.read(1)
            if not ch:  # end of input
                events.put(("key", "q"))
                return
            events.put(("key", ch.lower()))


class WatchSession:
    """The watch loop's state and drawing; ``grade(chapter, task)`` returns a report."""

    def __init__(self, chapter: Chapter, root: Path, out: Any,
                 grade: Callable[..., ChapterReport], *, task: int | None = None,
                 record: Callable[[ChapterReport], None] | None = None) -> None:
        self.chapter, self.root, self.out = chapter, root, out
        self.grade, self.record = grade, record
        self.tasks = list(chapter.tasks)
        self.task = task if task in chapter.tasks else self._first_unfinished()
        self.hint_level = 0

    def _first_unfinished(self) -> int:
        from grader.progress import load

        progress = load(self.root)
        for task in self.tasks:
            state = progress.tasks.get(f"{self.chapter.id}.{task}")
            if state is None or not state.passed:
                return task
        return self.tasks[0]

    # -- events -------------------------------------------------------------------------
    def on_save(self, saved_at: float | None = None) -> ChapterReport:
        return self.regrade(saved_at)

    def on_key(self, key: str) -> bool:
        """Handle one key; False means quit."""
        if key == "q":
            return False
        if key in ("n", "p"):
            i = self.tasks.index(self.task) + (1 if key == "n" else -1)
            self.task = self.tasks[i % len(self.tasks)]
            self.hint_level = 0
            self.regrade()
        elif key == "r":
            self.regrade()
        elif key == "a":
            self.grade_chapter()
        elif key == "h":
            self.show_hint()
        return True

    # -- actions ------------------------------------------------------------------------
    def regrade(self, saved_at: float | None = None) -> ChapterReport:
        started = time.time()
        self.out.print(f"[dim]grading {self.chapter.id}.{self.task}...[/]")
        report = self.grade(self.chapter, self.task)
        if self.record is not None:
            self.record(report)
        self.draw(report, graded_in=time.time() - started,
                  picked_up=None if saved_at is None else started - saved_at)
        if report.all_passed and not report.import_error:
            self.advance()
        return report

    def grade_chapter(self) -> ChapterReport:
        from grader.reporters import render

        self.out.print(f"[dim]grading all of {self.chapter.id}...[/]")
        report = self.grade(self.chapter, None)
        if self.record is not None:
            self.record(report)
        render(report, self.out, tasks=self.chapter.tasks)
        self.out.print(f"[dim]{KEYS}[/]")
        return report

    def advance(self) -> None:
        i = self.tasks.index(self.task)
        if i + 1 >= len(self.tasks):
            self.out.print(f"[bold green]Every task of {self.chapter.id} passes.[/] Press a "
                           "for the whole chapter, or q to quit.")
            return
        self.task, self.hint_level = self.tasks[i + 1], 0
        nxt = self.chapter.select(self.task)
        self.out.print(f"[bold]next: {self.chapter.id}.{self.task} - "
                       f"{self.chapter.tasks[self.task]}[/] ({len(nxt)} checks); save "
                       "exercises.py to grade it")
        for check in nxt:
            self.out.print(f"  [dim]○ {check.id}  {check.title}[/]")

    def show_hint(self) -> None:
        from grader.progress import record_hint
        from grader.tasks import LEVELS, hints

        solution = self.root / "solutions" / self.chapter.slug / "exercises.py"
        if os.environ.get("DLBN_GRADED") or not solution.is_file():
            self.out.print("[yellow]no hints here (graded mode)[/]")
            return
        levels = hints(solution.read_text(encoding="utf-8"), self.chapter.id, self.task)
        if not levels:
            self.out.print("[yellow]this task has no hints yet[/]")
            return
        self.hint_level = min(self.hint_level + 1, max(levels))
        record_hint(self.root, self.chapter.id, self.task, self.hint_level)
        text = levels[self.hint_level]
        self.out.print(f"[cyan]hint {self.hint_level} ({LEVELS[self.hint_level]}):[/] {text}",
                       markup=True, highlight=False)

    # -- drawing ------------------------------------------------------------------------
    def draw(self, report: ChapterReport, *, graded_in: float,
             picked_up: float | None) -> None:
        from rich.panel import Panel
        from rich.text import Text

        from grader.reporters.limits import ICONS, TERMINAL_LIMIT
        from grader.reporters.terminal import side_by_side
        from grader.textsafe import clean_text

        out = self.out
        title = self.chapter.tasks[self.task]
        out.rule(Text(f"{self.chapter.id}.{self.task} - {title}"))
        if report.import_error:
            last = clean_text(report.import_error, TERMINAL_LIMIT).strip().splitlines()[-6:]
            out.print(Panel(Text("\n".join(last)), border_style="red",
                            title=Text("exercises.py does not import")))
            out.print("[dim]fix it and save: still watching[/]")
        else:
            first = next((r for r in report.results if not r.passed), None)
            for r in report.results:
                line = Text.from_markup(f"{ICONS.get(r.status, '?')} ")
                line.append(f"{r.id}  ")
                line.append(clean_text(r.title, 200), style="dim" if r.passed else "")
                out.print(line)
                if r is first and r.status is not Status.NOT_STARTED:
                    if r.message:
                        out.print(Text("    " + clean_text(r.message, TERMINAL_LIMIT),
                                       style="red"))
                    if r.hint:
                        out.print(Text("    hint: " + clean_text(r.hint, TERMINAL_LIMIT),
                                       style="dim"))
                    grid = side_by_side(r.detail) if r.detail else None
                    if grid is not None:
                        out.print(grid)
            verdict = (f"[bold green]{self.chapter.id}.{self.task} passed[/]"
                       if report.all_passed else
                       f"{report.score:g}/{report.max_score:g} points")
            out.print(verdict)
        after = f"; picked up {picked_up:.1f} s after the save" if picked_up is not None else ""
        out.print(f"[dim]graded in {graded_in:.1f} s{after} · {KEYS}[/]")


def run(session: WatchSession, path: Path, *, poll: bool | None = None,
        keys: Any = None) -> None:
    """Grade once, then on every save and key press until [q] (or Ctrl-C)."""
    events: queue.Queue = queue.Queue()
    stop = threading.Event()

    def watch_file() -> None:
        for _ in saves(path, stop, poll=poll):
            events.put(("save", _signature(path)[0] if _signature(path) else time.time()))

    threading.Thread(target=watch_file, daemon=True).start()
    stream = keys if keys is not None else sys.stdin
    mode = "polling" if (poll if poll is not None else should_poll(path)) else "file events"
    session.out.print(f"[dim]watching {path} ({mode})[/]")
    with cbreak(stream) as interactive:
        if interactive or keys is not None:
            threading.Thread(target=read_keys, args=(stream, events, stop), daemon=True).start()
        try:
            session.regrade()
            while True:
                kind, value = events.get()
                if kind == "save":
                    while not events.empty():  # several saves while grading: grade once
                        kind2, value2 = events.get_nowait()
                        if kind2 == "key":
                            events.put((kind2, value2))
                            break
                        value = value2
                    session.on_save(value)
                elif not session.on_key(value):
                    break
        except KeyboardInterrupt:
            pass
        finally:
            stop.set()
