"""ch04.3 checks: Santurkar's measures over training (the loop, and Fig. 4 at a small scale)."""

from __future__ import annotations

from typing import Any

from grader.lazy import torch
from grader.model import Verdict
from grader.probing import ProbeContext
from grader.spec import Checks, fail
from grader.specs.ch04 import config

checks = Checks(timeout_floor=60)
MEASURES = ("loss_range", "max_grad_change", "beta")


def loop_judge(got: Any, expected: Any) -> Verdict | None:
    from grader.compare import compare

    # float32 training: allow for summation order, not for a different trajectory; the
    # measures are differences (of losses, of gradients), so their relative error is larger
    for is_measure, rtol in ((False, 1e-3), (True, 1e-2)):
        got_part, expected_part = ({k: v for k, v in d.items() if (k in MEASURES) == is_measure}
                                   for d in (got, expected))
        verdict = compare(got_part, expected_part, "", atol=1e-4, rtol=rtol)
        if not verdict.passed:
            return verdict
    return None


@checks.match("ch04.3.loop", "landscape_during_training: same probes, losses and trained weights",
              judge=loop_judge,
              hint="Probe BEFORE the training step at steps 0, every, ...; seed, optimizer and "
              "shuffling exactly as the docstring says.")
def loop(landscape_during_training: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = landscape_during_training("batch", *config.run(ctx, config.LOOP), (0.01, 0.1), every=3)
    model = out.pop("model")
    out["params"] = [p.detach() for p in model.parameters()]
    out["buffers"] = [b.detach() for b in model.buffers()]
    for key in ("loss", *MEASURES):
        out[key] = torch.tensor(out[key], dtype=torch.float64)
    return out


@checks.prop("ch04.3.smoother",
             "Santurkar Fig. 4: loss range and gradient change spike less with BN", timeout=240,
             hint="Take the measures on the training batch before each step, at the model's "
             "current weights, and restore the model after each probe.")
def smoother(landscape_during_training: Any, ctx: ProbeContext) -> dict[str, Any]:
    args, out = config.run(ctx, config.SMOOTHER), {}
    for kind in config.KINDS:
        res = landscape_during_training(kind, *args, (0.05, 0.1, 0.2, 0.4), every=10)
        out[kind] = {k: max(res[k]) for k in MEASURES}
        out[kind]["probes"] = len(res["step"])
    return out


@smoother.judge
def _(got: dict[str, Any]) -> Verdict:
    s, b = got["standard"], got["batch"]
    text = (f"largest loss range: standard {s['loss_range']:.3g}, BN {b['loss_range']:.3g}; "
            f"largest gradient change: standard {s['max_grad_change']:.3g}, BN "
            f"{b['max_grad_change']:.3g}")
    if s["probes"] != 7 or b["probes"] != 7:
        fail(f"expected 7 probes (steps 0, 10, ..., 60), got {s['probes']}")
    if not s["loss_range"] >= 2 * b["loss_range"]:
        fail(text + "; expected the standard net's >= 2 x BN's")
    if not s["max_grad_change"] >= 2 * b["max_grad_change"]:
        fail(text + "; expected the standard net's >= 2 x BN's")
    return Verdict.ok(text)
