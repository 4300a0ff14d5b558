"""The grading API: run the probes (learner and reference), judge, return a report.

    report = grade(chapter="ch01", solution=True)

Self-study mode: the reference runs in its own process, in parallel with the learner's
(or not at all, when the on-disk cache has its outputs: `grader.reference`), so learner
code never touches the expected outputs. Judges run here, in the parent.

Graded mode (``graded=Graded(store, sandbox)``): the expected outputs come from a store
built ahead of time for several seed sets; one is drawn per run; no reference process
runs; the learner's child runs inside the sandbox; every api and property check must also
agree with the reference's own measurement on the same seeds (`grader.backing`), and
from-scratch checks also read the learner's source (`grader.scratch`).
"""

from __future__ import annotations

import contextlib
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from dlbn.device import DeviceUnavailable, resolve
from grader.backing import agrees
from grader.compare import exception_hint, quantity_hint
from grader.course import UsageError, course_root, exercises_path, resolve_chapter
from grader.graded import backed_by_matches, integrity_report
from grader.model import Chapter, ChapterReport, Check, CheckResult, Status
from grader.probing import ProbeContext
from grader.reference import ExpectedStore, cache_path, load_cached, save_cached
from grader.runner import DEFAULT_MEMORY_LIMIT, RawResult, RunOutcome, Sandbox, run_checks
from grader.sandbox import GradedLock
from grader.scratch import STANDARD_MODULES, graded_findings, read_source, scan


def resolve_device(device: str) -> str:
    """`dlbn.device.resolve`, with an unavailable device as a usage error (exit code 2)."""
    try:
        return resolve(device)
    except DeviceUnavailable as exc:
        raise UsageError(str(exc)) from None


def _threads() -> int:
    """One intra-op thread per child: the learner and reference children run side by side,
    oversubscribed cores slow torch down many times over, and one thread keeps float32
    reductions (and so training trajectories) identical in both processes."""
    return 1


@dataclass(frozen=True)
class Graded:
    """Graded mode: expected outputs from ``store``, the learner's child in ``sandbox``."""

    store: ExpectedStore
    sandbox: Sandbox
    seed: int | None = None  # None: drawn from the store's seed sets


