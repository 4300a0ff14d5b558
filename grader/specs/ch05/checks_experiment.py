"""ch05.4-5 property checks: the learner's own experiments show Page's and Bjorck's claims.

Both run in the learner's process on the small configs of `config.py`, seeded by ``--seed``.
The BN-vs-no-BN comparison (one `compare_norms` call) is an `experiment` shared by the four
ch05.5 checks: it runs once per grading, a crash included.
Margins: set from the worst of seeds 0, 1, 2 (measured values in the README).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from grader.model import Verdict
from grader.probing import ProbeContext
from grader.spec import Checks, experiment, fail
from grader.specs.ch05 import config
from grader.specs.ch05.checks_sweep import fields

MIN_STRESS_RATIO = 3.0  # breakdown LR, BN / no BN; measured 16, 16, 4 (LR x 2 per epoch)
MIN_STABLE_RATIO = 3.0  # "several times": measured 10 on every seed (a decade grid)
MIN_BEST_GAP = 0.15  # BN's best test accuracy minus no-BN's; measured 0.32-0.47
NORMS = ("none", "batch")
SWEEP_HINT = "Sweep replace(model_cfg, norm='none') and norm='batch' on the same lrs and cfg."

checks = Checks(timeout_floor=180)


def fmt(v: Any) -> str:
    return "None" if v is None else f"{v:.3g}"


@checks.prop("ch05.4.bn_outlasts", "stress test: BN breaks down at >= 3x the LR of no BN",
             hint="Check stress_test with ch05.4.tiny_stress first; then the breakdown rule: an "
             "epoch's train accuracy below half the best before it.")
def bn_outlasts(stress_test: Any, ctx: ProbeContext) -> dict[str, Any]:
    cfgs = config.grade_configs(ctx.seed, ctx.device)
    data = config.subset(ctx.device, config.STRESS_TRAIN, 10)
    return {norm: fields(stress_test(data, replace(cfgs["model"], norm=norm), cfgs["stress"],
                                     config.STRESS_LR0, config.STRESS_FACTOR), "stress_test",
                         "breakdown_lr", "blowup_lr", "best_lr", "best_train_acc")
            for norm in NORMS}


@bn_outlasts.judge
def _(got: dict[str, Any]) -> Verdict:
    n, b = got["none"]["breakdown_lr"], got["batch"]["breakdown_lr"]
    text = (f"training broke down at LR {fmt(n)} without BN, {fmt(b)} with BN (best train acc "
            f"{got['none']['best_train_acc']:.2f} at LR {fmt(got['none']['best_lr'])} vs "
            f"{got['batch']['best_train_acc']:.2f} at {fmt(got['batch']['best_lr'])})")
    if n is None:
        top = config.STRESS_LR0 * config.STRESS_FACTOR**config.STRESS_EPOCHS
        fail(f"the no-BN net never broke down, LR up to {top:g}: {text}")
    if not (math.inf if b is None else b / n) >= MIN_STRESS_RATIO:
        fail(f"expected BN to break down at >= {MIN_STRESS_RATIO:g}x the LR: {text}")
    return Verdict.ok(text)


@experiment
def comparison(compare_norms: Any, ctx: ProbeContext) -> Any:
    cfgs = config.grade_configs(ctx.seed, ctx.device)
    data = config.subset(ctx.device, config.GRADE_TRAIN, config.GRADE_TEST)
    return compare_norms(data, cfgs["model"], list(config.GRADE_LRS), cfgs["sweep"],
                         config.GRADE_TARGET)


def summary(module: Any, ctx: ProbeContext) -> dict[str, Any]:
    return fields(comparison(module, ctx), "compare_norms", "runs", "highest_stable",
                  "stable_ratio", "best_acc", "acc_at_lowest")


def sweep_text(got: dict[str, Any]) -> str:
    return "; ".join(f"{norm}: " + " ".join(
        f"{r['lr']:g}:{'diverged' if r['diverged'] else round(r['test_acc'], 3)}"
        for r in got["runs"][norm]) for norm in NORMS)


def same(h: Any, w: Any) -> bool:
    return h == w or (h != h and w != w)  # NaN is NaN


def agrees(got: dict[str, Any]) -> None:
    """Recompute every summary number from the learner's own runs."""
    want: dict[str, dict[str, Any]] = {"highest_stable": {}, "best_acc": {}, "acc_at_lowest": {}}
    for norm in NORMS:
        recs = (got["runs"] or {}).get(norm) or []
        if [r["lr"] for r in recs] != list(config.GRADE_LRS):
            fail(f"runs[{norm!r}] has LRs {[r['lr'] for r in recs]}, expected "
                 f"{list(config.GRADE_LRS)}")
        ok = [r["lr"] for r in recs if not r["diverged"] and r["test_acc"] >= config.GRADE_TARGET]
        accs = [r["test_acc"] for r in recs if not r["diverged"]]
        want["highest_stable"][norm] = max(ok) if ok else None
        want["best_acc"][norm] = max(accs) if accs else math.nan
        want["acc_at_lowest"][norm] = recs[0]["test_acc"]
    for name, values in want.items():
        for norm, w in values.items():
            if not same(h := (got[name] or {}).get(norm), w):
                fail(f"{name}[{norm!r}] = {h}, but your runs give {w} ({sweep_text(got)})")
    n, b = want["highest_stable"]["none"], want["highest_stable"]["batch"]
    ratio = math.nan if b is None else math.inf if n is None else b / n
    if not same(r := got["stable_ratio"], ratio):
        fail(f"stable_ratio = {r}, but highest_stable gives BN / no BN = {ratio}")


