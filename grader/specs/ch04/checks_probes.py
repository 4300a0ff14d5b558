"""ch04.1 (relative loss along the gradient) and ch04.2 (Santurkar's measures) checks.

Match checks use small float64 nets, with and without batch norm, and compare with the
reference; api checks ask that every probe leaves the model as it found it; the property
check runs the learner's function on Bjorck's comparison at a small scale.
"""

from __future__ import annotations

from typing import Any

from grader.lazy import torch
from grader.model import Verdict
from grader.probing import ProbeContext, ProbeFailure, expect_tensor
from grader.spec import Checks, fail
from grader.specs.ch04.config import BJORCK_STEPS, KINDS, STEPS, small_net

checks = Checks(timeout_floor=60)
MEASURES = ("loss", "grad_change", "loss_range", "max_grad_change", "beta", "grad_norm")
RESTORED = {"params": "parameters", "grads": ".grad of the parameters",
            "buffers": "buffers (running statistics)", "modes": "train/eval modes",
            "optimizer": "optimizer state"}


def unchanged(measure: Any, ctx: ProbeContext) -> dict[str, Any]:
    """What ``measure(net, x, y, STEPS)`` changed in float32 nets with grads and mixed modes."""
    from dlbn.landscape import save_state, state_difference

    out = {}
    for kind in KINDS:
        net, x, y = small_net(ctx, kind, double=False)
        net.blocks[1].eval()  # a mix of modes must survive
        state = save_state(net)
        measure(net, x, y, STEPS)
        out[kind] = state_difference(net, state)
    return out


def judge_restored(got: dict[str, dict[str, float]]) -> None:
    for kind, diff in got.items():
        for key, value in diff.items():
            if value != 0:
                fail(f"{kind} net: after the probe the {RESTORED[key]} changed (max change "
                     f"{value:.3g}); expected the model as it was")


@checks.match("ch04.1.values", "relative loss at steps 1e-3 .. 1, with and without BN",
              hint="Step DOWN the gradient (w - eta g), in train mode, each eta from w; return "
              "L(w - eta g) / L(w).")
def relative(loss_along_gradient: Any, ctx: ProbeContext) -> dict[str, Any]:
    return {kind: expect_tensor(loss_along_gradient(*small_net(ctx, kind), STEPS),
                                "loss_along_gradient") for kind in KINDS}


@checks.api("ch04.1.restored", "the model is as before: parameters, grads, buffers, modes",
            judge=judge_restored,
            hint="save_state(model) first; restore_state(model, state) after every step size.")
def relative_restored(loss_along_gradient: Any, ctx: ProbeContext) -> dict[str, Any]:
    return unchanged(loss_along_gradient, ctx)


def useful_step(ratios: list[float]) -> float:
    """The largest step of the grid before the relative loss first reaches 1 (0: none)."""
    best = 0.0
    for eta, r in zip(BJORCK_STEPS, ratios, strict=True):
        if not r < 1:  # NaN counts as "did not help"
            break
        best = eta
    return best


@checks.prop("ch04.1.bjorck", "Bjorck Fig. 3: BN's helpful step sizes reach >= 10x further",
             timeout=180, hint="Relative loss = L(w - eta g) / L(w) with g the gradient of ALL "
             "parameters, each step taken from the original w.")
def bjorck(loss_along_gradient: Any, ctx: ProbeContext) -> dict[str, float]:
    from dlbn.data import load_mnist1d
    from dlbn.resnet import preact_resnet

    d = load_mnist1d(ctx.device)
    out = {}
    for kind, norm in (("standard", "none"), ("batch", "batch")):
        torch.manual_seed(ctx.seed)
        net = preact_resnet(16, width=16, norm=norm).to(ctx.device)
        for b in range(2):  # two early batches, at initialization
            x, y = d.x_train[32 * b: 32 * (b + 1)], d.y_train[32 * b: 32 * (b + 1)]
            ratios = expect_tensor(loss_along_gradient(net, x, y, BJORCK_STEPS),
                                   "loss_along_gradient").tolist()
            out[f"{kind}{b}"] = useful_step(ratios)
    return out


@bjorck.judge
def _(got: dict[str, float]) -> Verdict:
    text = ", ".join(f"{k}: {v:.2g}" for k, v in got.items())
    for b in range(2):
        s, n = got[f"standard{b}"], got[f"batch{b}"]
        if n < 10 * max(s, 1e-12) or s == 0:
            fail(f"largest helpful step ({text}); expected BN's >= 10 x the standard net's on "
                 "each batch, and some step helping the standard net")
    return Verdict.ok(f"largest helpful step: {text}")


@checks.match("ch04.2.values", "losses, gradient changes, loss range and beta, with and without BN",
              hint="beta divides ||g_eta - g|| by the distance moved, eta ||g||; loss_range is "
              "max - min over the steps.")
def measures(landscape_measures: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = {}
    for kind in KINDS:
        got = landscape_measures(*small_net(ctx, kind), STEPS)
        if not isinstance(got, dict) or not set(MEASURES) <= set(got):
            raise ProbeFailure(f"landscape_measures returned {type(got).__name__}; expected a "
                               f"dict with keys {', '.join(MEASURES)}")
        out[kind] = {k: got[k] if k in ("loss", "grad_change") else float(got[k])
                     for k in MEASURES}
    return out


@checks.api("ch04.2.restored", "the model is as before: parameters, grads, buffers, modes",
            judge=judge_restored, hint="Restore the model after every step size and at the end "
            "(save_state / restore_state).")
def measures_restored(landscape_measures: Any, ctx: ProbeContext) -> dict[str, Any]:
    return unchanged(landscape_measures, ctx)