def reference_outputs(
    chapter: Chapter,
    root: Path,
    checks: tuple[Check, ...],
    device: str,
    seed: int,
    scale: str,
    stop: threading.Event | None = None,
    every_check: bool = False,
) -> RunOutcome:
    """Expected outputs from the reference solution in its own process: of the match checks,
    or with ``every_check`` of all (graded mode backs api and property checks with them)."""
    return run_checks(
        path=exercises_path(root, chapter, solution=True),
        spec_module=chapter.spec_module,
        check_ids=[c.id for c in checks if every_check or c.needs_reference],
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


def cached_reference(
    chapter: Chapter, root: Path, checks: tuple[Check, ...], device: str, seed: int, scale: str,
    stop: threading.Event | None = None,
) -> RunOutcome:
    """`reference_outputs` through the on-disk cache (self-study mode)."""
    needed = [c.id for c in checks if c.needs_reference]
    path = cache_path(root, chapter, device, seed, scale)
    cached = load_cached(path, needed)
    if cached is not None:
        return cached
    outcome = reference_outputs(chapter, root, checks, device, seed, scale, stop)
    if stop is None or not stop.is_set():
        save_cached(path, outcome)
    return outcome


def judge_one(
    check: Check,
    raw: RawResult,
    expected: RawResult | None,
    ctx: ProbeContext,
    *,
    graded: bool = False,
    source: str = "",
) -> CheckResult:
    """Turn one raw probe result (and the reference's) into a scored result.

    In graded mode a non-match check also needs the reference's own output on the same
    seeds (``expected``) to agree with the learner's, and a from-scratch check also needs
    a clean source.
    """

    def result(status: Status, message: str = "", hint: str | None = None,
               detail: dict | None = None) -> CheckResult:
        passed = status is Status.PASSED
        if hint is None:
            hint = quantity_hint(message) or check.hint if status is Status.FAILED else check.hint
        return CheckResult(
            id=check.id,
            task=check.task,
            title=check.title,
            kind=check.kind.value,
            status=status,
            score=check.points if passed else 0.0,
            max_score=check.points,
            message=message,
            hint="" if passed or status is Status.NOT_STARTED else hint,
            seconds=raw.seconds,
            stdout=raw.stdout,
            detail=None if passed or graded else detail,  # graded: expected values stay hidden
        )

    if raw.status != "ok":  # the child's statuses are the enum's values (and "ok")
        status = Status(raw.status)
        message = raw.message
        if status is Status.MEMORY and "memory" not in message.lower():
            message = f"ran out of memory (limit reached): {message}"
        hint = exception_hint(message) if status is Status.ERROR and "Error" in message else None
        return result(status, message, hint)
    want = None
    if check.needs_reference or graded:
        if expected is None or expected.status != "ok":
            why = expected.message if expected else "not computed"
            return result(Status.ERROR, f"the reference solution failed on this check: {why}")
        want = expected.output
    if check.scratch and source:
        findings = scan(source, check.scratch)
        if findings:
            return result(Status.FAILED, "this task is from scratch, but your file "
                          + "; ".join(findings[:3]))
    try:
        verdict = check.judge(raw.output, want if check.needs_reference else None, ctx)
        if verdict.passed and graded and not check.needs_reference:
            backed = agrees(check, raw.output, want)
            if not backed.passed:
                verdict = backed
    except Exception as exc:  # noqa: BLE001 - odd learner outputs must not crash the report
        return result(Status.FAILED, f"could not compare your output: {type(exc).__name__}: {exc}")
    return result(Status.PASSED if verdict.passed else Status.FAILED, verdict.message,
                  detail=verdict.detail)


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
    graded: Graded | None = None,
    on_start: Callable[[Check], None] | None = None,
    on_result: Callable[[CheckResult], None] | None = None,
) -> ChapterReport:
    """Grade one chapter's exercises.py (the learner's, the solution, or ``source``).

    ``only`` keeps the checks whose id starts with one of its prefixes (verify uses it to
    grade a mutant on the checks that should catch it). With ``graded`` the seed is drawn
    from the store (``seed`` is ignored) and ``root`` may be a package without solutions.
    """
    started = time.perf_counter()
    chapter = resolve_chapter(chapter) if isinstance(chapter, str) else chapter
    root_path = course_root(root, need_solutions=graded is None)
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
    sandbox = None
    if graded is not None:
        seeds = graded.store.seeds(chapter)
        if not seeds:
            raise UsageError(f"the expected-output store {graded.store.folder} has nothing for "
                             f"{chapter.id}; build it with: dlbn autograder build {chapter.id}")
        stale = graded.store.stale(chapter, root_path)
        if stale:
            raise UsageError(f"the expected outputs in {graded.store.folder} are out of date "
                             f"for {chapter.id} ({stale}); rebuild: dlbn autograder build "
                             f"{chapter.id}")
        seed = graded.seed if graded.seed in seeds else secrets.choice(seeds)
        store, drawn = graded.store, seed
        if not store.path(chapter, drawn).is_file():
            raise UsageError(f"{store.path(chapter, drawn)} is missing; rebuild the store")
        package = Path(__file__).resolve().parents[1]  # an editable install's checkout
        secret = (root_path / "solutions", package / "solutions", root_path / ".git",
                  package / ".git", graded.store.folder)
        hide = tuple(dict.fromkeys(str(p) for p in secret if p.is_dir()))
        # What the reference imported, and the small standard modules the dialect allows:
        # where Python itself is unreadable to the learner's user, only these import.
        preload = (*graded.store.preload(chapter), *STANDARD_MODULES)
        sandbox = replace(graded.sandbox, preload=preload,
                          hide=graded.sandbox.hide + hide)
    ctx = ProbeContext(device=device, seed=seed, scale=scale)

    box: dict[str, RunOutcome] = {}
    thread = None
    stop = threading.Event()
    # Expected outputs load (store, cache) or run in the background: decoding them imports
    # torch, which should overlap the child's start-up, not precede it.
    if graded is not None:

        def work() -> None:
            box["ref"] = store.load(chapter, drawn)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()
    elif reference is None and any(c.needs_reference for c in checks):

        def work() -> None:
            box["ref"] = cached_reference(chapter, root_path, checks, device, seed, scale, stop)

        thread = threading.Thread(target=work, daemon=True)
        thread.start()

    text = _source_text(path)
    if graded is not None:
        breaches = graded_findings(text)
        if breaches:  # not run at all: the file could forge or reach what is not its own
            return integrity_report(chapter, checks, path, device, breaches, started,
                                     on_result)
    # The parent needs torch only to decode and judge: import it while the child starts.
    warm_up = threading.Thread(target=_import_torch, daemon=True)
    warm_up.start()
    with GradedLock() if graded is not None else contextlib.nullcontext():
        learner = _run_learner(
            path=path.resolve(),
            spec_module=chapter.spec_module,
            check_ids=list(by_id),
            timeouts={c.id: c.timeout for c in checks},
            device=device,
            seed=seed,
            scale=scale,
            memory_limit=memory_limit,
            env=child_env(root_path),
            sandbox=sandbox,
            on_start=(lambda cid: on_start(by_id[cid])) if on_start else None,
        )
    if thread is not None and graded is not None:
        thread.join()
        reference = box.get("ref")
    elif thread is not None:
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
        results.append(judge_one(check, raw, expected, ctx, graded=graded is not None,
                                 source=text))
    if graded is not None:
        results = backed_by_matches(results, checks)
    for res in results:
        if on_result:
            on_result(res)
    meta = {"seed": seed, "scale": scale, "task": task, "solution": solution}
    if graded is not None:  # the drawn seed set stays out of the learner's report
        meta.update(seed="hidden", graded=True, protections=learner.protections,
                    leftovers=learner.leftovers)
    return ChapterReport(
        chapter=chapter.id,
        title=chapter.title,
        source=str(path),
        device=device,
        results=tuple(results),
        import_error=learner.import_error,
        seconds=time.perf_counter() - started,
        meta=meta,
    )


def _run_learner(**kw: Any) -> RunOutcome:
    return run_checks(role="learner", threads=_threads(), **kw)


def _import_torch() -> None:
    import torch  # noqa: F401


def _source_text(path: Path) -> str:
    """The text the child's import runs (coding cookies honoured)."""
    try:
        return read_source(path.read_bytes())
    except (OSError, SyntaxError, UnicodeDecodeError, LookupError):
        return ""
