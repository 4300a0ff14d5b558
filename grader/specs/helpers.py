"""Small builders that keep chapter specs short and uniform."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from grader.compare import judge_match
from grader.model import Check, Kind, Verdict


def _check(kind: Kind, id: str, title: str, probe: Callable[..., Any], **kw: Any) -> Check:
    """The task number comes from the id: ``ch01.2.grad_2d`` belongs to task 2."""
    return Check(id=id, task=int(id.split(".")[1]), title=title, kind=kind, probe=probe, **kw)


def match(
    id: str,
    title: str,
    probe: Callable[..., Any],
    *,
    oracle: Callable[..., Any] | None = None,
    hint: str,
    points: float = 1.0,
    timeout: float = 20.0,
    judge: Callable[..., Verdict] = judge_match,
) -> Check:
    """A check whose learner output must equal the oracle's (default: the reference's)."""
    return _check(
        Kind.MATCH,
        id,
        title,
        probe,
        judge=judge,
        points=points,
        hint=hint,
        timeout=timeout,
        oracle=oracle,
    )


def api(
    id: str,
    title: str,
    probe: Callable[..., Any],
    judge: Callable[..., Verdict],
    *,
    hint: str,
    points: float = 1.0,
    timeout: float = 20.0,
    scratch: tuple[str, ...] = (),
    backing: Callable[..., Verdict] | None = None,
) -> Check:
    """An api check: shapes, dtype, device, inputs untouched, mode restored, from scratch.

    ``scratch`` names the torch functions the learner's source must not reach (read by the
    parent, `grader.scratch`); ``backing`` overrides graded mode's agreement rule.
    """
    return _check(
        Kind.API, id, title, probe, judge=judge, points=points, hint=hint, timeout=timeout,
        scratch=scratch, backing=backing,
    )


def prop(
    id: str,
    title: str,
    probe: Callable[..., Any],
    judge: Callable[..., Verdict],
    *,
    hint: str,
    points: float = 1.0,
    timeout: float = 60.0,
    backing: Callable[..., Verdict] | None = None,
) -> Check:
    """A property check: the learner's own measurement must show the phenomenon (and, in
    graded mode, agree with the reference's on the same seeds: `grader.backing`)."""
    return _check(
        Kind.PROPERTY, id, title, probe, judge=judge, points=points, hint=hint, timeout=timeout,
        backing=backing,
    )


def all_true(got: dict[str, Any], messages: dict[str, str]) -> Verdict:
    """Pass when every key of ``messages`` is truthy in ``got``; else the first message."""
    for key, message in messages.items():
        if not got.get(key):
            return Verdict.fail(message)
    return Verdict.ok()
