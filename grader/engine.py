"""The grading API: run the probes (learner and reference), judge, return a report.

    report = grade(chapter="ch01", solution=True)

The reference runs in its own process, in parallel with the learner's, so learner code
can never touch the expected outputs. Judges run here, in the parent.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grader.course import UsageError, course_root, exercises_path, resolve_chapter
from grader.model import Chapter, ChapterReport, Check, CheckResult, Status
from grader.probing import ProbeContext
from grader.runner import DEFAULT_MEMORY_LIMIT, RawResult, RunOutcome, run_checks

DEVICES = ("auto", "cpu", "cuda", "mps")


def resolve_device(device: str) -> str:
    """'auto' -> cuda, then mps, then cpu; a device that is not there is a usage error."""
    import torch

    name = device.lower()
    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        mps = getattr(torch.backends, "mps", None)
        return "mps" if mps is not None and mps.is_available() else "cpu"
    kind = name.split(":")[0]
    if kind == "cpu":
        return "cpu"
    if kind == "cuda" and torch.cuda.is_available():
        return name
    if kind == "mps" and getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    if kind in ("cuda", "mps"):
        raise UsageError(f"device {device!r} is not available here; try --device cpu or auto")
    raise UsageError(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")


def _threads() -> int:
    """One intra-op thread per child: the learner and reference children run side by side,
    oversubscribed cores slow torch down many times over, and one thread keeps float32
    reductions (and so training trajectories) identical in both processes."""
    return 1


def reference_outputs(
    chapter: Chapter,
    root: Path,
    checks: tuple[Check, ...],
    device: str,
    seed: int,
    scale: str,
    stop: threading.Event | None = None,
) -> RunOutcome:
    """Expected outputs of the match checks, from the reference solution in its own process."""
    return run_checks(
        path=exercises_path(root, chapter, solution=True),
        spec_module=chapter.spec_module,
        check_ids=[c.id for c in checks if c.needs_reference],
        timeouts={c.id: c.timeout * 2 for c in checks},
        role="oracle",
        device=device,
        seed=seed,
        scale=scale,
        threads=_threads(),
        memory_limit=0,
        env=child_env(root),
        stop=stop,
    )


def child_env(root: Path) -> dict[str, str]:
    """Children run in a temp dir: tell them where the course's data lives."""
    from dlbn.paths import data_dir

    return {"DLBN_DATA": str(data_dir(root))}


def _load(data: bytes | None) -> Any:
    import torch

    if data is None:
        return None
    return torch.load(io.BytesIO(data), weights_only=True)


def judge_one(
    check: Check, raw: RawResult, expected: RawResult | None, ctx: ProbeContext
) -> CheckResult:
    """Turn one raw probe result (and the reference's) into a scored result."""

    def result(status: Status, message: str = "") -> CheckResult:
        passed = status is Status.PASSED
        return CheckResult(
            id=check.id,
            task=check.task,
            title=check.title,
            kind=check.kind.value,
            status=status,
            score=check.points if passed else 0.0,
            max_score=check.points,
            message=message,
            hint="" if passed or status is Status.NOT_STARTED else check.hint,
            seconds=raw.seconds,
            stdout=raw.stdout,
        )

    simple = {
        "failed": Status.FAILED,
        "not_started": Status.NOT_STARTED,
        "error": Status.ERROR,
        "timeout": Status.TIMEOUT,
        "memory": Status.MEMORY,
    }
    if raw.status in simple:
        message = raw.message
        if raw.status == "memory" and "memory" not in message.lower():
            message = f"ran out of memory (limit reached): {message}"
        return result(simple[raw.status], message)
    want = None
    if check.needs_reference:
        if expected is None or expected.status != "ok":
            why = expected.message if expected else "not computed"
            return result(Status.ERROR, f"the reference solution failed on this check: {why}")
        want = _load(expected.output)
    try:
        got = _load(raw.output)
        verdict = check.judge(got, want, ctx)
    except Exception as exc:  # noqa: BLE001 - odd learner outputs must not crash the report
        return result(Status.FAILED, f"could not compare your output: {type(exc).__name__}: {exc}")
    return result(Status.PASSED if verdict.passed else Status.FAILED, verdict.message)


def grade(
    *,
    chapter: Chapter | str,
    root: str | Path | None = None,
    solution: bool = False,
    source: str | Path | None = None,
    device: str = "auto",
    seed: int = 0,
    task: int | None = None,
    only: tuple[str, ...] = (),
    scale: str = "small",
    reference: RunOutcome | None = None,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    on_start: Callable[[Check], None] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> ChapterReport:
    """Grade one chapter's exercises.py (the learner's, the solution, or ``source``).

    ``only`` keeps the checks whose id starts with one of its prefixes (verify uses it to
    grade a mutant on the checks that should catch it).
    """
    started = time.perf_counter()
    chapter = resolve_chapter(chapter) if isinstance(chapter, str) else chapter
    root_path = course_root(root)
    path = Path(source) if source else exercises_path(root_path, chapter, solution)
    if not path.is_file():
        raise UsageError(f"{path} does not exist")
    if task is not None and task not in chapter.tasks:
        raise UsageError(
            f"{chapter.id} has no task {task}; tasks: {', '.join(map(str, chapter.tasks))}"
        )
    device = resolve_device(device)
    checks = chapter.select(task)
    if only:
        checks = tuple(c for c in checks if c.id.startswith(only))
    by_id = {c.id: c for c in checks}
    ctx = ProbeContext(device=device, seed=seed, scale=scale)

    box: dict[str, RunOutcome] = {}
    thread = None
    stop = threading.Event()
    if reference is None and any(c.needs_reference for c in checks):

        def work() -> None:
            box["ref"] = reference_outputs(chapter, root_path, checks, device, seed, scale, stop)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()

    learner = run_checks(
        path=path.resolve(),
        spec_module=chapter.spec_module,
        check_ids=list(by_id),
        timeouts={c.id: c.timeout for c in checks},
        role="learner",
        device=device,
        seed=seed,
        scale=scale,
        threads=_threads(),
        memory_limit=memory_limit,
        env=child_env(root_path),
        on_start=(lambda cid: on_start(by_id[cid])) if on_start else None,
    )
    if thread is not None:
        if not any(
            c.needs_reference and learner.results.get(c.id, RawResult("error")).status == "ok"
            for c in checks
        ):
            stop.set()  # nothing to compare (e.g. an untouched starter): don't wait
        thread.join()
        reference = box.get("ref")
    results = []
    for check in checks:
        raw = learner.results.get(check.id, RawResult("error", message="not run"))
        expected = reference.results.get(check.id) if reference else None
        res = judge_one(check, raw, expected, ctx)
        results.append(res)
        if on_result:
            on_result(res)
    return ChapterReport(
        chapter=chapter.id,
        title=chapter.title,
        source=str(path),
        device=device,
        results=tuple(results),
        import_error=learner.import_error,
        seconds=time.perf_counter() - started,
        meta={"seed": seed, "scale": scale, "task": task, "solution": solution},
    )
