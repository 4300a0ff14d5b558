"""The authoring API: the one way a chapter writes its checks.

A chapter's ``checks_*.py`` makes a registry and decorates probes::

    from grader.spec import Checks, fail, same_as

    checks = Checks()

    @checks.match("ch01.1.train_2d", "training mode, (N, C) float32",
                  hint="Normalize each column with its batch mean and biased variance.",
                  against={"batch_norm_forward": torch_forward})
    def train_2d(batch_norm_forward, ctx):
        return batch_norm_forward(ctx.randn(16, 5), None, None, None, None, True)

    @checks.api("ch01.1.contract", "the output keeps x's shape", hint="...")
    def contract_probe(batch_norm_forward, ctx):
        y = batch_norm_forward(ctx.randn(12, 3), None, None, None, None, True)
        return {"shape": tuple(y.shape) == (12, 3)}

    @contract_probe.judge
    def _(got):
        if not got["shape"]:
            fail("the output's shape differs from the input's")

Probes run in the learner's process and name what they need by parameter: ``ctx`` is the
`ProbeContext`, ``module`` the whole exercises module, any other name the learner's
function or class of that name. Judges run in the grader's process and name any of
``got``, ``expected`` and ``ctx``; they return nothing (pass), a `Verdict`, or call
`fail` (raise `Fail`) with a message that says what was expected and what came out.

Recurring shapes have one helper each: `Checks.same_as` (a match check whose oracle is the same
probe on trusted code, e.g. torch), `contract` (every named flag must hold), `Checks.raises`,
`Checks.from_scratch`, and `experiment` (a per-process cache of one expensive learner run, with
one rule for exceptions: the first one is kept and re-raised by every check that needs it).
"""

from __future__ import annotations

import functools
import inspect
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from grader.compare import judge_match
from grader.model import DEFAULT_TIMEOUT as MATCH_TIMEOUT
from grader.model import Chapter, Check, Kind, Mutant, Verdict
from grader.probing import CALLS, ProbeContext, ProbeFailure

#: Seconds of wall clock a check may take in the learner's process, by kind, unless the
#: check or its chapter says otherwise (the single place these defaults live).
DEFAULT_TIMEOUT = {Kind.MATCH: MATCH_TIMEOUT, Kind.API: MATCH_TIMEOUT, Kind.PROPERTY: 60.0}

_CONTEXT_NAMES = ("ctx",)
_MODULE_NAMES = ("module", "mod")


class Fail(Exception):
    """Raised by a judge (through `fail`): the check fails with this message."""


def fail(message: str) -> None:
    """Fail the check being judged with ``message`` (what was expected, what came out)."""
    raise Fail(message)


# -- probes: the learner's names by parameter ---------------------------------------------


def _learner_attr(module: Any, name: str) -> Any:
    try:
        return getattr(module, name)
    except AttributeError:
        raise ProbeFailure(f"exercises.py defines no {name!r}: keep the starter's names") from None


def bind_probe(
    fn: Callable[..., Any], replace: Mapping[str, Any] | None = None
) -> Callable[[Any, ProbeContext], Any]:
    """``fn(name, ..., ctx)`` as ``probe(module, ctx)``: each parameter is filled from the
    module by name, or from ``replace`` (trusted stand-ins such as torch's functions)."""
    names = tuple(inspect.signature(fn).parameters)
    replace = dict(replace or {})
    unknown = set(replace) - set(names)
    if unknown:
        raise TypeError(f"{fn.__name__} has no parameter {sorted(unknown)}")

    @functools.wraps(fn)
    def probe(module: Any, ctx: ProbeContext) -> Any:
        args = []
        for name in names:
            if name in _CONTEXT_NAMES:
                args.append(ctx)
            elif name in replace:
                args.append(replace[name])
            elif name in _MODULE_NAMES:
                args.append(module)
            else:
                args.append(_learner_attr(module, name))
        return fn(*args)

    return probe


# -- judges: plain functions --------------------------------------------------------------


def bind_judge(fn: Callable[..., Any]) -> Callable[[Any, Any, ProbeContext], Verdict]:
    """A judge naming any of ``got``, ``expected``, ``ctx`` as the engine's
    ``judge(got, expected, ctx) -> Verdict``; `Fail` becomes a failed verdict."""
    names = tuple(inspect.signature(fn).parameters)
    bad = set(names) - {"got", "expected", "ctx"}
    if bad:
        raise TypeError(f"judge {fn.__name__} takes only got, expected, ctx; not {sorted(bad)}")

    @functools.wraps(fn)
    def judge(got: Any, expected: Any, ctx: ProbeContext) -> Verdict:
        given = {"got": got, "expected": expected, "ctx": ctx}
        try:
            out = fn(*(given[n] for n in names))
        except Fail as exc:
            return Verdict.fail(str(exc))
        if out is None:
            return Verdict.ok()
        if isinstance(out, Verdict):
            return out
        raise TypeError(f"judge {fn.__name__} returned {type(out).__name__}, not a Verdict")

    return judge


