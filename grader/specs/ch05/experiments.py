"""ch05 property checks: the learner's own experiments show Bjorck's and Page's claims.

Both run in the learner's process on the small configs of `tiny.py`, seeded by
``--seed``. The BN-vs-no-BN comparison (one `compare_norms` call) is shared by the four
ch05.5 checks through a per-process cache, so it runs once per grading.
Margins: set from the worst of seeds 0, 1, 2 (measured values in the README).
"""

from __future__ import annotations

import math
from typing import Any

from grader.model import Verdict
from grader.probing import ProbeContext, ProbeFailure
from grader.specs.ch05 import tiny
from grader.specs.helpers import api, prop

MIN_STABLE_RATIO = 3.0  # "several times": measured 10 on every seed (a decade grid)
MIN_BEST_GAP = 0.15  # BN's best test accuracy minus no-BN's; measured 0.32-0.47
MIN_STRESS_RATIO = 3.0  # breakdown LR, BN / no BN; measured 16, 16, 4 (LR x 2 per epoch)

_CACHE: dict[tuple[int, int, str], Any] = {}


def comparison(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    key = (id(mod), ctx.seed, ctx.device)
    if key not in _CACHE:
        cfgs = tiny.grade_configs(ctx.seed, ctx.device)
        data = tiny.subset(ctx.device, tiny.GRADE_TRAIN, tiny.GRADE_TEST)
        out = mod.compare_norms(data, cfgs["model"], list(tiny.GRADE_LRS), cfgs["sweep"],
                                tiny.GRADE_TARGET)
        if not isinstance(out, dict):
            raise ProbeFailure(f"compare_norms returned {type(out).__name__}, expected a dict")
        _CACHE[key] = out
    return _CACHE[key]


def fmt(v: Any) -> str:
    return "None" if v is None else f"{v:.3g}"


def sweep_text(out: dict[str, Any]) -> str:
    parts = []
    for norm in ("none", "batch"):
        runs = " ".join(f"{r['lr']:g}:{'diverged' if r['diverged'] else round(r['test_acc'], 3)}"
                        for r in out["runs"][norm])
        parts.append(f"{norm}: {runs}")
    return "; ".join(parts)


def probe_summary(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = comparison(mod, ctx)
    keys = ("runs", "highest_stable", "stable_ratio", "best_acc", "acc_at_lowest")
    return {k: out.get(k) for k in keys}


def judge_summary(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    """Recompute every summary number from the learner's own runs."""
    runs = got["runs"] or {}
    stable, best, lowest = {}, {}, {}
    for norm in ("none", "batch"):
        recs = runs.get(norm) or []
        if [r["lr"] for r in recs] != list(tiny.GRADE_LRS):
            return Verdict.fail(f"runs[{norm!r}] has LRs {[r['lr'] for r in recs]}, expected "
                                f"{list(tiny.GRADE_LRS)}")
        ok = [r["lr"] for r in recs if not r["diverged"] and r["test_acc"] >= tiny.GRADE_TARGET]
        stable[norm] = max(ok) if ok else None
        accs = [r["test_acc"] for r in recs if not r["diverged"]]
        best[norm] = max(accs) if accs else math.nan
        lowest[norm] = recs[0]["test_acc"]
    for name, want in (("highest_stable", stable), ("best_acc", best), ("acc_at_lowest", lowest)):
        have = got[name] or {}
        for norm, w in want.items():
            h = have.get(norm)
            same = (h is None and w is None) or (
                h is not None and w is not None and (h == w or (math.isnan(h) and math.isnan(w))))
            if not same:
                return Verdict.fail(f"{name}[{norm!r}] = {h}, but your runs give {w} "
                                    f"({sweep_text(got)})")
    if stable["batch"] is None:
        ratio = math.nan
    else:
        ratio = math.inf if stable["none"] is None else stable["batch"] / stable["none"]
    r = got["stable_ratio"]
    if not (r == ratio or (isinstance(r, float) and math.isnan(r) and math.isnan(ratio))):
        return Verdict.fail(f"stable_ratio = {r}, but highest_stable gives BN / no BN = {ratio}")
    return Verdict.ok()


def judge_ratio(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    s = got["highest_stable"]
    ratio = got["stable_ratio"]
    text = (f"highest stable LR: no BN {fmt(s['none'])}, BN {fmt(s['batch'])} (target test acc "
            f"{tiny.GRADE_TARGET}); {sweep_text(got)}")
    if s["batch"] is None or not ratio >= MIN_STABLE_RATIO:
        return Verdict.fail(f"expected BN's highest stable LR >= {MIN_STABLE_RATIO:g}x "
                            f"no-BN's, got ratio {fmt(ratio)}: {text}")
    return Verdict.ok(text)


def judge_best(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    b = got["best_acc"]
    gap = b["batch"] - b["none"]
    text = f"best test accuracy: BN {b['batch']:.3f}, no BN {b['none']:.3f}"
    if not gap >= MIN_BEST_GAP:
        return Verdict.fail(f"expected BN's best >= no-BN's best + {MIN_BEST_GAP}: {text}")
    return Verdict.ok(text)


def judge_lowest(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    lowest = min(tiny.GRADE_LRS)
    recs = {n: min(got["runs"][n], key=lambda r: r["lr"]) for n in ("none", "batch")}
    text = ", ".join(f"{n}: {'diverged' if r['diverged'] else round(r['test_acc'], 3)}"
                     for n, r in recs.items())
    for r in recs.values():
        if r["diverged"] or not r["test_acc"] >= tiny.GRADE_TARGET:
            return Verdict.fail(f"at the lowest LR {lowest:g} both nets should train (not diverge, "
                                f"test acc >= {tiny.GRADE_TARGET}); {text}")
    return Verdict.ok(f"at lr {lowest:g}: {text}")


def probe_stress(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    cfgs = tiny.grade_configs(ctx.seed, ctx.device)
    data = tiny.subset(ctx.device, tiny.STRESS_TRAIN, 10)
    out = {}
    for norm in ("none", "batch"):
        from dataclasses import replace

        res = mod.stress_test(data, replace(cfgs["model"], norm=norm), cfgs["stress"],
                              tiny.STRESS_LR0, tiny.STRESS_FACTOR)
        out[norm] = {k: res.get(k) for k in ("breakdown_lr", "blowup_lr", "best_lr",
                                            "best_train_acc")}
    return out


def judge_stress(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    n, b = got["none"]["breakdown_lr"], got["batch"]["breakdown_lr"]
    text = (f"training broke down at LR {fmt(n)} without BN, {fmt(b)} with BN (best train acc "
            f"{got['none']['best_train_acc']:.2f} at LR {fmt(got['none']['best_lr'])} vs "
            f"{got['batch']['best_train_acc']:.2f} at {fmt(got['batch']['best_lr'])})")
    if n is None:
        top = tiny.STRESS_LR0 * tiny.STRESS_FACTOR**tiny.STRESS_EPOCHS
        return Verdict.fail(f"the no-BN net never broke down, LR up to {top:g}: {text}")
    ratio = math.inf if b is None else b / n
    if not ratio >= MIN_STRESS_RATIO:
        return Verdict.fail(f"expected BN to break down at >= {MIN_STRESS_RATIO:g}x the LR: {text}")
    return Verdict.ok(text)


STRESS_HINT = ("Check stress_test with ch05.4.tiny_stress first; then the breakdown rule: an "
               "epoch's train accuracy below half the best before it.")
SWEEP_HINT = "Sweep replace(model_cfg, norm='none') and norm='batch' on the same lrs and cfg."

EXPERIMENTS = [
    prop("ch05.4.bn_outlasts", "stress test: BN breaks down at >= 3x the LR of no BN",
         probe_stress, judge_stress, timeout=180, hint=STRESS_HINT),
    api("ch05.5.summary", "summary numbers agree with your own runs", probe_summary,
        judge_summary, timeout=240,
        hint="highest_stable via highest_stable_lr, stable_ratio = BN / no BN, best_acc over "
        "non-diverged runs, acc_at_lowest at min(lrs)."),
    prop("ch05.5.stable_ratio", "BN's highest stable LR is >= 3x no-BN's", probe_summary,
         judge_ratio, timeout=240, hint=SWEEP_HINT),
    prop("ch05.5.best_acc", "BN's best test accuracy beats no-BN's by >= 0.15", probe_summary,
         judge_best, timeout=240, hint=SWEEP_HINT),
    prop("ch05.5.lowest_lr", "at the lowest LR both nets train (no divergence, acc >= target)",
         probe_summary, judge_lowest, timeout=240,
         hint="The lowest LR is safe for both nets; a failure there points at the sweep itself."),
]
