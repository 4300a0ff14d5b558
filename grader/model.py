"""The result model: checks, verdicts, per-check results and the chapter report.

Frozen dataclasses with ``to_dict()``; nothing here imports torch or rich. Checks decide
nothing about presentation and reporters decide nothing about pass or fail.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from enum import Enum
from typing import Any

DEFAULT_TIMEOUT = 20.0  # seconds of wall clock a check may take in the child, by default


class Status(str, Enum):  # noqa: UP042 - str mixin: JSON-friendly values
    PASSED = "passed"
    FAILED = "failed"
    NOT_STARTED = "not_started"
    ERROR = "error"
    TIMEOUT = "timeout"
    MEMORY = "memory"

    @property
    def label(self) -> str:
        return self.value.replace("_", " ")


class Kind(str, Enum):  # noqa: UP042
    MATCH = "match"  # learner output equals the reference (or torch) within tolerance
    PROPERTY = "property"  # the learner's experiment shows the phenomenon
    API = "api"  # signature, shapes, dtype, device, no damage to inputs, from scratch


@dataclass(frozen=True)
class Verdict:
    """What a judge decides about one check's output."""

    passed: bool
    message: str = ""
    # for a small tensor that differs: {"name", "got", "expected", "bad"} as nested lists,
    # which reporters draw side by side with the differing entries highlighted
    detail: dict[str, Any] | None = None

    @staticmethod
    def ok(message: str = "") -> Verdict:
        return Verdict(True, message)

    @staticmethod
    def fail(message: str) -> Verdict:
        return Verdict(False, message)


@dataclass(frozen=True)
class Check:
    """One graded check.

    ``probe(module, ctx)`` runs in the learner's child process and returns plain data
    (tensors, numbers, dicts, lists). ``oracle(module, ctx)`` (default: the probe) runs in
    the reference process on the solution module, for match checks only. ``judge(got,
    expected, ctx)`` runs in the parent and returns a `Verdict`.
    """

    id: str  # "ch01.1.forward_4d": chapter.task.name
    task: int
    title: str
    kind: Kind
    probe: Callable[..., Any]
    judge: Callable[..., Verdict]
    points: float = 1.0
    hint: str = ""
    timeout: float = DEFAULT_TIMEOUT  # seconds of wall clock in the child
    oracle: Callable[..., Any] | None = None
    # from-scratch: dotted torch functions the learner's source must not reach (checked in
    # the parent by `grader.scratch`, beside the calls counted in the child)
    scratch: tuple[str, ...] = ()
    # graded mode: how this api/property check's output must agree with the reference's
    # on the same seeds (`grader.backing`); None: the default for its kind
    backing: Callable[..., Verdict] | None = None

    @property
    def needs_reference(self) -> bool:
        return self.kind is Kind.MATCH


@dataclass(frozen=True)
class Mutant:
    """A typical learner mistake, written as text substitutions on the reference solution.

    ``caught_by`` names check ids (or prefixes) of which at least one must fail.
    """

    name: str
    description: str
    replacements: tuple[tuple[str, str], ...]
    caught_by: tuple[str, ...] = ()
    # words (any one, case-insensitive) that the first failing check's message or hint must
    # contain: the feedback has to name the mistake, not only catch it
    says: tuple[str, ...] = ()


@dataclass(frozen=True)
class Chapter:
    """Everything the grader knows about one chapter; discovered from ``grader/specs``."""

    id: str  # "ch01"
    slug: str  # "ch01_batchnorm"
    title: str
    tasks: dict[int, str]  # task number -> title
    checks: tuple[Check, ...]
    mutants: tuple[Mutant, ...] = ()
    forbidden: tuple[str, ...] = ()  # dotted torch functions whose calls probes may count
    # `dlbn run`: "package.module:function" drawing the figures, imported only when used
    run: str | None = None
    spec_module: str = ""
    # words the starter's docstrings must contain: the parts of torch's contract the
    # checks test (`dlbn verify` fails when the specification a learner reads omits one)
    contract: tuple[str, ...] = ()

    @property
    def max_score(self) -> float:
        return sum(c.points for c in self.checks)

    def task_points(self, task: int) -> float:
        return sum(c.points for c in self.checks if c.task == task)

    def select(self, task: int | None) -> tuple[Check, ...]:
        if task is None:
            return self.checks
        return tuple(c for c in self.checks if c.task == task)


@dataclass(frozen=True)
class CheckResult:
    id: str
    task: int
    title: str
    kind: str
    status: Status
    score: float
    max_score: float
    message: str = ""
    hint: str = ""
    seconds: float = 0.0
    stdout: str = ""
    detail: dict[str, Any] | None = None  # `Verdict.detail` of a failed check

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        d["name"] = self.title
        return d


@dataclass(frozen=True)
class ChapterReport:
    chapter: str
    title: str
    source: str  # path of the graded exercises.py
    device: str
    results: tuple[CheckResult, ...]
    import_error: str = ""
    seconds: float = 0.0
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def score(self) -> float:
        return sum(r.score for r in self.results)

    @property
    def max_score(self) -> float:
        return sum(r.max_score for r in self.results)

    @property
    def all_passed(self) -> bool:
        return bool(self.results) and all(r.passed for r in self.results)

    def counts(self) -> dict[str, int]:
        out = {s.value: 0 for s in Status}
        for r in self.results:
            out[r.status.value] += 1
        return out

    def summary(self) -> str:
        c = self.counts()
        parts = [f"{n} {s.replace('_', ' ')}" for s, n in c.items() if n]
        return (
            f"{self.chapter}: {self.score:g}/{self.max_score:g} points "
            f"({', '.join(parts) or 'no checks'}) in {self.seconds:.1f} s"
        )

    def _repr_html_(self) -> str:  # Jupyter
        from grader.reporters.html import to_html

        return to_html(self)

    def as_text(self, width: int = 100) -> str:
        """The terminal report as plain text (what a REPL or a log shows)."""
        import io

        from rich.console import Console

        from grader.reporters.terminal import render

        out = io.StringIO()
        render(self, Console(file=out, width=width, no_color=True, highlight=False))
        return out.getvalue()

    def _repr_pretty_(self, printer: Any, cycle: bool) -> None:  # IPython's terminal
        printer.text(self.summary() if cycle else self.as_text())

    def to_dict(self) -> dict[str, Any]:
        return {
            "chapter": self.chapter,
            "title": self.title,
            "source": self.source,
            "device": self.device,
            "score": self.score,
            "max_score": self.max_score,
            "import_error": self.import_error,
            "seconds": round(self.seconds, 3),
            "tests": [r.to_dict() for r in self.results],
            "meta": dict(self.meta),
        }