def contract(messages: Mapping[str, str | Callable[[Any], str]]) -> Callable[[Any], None]:
    """A judge: every key of ``messages`` must be truthy in the probe's dict, else the
    first missing key's message fails the check (a callable message gets ``got``)."""

    def judge(got: Any) -> None:
        for key, message in messages.items():
            if not got.get(key):
                fail(message(got) if callable(message) else message)

    return judge


def match_parts(**tolerances: tuple[float, float]) -> Callable[..., Verdict | None]:
    """A match judge for a probe returning a dict: each named part is compared with its own
    ``(atol, rtol)`` (e.g. a training run's weights tightly, a difference of gradients
    loosely), in the order given; the first part that differs fails the check."""
    from grader.compare import compare

    def judge(got: Any, expected: Any, ctx: ProbeContext) -> Verdict | None:
        for key, (atol, rtol) in tolerances.items():
            verdict = compare(got[key], expected[key], "", atol=atol, rtol=rtol,
                              device=getattr(ctx, "device", "cpu"))
            if not verdict.passed:
                return verdict
        return None

    return judge


# -- the registry -------------------------------------------------------------------------


class Registered:
    """A decorated probe: call ``.judge`` on it to attach the judge (the check is built
    when the registry is read)."""

    def __init__(self, registry: Checks, fields: dict[str, Any]) -> None:
        self._registry = registry
        self.fields = fields

    def judge(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        self.fields["judge"] = bind_judge(fn)
        return fn

    def __call__(self, *args: Any, **kw: Any) -> Any:  # the probe stays callable
        return self.fields["raw"](*args, **kw)


class Checks:
    """The checks of one chapter file, in the order they are written (task order).

    ``timeout_floor``: the least timeout of every check in this file (training chapters,
    whose every check trains a little). Iterating yields `Check` objects.
    """

    def __init__(self, *, timeout_floor: float = 0.0) -> None:
        self.timeout_floor = timeout_floor
        self._entries: list[Registered] = []

    # The three kinds -----------------------------------------------------------------
    def match(
        self,
        id: str,
        title: str,
        *,
        hint: str,
        against: Mapping[str, Any] | Callable[..., Any] | None = None,
        judge: Callable[..., Any] | None = None,
        points: float = 1.0,
        timeout: float | None = None,
    ) -> Callable[[Callable[..., Any]], Registered]:
        """The learner's output must equal the oracle's: by default the same probe on the
        reference module; ``against={"name": trusted}`` runs the same probe with those
        names replaced (torch is the best oracle for layers); a callable is its own probe."""
        return self._decorator(Kind.MATCH, id, title, hint=hint, against=against,
                               judge=judge, points=points, timeout=timeout)

    def api(
        self,
        id: str,
        title: str,
        *,
        hint: str,
        judge: Callable[..., Any] | None = None,
        points: float = 1.0,
        timeout: float | None = None,
        scratch: tuple[str, ...] = (),
        backing: Callable[..., Verdict] | None = None,
    ) -> Callable[[Callable[..., Any]], Registered]:
        """Shapes, dtype, device, inputs untouched, mode restored, errors raised.
        ``scratch``: torch names the learner's source must not reach (`grader.scratch`);
        ``backing``: graded mode's agreement rule with the reference (`grader.backing`)."""
        return self._decorator(Kind.API, id, title, hint=hint, judge=judge, points=points,
                               timeout=timeout, scratch=scratch, backing=backing)

    def prop(
        self,
        id: str,
        title: str,
        *,
        hint: str,
        judge: Callable[..., Any] | None = None,
        points: float = 1.0,
        timeout: float | None = None,
        backing: Callable[..., Verdict] | None = None,
    ) -> Callable[[Callable[..., Any]], Registered]:
        """The learner's own measurement must show the phenomenon, with margins that hold
        on the seeds measured (and, graded, agree with the reference's: `grader.backing`)."""
        return self._decorator(Kind.PROPERTY, id, title, hint=hint, judge=judge,
                               points=points, timeout=timeout, backing=backing)

    # Recurring shapes ----------------------------------------------------------------
    def raises(
        self,
        id: str,
        title: str,
        call: Callable[..., Any],
        *,
        error: type[BaseException] = ValueError,
        message: str,
        hint: str,
        points: float = 1.0,
    ) -> Registered:
        """``call`` (learner names by parameter) must raise ``error``; ``message`` says what
        should have raised. Any other exception fails with its type named."""
        expected_name = error.__name__

        def probe(module: Any, ctx: ProbeContext) -> dict[str, Any]:
            try:
                bound(module, ctx)
            except error:
                return {"raised": expected_name}
            except NotImplementedError:
                raise
            except Exception as exc:  # noqa: BLE001 - the wrong exception is a verdict
                first = (str(exc).splitlines() or [""])[0][:200]
                return {"raised": type(exc).__name__, "text": first}
            return {"raised": None}

        bound = bind_probe(call)

        def judge(got: Any) -> None:
            if got["raised"] != expected_name:
                how = "nothing was raised"
                if got["raised"]:
                    how = f"it raised {got['raised']}: {got.get('text', '')}".rstrip(": ")
                fail(f"{message}: {how}")

        entry = self._entry(Kind.API, id, title, probe, hint=hint, points=points)
        entry.judge(judge)
        return entry

    def from_scratch(
        self,
        id: str,
        title: str,
        call: Callable[..., Any],
        *,
        counted: tuple[str, ...],
        scratch: tuple[str, ...] = (),
        what: str,
        hint: str,
        points: float = 1.0,
    ) -> Registered:
        """``call`` (learner names by parameter) must not call any of the ``counted`` torch
        functions (counted in the learner's process, listed in the chapter's ``forbidden``);
        graded mode also reads the source for ``counted + scratch`` (`grader.scratch`)."""
        bound = bind_probe(call)

        def probe(module: Any, ctx: ProbeContext) -> dict[str, int]:
            before = {name: CALLS[name] for name in counted}
            bound(module, ctx)
            return {name: CALLS[name] - n for name, n in before.items()}

        def judge(got: Any) -> None:
            used = {name: n for name, n in got.items() if n}
            if used:
                names = ", ".join(f"{name} ({n}x)" for name, n in used.items())
                fail(f"{what} called {names}: this task is from scratch")

        entry = self._entry(Kind.API, id, title, probe, hint=hint, points=points,
                            scratch=tuple(dict.fromkeys(counted + scratch)))
        entry.judge(judge)
        return entry

    def same_as(
        self,
        id: str,
        title: str,
        run: Callable[..., Any],
        *,
        trusted: Mapping[str, Any],
        hint: str,
        points: float = 1.0,
        timeout: float | None = None,
    ) -> Registered:
        """A match check written once: ``run`` (learner names by parameter) on the learner's
        code, and the same ``run`` with ``trusted`` stand-ins (torch's) as the oracle."""
        return self.match(id, title, hint=hint, against=trusted, points=points,
                          timeout=timeout)(run)

    def add(self, check: Check) -> Check:
        """A check built elsewhere (a shared builder), in this file's order."""
        entry = Registered(self, {"check": check})
        self._entries.append(entry)
        return check

    # Reading -------------------------------------------------------------------------
    def __iter__(self) -> Iterator[Check]:
        return iter(self.build())

    def build(self) -> tuple[Check, ...]:
        return tuple(self._build(e) for e in self._entries)

    # Internals -----------------------------------------------------------------------
    def _decorator(self, kind: Kind, id: str, title: str, *, against: Any = None,
                   judge: Callable[..., Any] | None = None, **kw: Any):
        def register(fn: Callable[..., Any]) -> Registered:
            oracle = None
            if callable(against):
                oracle = bind_probe(against)
            elif against is not None:
                oracle = bind_probe(fn, replace=against)
            entry = self._entry(kind, id, title, bind_probe(fn), oracle=oracle, raw=fn, **kw)
            if judge is not None:
                entry.judge(judge)
            elif kind is Kind.MATCH:
                entry.fields["judge"] = judge_match
            return entry

        return register

    def _entry(self, kind: Kind, id: str, title: str, probe: Callable[..., Any], **kw: Any):
        fields = {"kind": kind, "id": id, "title": title, "probe": probe, **kw}
        fields.setdefault("raw", probe)
        entry = Registered(self, fields)
        self._entries.append(entry)
        return entry

    def _build(self, entry: Registered) -> Check:
        if "check" in entry.fields:
            return entry.fields["check"]
        f = dict(entry.fields)
        f.pop("raw")
        if "judge" not in f:
            raise TypeError(f"{f['id']}: no judge (decorate one with @<probe>.judge)")
        kind = f["kind"]
        timeout = f.pop("timeout", None) or DEFAULT_TIMEOUT[kind]
        return Check(task=task_of(f["id"]), timeout=max(timeout, self.timeout_floor), **f)


def task_of(check_id: str) -> int:
    """``ch01.2.grad_2d`` belongs to task 2."""
    return int(check_id.split(".")[1])


# -- experiments: one expensive run per process, shared by checks -------------------------


def experiment(fn: Callable[..., Any]) -> Callable[[Any, ProbeContext], Any]:
    """Cache a learner run per (module, seed, device, scale) in this process; ``fn`` names
    what it needs by parameter like a probe, and the cached function is ``(module, ctx)``.

    Several property checks read one training run; the first check that needs it pays for
    it. An exception is cached too and re-raised by every later check (so a crashing
    experiment runs once, and each of its checks fails with the same message).
    """
    results: dict[tuple[int, int, str, str], tuple[Any, Any, BaseException | None]] = {}
    bound = bind_probe(fn)

    @functools.wraps(fn)
    def cached(module: Any, ctx: ProbeContext) -> Any:
        key = (id(module), ctx.seed, ctx.device, ctx.scale)
        if key not in results:
            try:
                results[key] = (module, bound(module, ctx), None)
            except Exception as exc:  # noqa: BLE001 - kept, re-raised for every check
                results[key] = (module, None, exc)
        _, value, error = results[key]
        if error is not None:
            raise error
        return value

    cached.cache_clear = results.clear  # type: ignore[attr-defined]
    # a probe in its own right: bind_probe must see (module, ctx), not fn's parameters
    cached.__signature__ = inspect.signature(lambda module, ctx: None)  # type: ignore[attr-defined]
    return cached


# -- the chapter manifest -----------------------------------------------------------------

BANNER = re.compile(r"^# Task (?P<chapter>ch\d\d)\.(?P<task>\d+) - (?P<title>.+?)\s*$", re.M)


def course_dir() -> Path:
    """The course folder this grader belongs to (chapters/ beside the grader package, as in
    a clone and in the autograder package), else the one around the working directory."""
    beside = Path(__file__).resolve().parents[1]
    if (beside / "chapters").is_dir():
        return beside
    from dlbn.paths import find_course_root

    found = find_course_root()
    if found is None:
        raise RuntimeError("no course folder (chapters/) beside the grader or around the cwd")
    return found


def task_titles(text: str, chapter_id: str) -> dict[int, str]:
    """Task number -> title from the ``# Task chNN.T - title`` banners of an exercises.py."""
    return {int(m["task"]): m["title"] for m in BANNER.finditer(text)
            if m["chapter"] == chapter_id}


def chapter(
    spec_module: str,
    *,
    title: str,
    checks: Iterable[Check],
    mutants: Iterable[Mutant] = (),
    forbidden: tuple[str, ...] = (),
    contract: tuple[str, ...] = (),
) -> Chapter:
    """A chapter's manifest, with what discovery can derive filled in: the id from the spec
    package's name, the slug from ``chapters/chNN_*``, task titles from the banners of its
    exercises.py (the one source of titles), and ``run`` when the spec has a figures.py."""
    chapter_id = spec_module.rsplit(".", 1)[-1]
    root = course_dir()
    folders = sorted(p for p in (root / "chapters").glob(f"{chapter_id}_*") if p.is_dir())
    if len(folders) != 1:
        raise RuntimeError(f"{chapter_id}: expected one chapters/{chapter_id}_* folder, "
                           f"found {len(folders)}")
    slug = folders[0].name
    tasks = task_titles((folders[0] / "exercises.py").read_text(encoding="utf-8"), chapter_id)
    checks = tuple(checks)
    untitled = sorted({c.task for c in checks} - set(tasks))
    if untitled:
        raise RuntimeError(f"{chapter_id}: no '# Task {chapter_id}.T - title' banner for "
                           f"task(s) {untitled}")
    spec_file = Path(sys.modules[spec_module].__file__ or "")
    has_figures = (spec_file.parent / "figures.py").is_file()
    return Chapter(
        id=chapter_id,
        slug=slug,
        title=title,
        tasks=tasks,
        checks=checks,
        mutants=tuple(mutants),
        forbidden=forbidden,
        run=f"{spec_module}.figures:run" if has_figures else None,
        spec_module=spec_module,
        contract=contract,
    )
