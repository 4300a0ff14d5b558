"""The authoring API (`grader.spec`): names by parameter, plain judges, the helpers."""

from __future__ import annotations

import types

import pytest

from grader.model import Kind, Verdict
from grader.probing import ProbeContext, ProbeFailure
from grader.spec import Checks, contract, experiment, fail, task_of

CTX = ProbeContext()


def module(**names):
    return types.SimpleNamespace(**names)


def test_probes_get_the_learners_names_and_the_context() -> None:
    checks = Checks()

    @checks.api("ch99.2.double", "doubles", hint="multiply by 2")
    def probe(double, ctx):
        return {"value": double(ctx.seed + 3)}

    @probe.judge
    def _(got):
        if got["value"] != 6:
            fail(f"double(3) gave {got['value']}")

    (check,) = checks
    assert (check.id, check.task, check.kind) == ("ch99.2.double", 2, Kind.API)
    got = check.probe(module(double=lambda v: 2 * v), CTX)
    assert got == {"value": 6} and check.judge(got, None, CTX).passed
    verdict = check.judge({"value": 5}, None, CTX)
    assert not verdict.passed and verdict.message == "double(3) gave 5"


def test_a_missing_learner_name_fails_with_the_name() -> None:
    checks = Checks()
    checks.api("ch99.1.x", "x", hint="h", judge=lambda got: None)(lambda absent, ctx: 1)
    (check,) = checks
    with pytest.raises(ProbeFailure, match="absent"):
        check.probe(module(), CTX)


def test_match_against_trusted_stand_ins_runs_the_same_probe() -> None:
    checks = Checks()
    checks.same_as("ch99.1.same", "same", lambda f, ctx: f(2), trusted={"f": lambda v: v + 1},
                   hint="h")
    (check,) = checks
    assert check.kind is Kind.MATCH and check.needs_reference
    assert check.probe(module(f=lambda v: v * 10), CTX) == 20
    assert check.oracle(module(), CTX) == 3  # the reference module is not consulted


def test_judges_may_return_a_verdict_but_nothing_else() -> None:
    checks = Checks()
    checks.api("ch99.1.a", "a", hint="h", judge=lambda got, expected, ctx: Verdict.fail("no"))(
        lambda ctx: 0)
    checks.api("ch99.1.b", "b", hint="h", judge=lambda got: True)(lambda ctx: 0)
    a, b = checks
    assert a.judge(0, None, CTX) == Verdict.fail("no")
    with pytest.raises(TypeError):
        b.judge(0, None, CTX)
    with pytest.raises(TypeError, match="only got, expected, ctx"):
        checks.api("ch99.1.c", "c", hint="h", judge=lambda value: None)(lambda ctx: 0)


def test_contract_names_the_first_broken_promise() -> None:
    judge = contract({"shape": "wrong shape", "dtype": lambda got: f"dtype {got['d']}"})
    checks = Checks()
    checks.api("ch99.1.c", "c", hint="h", judge=judge)(lambda ctx: 0)
    (check,) = checks
    assert check.judge({"shape": True, "dtype": True}, None, CTX).passed
    assert check.judge({"shape": False, "dtype": True}, None, CTX).message == "wrong shape"
    assert check.judge({"shape": 1, "dtype": 0, "d": "f16"}, None, CTX).message == "dtype f16"


def test_raises_reports_what_was_raised_instead() -> None:
    checks = Checks()

    def call(f, ctx):
        f()

    checks.raises("ch99.1.r", "raises", call, message="f() should raise ValueError", hint="h")
    (check,) = checks

    def boom(exc):
        def f():
            raise exc
        return f

    ok = check.probe(module(f=boom(ValueError("x"))), CTX)
    assert check.judge(ok, None, CTX).passed
    for f, says in ((lambda: None, "nothing was raised"),
                    (boom(KeyError("k")), "it raised KeyError")):
        verdict = check.judge(check.probe(module(f=f), CTX), None, CTX)
        assert not verdict.passed and says in verdict.message
    with pytest.raises(NotImplementedError):  # a starter stays not_started
        check.probe(module(f=boom(NotImplementedError())), CTX)


def test_from_scratch_counts_calls_made_during_the_run() -> None:
    from grader.probing import CALLS

    checks = Checks()

    def call(f, ctx):
        f()

    checks.from_scratch("ch99.1.s", "scratch", call, counted=("torch.fake",), what="f",
                        scratch=("torch.other",), hint="h")
    (check,) = checks
    assert check.scratch == ("torch.fake", "torch.other")
    clean = check.probe(module(f=lambda: None), CTX)
    assert check.judge(clean, None, CTX).passed

    def cheat():
        CALLS["torch.fake"] += 2

    verdict = check.judge(check.probe(module(f=cheat), CTX), None, CTX)
    assert not verdict.passed and "torch.fake (2x)" in verdict.message


def test_experiment_runs_once_per_module_and_keeps_its_exception() -> None:
    calls = []

    @experiment
    def run(train, ctx):
        calls.append(1)
        return train()

    good, bad = module(train=lambda: 7), module(train=lambda: 1 / 0)
    assert run(good, CTX) == 7 and run(good, CTX) == 7 and len(calls) == 1
    for _ in range(2):
        with pytest.raises(ZeroDivisionError):
            run(bad, CTX)
    assert len(calls) == 2  # the crash ran once
    checks = Checks()
    checks.prop("ch99.1.e", "e", hint="h", judge=lambda got: None)(run)  # usable as a probe
    (check,) = checks
    assert check.probe(good, CTX) == 7 and len(calls) == 2


def test_timeouts_default_by_kind_and_respect_the_floor() -> None:
    checks = Checks(timeout_floor=45)
    checks.match("ch99.1.m", "m", hint="h")(lambda ctx: 0)
    checks.prop("ch99.1.p", "p", hint="h", judge=lambda got: None, timeout=90)(lambda ctx: 0)
    m, p = checks
    assert (m.timeout, p.timeout) == (45, 90)
    assert task_of("ch12.7.name") == 7


def test_a_check_without_a_judge_is_an_authoring_error() -> None:
    checks = Checks()
    checks.api("ch99.1.j", "j", hint="h")(lambda ctx: 0)
    with pytest.raises(TypeError, match="no judge"):
        list(checks)


def test_match_parts_compares_each_part_with_its_own_tolerance() -> None:
    import torch

    from grader.spec import match_parts

    checks = Checks()
    checks.match("ch99.1.parts", "parts", hint="h",
                 judge=match_parts(run=(1e-6, 0.0), diff=(0.0, 1e-1)))(lambda ctx: 0)
    (check,) = checks
    want = {"run": torch.ones(3), "diff": torch.full((3,), 2.0)}
    close = {"run": torch.ones(3), "diff": torch.full((3,), 2.1)}  # 5% off: within 10%
    assert check.judge(close, want, CTX).passed
    off = {"run": torch.ones(3) + 1e-3, "diff": torch.full((3,), 2.0)}
    verdict = check.judge(off, want, CTX)
    assert not verdict.passed and "max abs error" in verdict.message