def stable_ratio(got: dict[str, Any]) -> Verdict:
    s, ratio = got["highest_stable"], got["stable_ratio"]
    text = (f"highest stable LR: no BN {fmt(s['none'])}, BN {fmt(s['batch'])} (target test acc "
            f"{config.GRADE_TARGET}); {sweep_text(got)}")
    if s["batch"] is None or not ratio >= MIN_STABLE_RATIO:
        fail(f"expected BN's highest stable LR >= {MIN_STABLE_RATIO:g}x no-BN's, got ratio "
             f"{fmt(ratio)}: {text}")
    return Verdict.ok(text)


def best_acc(got: dict[str, Any]) -> Verdict:
    b = got["best_acc"]
    text = f"best test accuracy: BN {b['batch']:.3f}, no BN {b['none']:.3f}"
    if not b["batch"] - b["none"] >= MIN_BEST_GAP:
        fail(f"expected BN's best >= no-BN's best + {MIN_BEST_GAP}: {text}")
    return Verdict.ok(text)


def lowest_lr(got: dict[str, Any]) -> Verdict:
    lowest = min(config.GRADE_LRS)
    recs = {n: min(got["runs"][n], key=lambda r: r["lr"]) for n in NORMS}
    text = ", ".join(f"{n}: {'diverged' if r['diverged'] else round(r['test_acc'], 3)}"
                     for n, r in recs.items())
    if any(r["diverged"] or not r["test_acc"] >= config.GRADE_TARGET for r in recs.values()):
        fail(f"at the lowest LR {lowest:g} both nets should train (not diverge, test acc >= "
             f"{config.GRADE_TARGET}); {text}")
    return Verdict.ok(f"at lr {lowest:g}: {text}")


checks.api("ch05.5.summary", "summary numbers agree with your own runs", judge=agrees,
           timeout=240, hint="highest_stable via highest_stable_lr, stable_ratio = BN / no BN, "
           "best_acc over non-diverged runs, acc_at_lowest at min(lrs).")(summary)
checks.prop("ch05.5.stable_ratio", "BN's highest stable LR is >= 3x no-BN's", judge=stable_ratio,
            timeout=240, hint=SWEEP_HINT)(summary)
checks.prop("ch05.5.best_acc", "BN's best test accuracy beats no-BN's by >= 0.15",
            judge=best_acc, timeout=240, hint=SWEEP_HINT)(summary)
checks.prop("ch05.5.lowest_lr", "at the lowest LR both nets train (no divergence, acc >= target)",
            judge=lowest_lr, timeout=240,
            hint="The lowest LR is safe for both nets; a failure there points at the sweep "
            "itself.")(summary)
