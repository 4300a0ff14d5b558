"""`dlbn verify`: the instructor's proof that a chapter's checks are honest.

For each chapter: every check passes on the reference; every check reports
``not_started`` on the untouched starter; the starter is the stripped reference; and every
shipped mutant (a typical mistake applied to the reference) fails at least one of the
checks it names.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from grader.course import exercises_path
from grader.engine import grade, reference_outputs, resolve_device
from grader.model import Chapter, ChapterReport, Mutant, Status
from grader.stripping import strip_solutions


class MutantError(ValueError):
    """A mutant's text substitution does not apply to the reference."""


def apply_mutant(text: str, mutant: Mutant) -> str:
    for old, new in mutant.replacements:
        count = text.count(old)
        if count != 1:
            raise MutantError(
                f"mutant {mutant.name}: {old!r} occurs {count} times in the reference (need 1)"
            )
        text = text.replace(old, new)
    return text


CATCHING = (Status.FAILED, Status.ERROR, Status.MEMORY)


def caught(report: ChapterReport, mutant: Mutant) -> list[str]:
    """Ids of the named checks (any check when none are named) that failed outright.

    A timeout does not count: on a loaded machine it says nothing about the mistake.
    """
    prefixes = mutant.caught_by or ("",)
    return [
        r.id
        for r in report.results
        if r.status in CATCHING and any(r.id.startswith(p) for p in prefixes)
    ]


@dataclass
class Finding:
    what: str  # "reference", "starter", "sync", "mutant:<name>"
    ok: bool
    detail: str = ""


@dataclass
class ChapterVerification:
    chapter: str
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(f.ok for f in self.findings)


def verify_chapter(
    chapter: Chapter,
    root: Path,
    *,
    device: str = "cpu",
    seed: int = 0,
    on_step: Callable[[str], None] | None = None,
) -> ChapterVerification:
    step = on_step or (lambda what: None)
    out = ChapterVerification(chapter.id)
    device = resolve_device(device)
    solution_path = exercises_path(root, chapter, solution=True)
    starter_path = exercises_path(root, chapter, solution=False)

    step("starter in sync")
    text = solution_path.read_text()
    in_sync = starter_path.exists() and strip_solutions(text) == starter_path.read_text()
    out.findings.append(
        Finding("sync", in_sync, "" if in_sync else "run: python -m grader.stripping --write")
    )

    if chapter.contract:
        starter = starter_path.read_text() if starter_path.exists() else ""
        missing = [word for word in chapter.contract if word not in starter]
        out.findings.append(Finding(
            "contract", not missing,
            f"the starter's docstrings omit: {', '.join(missing)}" if missing
            else f"the starter names all {len(chapter.contract)} parts the checks test"))

    step("reference outputs")
    reference = reference_outputs(chapter, root, chapter.checks, device, seed, "small")

    step("reference passes")
    report = grade(
        chapter=chapter, root=root, solution=True, device=device, seed=seed, reference=reference
    )
    bad = [f"{r.id}: {r.status.value} {r.message}" for r in report.results if not r.passed]
    out.findings.append(Finding("reference", not bad, "; ".join(bad)))

    step("starter is not started")
    report = grade(
        chapter=chapter,
        root=root,
        device=device,
        seed=seed,
        reference=reference,
        source=starter_path,
    )
    bad = [
        f"{r.id}: {r.status.value}" for r in report.results if r.status is not Status.NOT_STARTED
    ]
    out.findings.append(Finding("starter", not bad, "; ".join(bad)))

    def try_mutant(mutant: Mutant, tmp: str) -> Finding:
        try:
            mutated = apply_mutant(text, mutant)
        except MutantError as exc:
            return Finding(f"mutant:{mutant.name}", False, str(exc))
        path = Path(tmp) / mutant.name / "exercises.py"
        path.parent.mkdir()
        path.write_text(mutated)
        report = grade(
            chapter=chapter,
            root=root,
            device=device,
            seed=seed,
            reference=reference,
            source=path,
            only=mutant.caught_by,
        )
        ids = caught(report, mutant)
        first = next((r for r in report.results if r.id in ids), None)
        feedback = f"{first.message} {first.hint}".lower() if first else ""
        named = not mutant.says or any(w.lower() in feedback for w in mutant.says)
        if ids and not named:
            return Finding(f"mutant:{mutant.name}", False,
                           f"caught by {', '.join(ids)}, but its feedback does not say "
                           f"{' or '.join(map(repr, mutant.says))}: {feedback[:300]}")
        detail = (
            f"caught by {', '.join(ids)}"
            if ids
            else (
                f"NOT caught ({mutant.description}); expected a failure in "
                f"{', '.join(mutant.caught_by) or 'any check'}; got "
                + ", ".join(f"{r.id} {r.status.value}" for r in report.results)
            )
        )
        return Finding(f"mutant:{mutant.name}", bool(ids), detail)

    step(f"{len(chapter.mutants)} mutants")
    workers = max(1, min(2, os.cpu_count() or 1))  # each grade is one child process
    with tempfile.TemporaryDirectory(prefix="dlbn-mutant-") as tmp:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            out.findings.extend(pool.map(lambda m: try_mutant(m, tmp), chapter.mutants))
    return out
