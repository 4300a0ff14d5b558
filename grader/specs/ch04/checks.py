"""ch04 checks: relative loss along the gradient (ch04.1), Santurkar's measures (ch04.2) and
the measures over training (ch04.3).

Match checks use small float64 nets, with and without batch norm, and compare with the
reference; api checks ask that every probe leaves the model as it found it; property checks
run the learner's functions on the paper's comparisons at a small scale.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from grader.lazy import torch
from grader.model import Verdict
from grader.probing import ProbeContext, ProbeFailure, expect_tensor
from grader.specs.helpers import api, match, prop

STEPS = (1e-3, 0.03, 0.3, 1.0)


def one_thread() -> None:
    """Small nets run as fast on one thread, and the learner's and the reference's processes
    then sum in the same order (float32 training trajectories match), however many threads
    the engine gives the process; several threads on a busy machine also stall each other."""
    torch.set_num_threads(1)


def _net(ctx: ProbeContext, kind: str, double: bool = True) -> tuple[Any, Any, Any]:
    """A small conv net (3 blocks, width 8) of ``kind`` and a batch; grads and odd modes set."""
    import torch.nn.functional as F

    from dlbn.models import ModelConfig, build_model

    one_thread()
    torch.manual_seed(ctx.seed)
    net = build_model(ModelConfig(depth=3, width=8, norm="none" if kind == "standard" else "batch"))
    dtype = torch.float64 if double else torch.float32
    net = net.to(dtype=dtype, device=ctx.device)
    x = ctx.randn(16, 1, 40, dtype=dtype, offset=80, std=2.0)
    y = torch.randint(0, 10, (16,), generator=ctx.generator(81)).to(ctx.device)
    F.cross_entropy(net(x), y).backward()  # leave some .grad and moved running stats behind
    return net, x, y


def probe_relative(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = {}
    for kind in ("standard", "batch"):
        net, x, y = _net(ctx, kind)
        out[kind] = expect_tensor(mod.loss_along_gradient(net, x, y, STEPS), "loss_along_gradient")
    return out


def _measures(mod: Any, *args: Any) -> dict[str, Any]:
    got = mod.landscape_measures(*args)
    keys = ("loss", "grad_change", "loss_range", "max_grad_change", "beta", "grad_norm")
    if not isinstance(got, dict) or not set(keys) <= set(got):
        raise ProbeFailure(f"landscape_measures returned {type(got).__name__}; expected a dict "
                           f"with keys {', '.join(keys)}")
    return {k: got[k] if k in ("loss", "grad_change") else float(got[k]) for k in keys}


def probe_measures(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = {}
    for kind in ("standard", "batch"):
        net, x, y = _net(ctx, kind)
        out[kind] = _measures(mod, net, x, y, STEPS)
    return out


def restored_probe(call: Any) -> Any:
    def probe(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
        from dlbn.landscape import save_state, state_difference

        out = {}
        for kind in ("standard", "batch"):
            net, x, y = _net(ctx, kind, double=False)
            net.blocks[1].eval()  # a mix of modes must survive
            state = save_state(net)
            call(mod, net, x, y)
            out[kind] = state_difference(net, state)
        return out

    return probe


def judge_restored(got: dict[str, dict[str, float]], expected: Any, ctx: Any) -> Verdict:
    what = {"params": "parameters", "grads": ".grad of the parameters",
            "buffers": "buffers (running statistics)", "modes": "train/eval modes",
            "optimizer": "optimizer state"}
    for kind, diff in got.items():
        for key, value in diff.items():
            if value != 0:
                return Verdict.fail(f"{kind} net: after the probe the {what[key]} changed (max "
                                    f"change {value:.3g}); expected the model as it was")
    return Verdict.ok()


# ---------------------------------------------------------------- properties

BJORCK_STEPS = tuple(10 ** (k / 2) for k in range(-10, 3))  # 1e-5 .. 10, half decades


def useful_step(ratios: list[float]) -> float:
    """The largest step of the grid before the relative loss first reaches 1 (0: none)."""
    best = 0.0
    for eta, r in zip(BJORCK_STEPS, ratios, strict=True):
        if not r < 1:  # NaN counts as "did not help"
            break
        best = eta
    return best


def probe_bjorck(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    from dlbn.data import load_mnist1d
    from dlbn.resnet import preact_resnet

    one_thread()
    d = load_mnist1d(ctx.device)
    out: dict[str, Any] = {}
    for kind, norm in (("standard", "none"), ("batch", "batch")):
        torch.manual_seed(ctx.seed)
        net = preact_resnet(16, width=16, norm=norm).to(ctx.device)
        for b in range(2):  # two early batches, at initialization
            x, y = d.x_train[32 * b: 32 * (b + 1)], d.y_train[32 * b: 32 * (b + 1)]
            ratios = expect_tensor(mod.loss_along_gradient(net, x, y, BJORCK_STEPS),
                                   "loss_along_gradient").tolist()
            out[f"{kind}{b}"] = useful_step(ratios)
    return out


def judge_bjorck(got: dict[str, float], expected: Any, ctx: Any) -> Verdict:
    text = ", ".join(f"{k}: {v:.2g}" for k, v in got.items())
    for b in range(2):
        s, n = got[f"standard{b}"], got[f"batch{b}"]
        if n < 10 * max(s, 1e-12) or s == 0:
            return Verdict.fail(f"largest helpful step ({text}); expected BN's >= 10 x the "
                                "standard net's on each batch, and some step helping the standard "
                                "net")
    return Verdict.ok(f"largest helpful step: {text}")


SMOOTH_LR = 0.05  # both nets train at this learning rate


def probe_smoother(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    from dlbn.data import Splits, load_mnist1d
    from dlbn.models import ModelConfig
    from dlbn.train import TrainConfig

    one_thread()
    d = load_mnist1d(ctx.device)
    data = Splits("mnist1d", d.x_train[:1000], d.y_train[:1000], d.x_test[:10], d.y_test[:10])
    cfg = TrainConfig(epochs=2, batch_size=32, lr=SMOOTH_LR, seed=ctx.seed)
    out = {}
    for kind in ("standard", "batch"):
        res = mod.landscape_during_training(kind, data, ModelConfig(depth=8, width=16), cfg,
                                            (0.05, 0.1, 0.2, 0.4), every=10)
        out[kind] = {k: max(res[k]) for k in ("loss_range", "max_grad_change", "beta")}
        out[kind]["probes"] = len(res["step"])
    return out


def judge_smoother(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    s, b = got["standard"], got["batch"]
    text = (f"largest loss range: standard {s['loss_range']:.3g}, BN {b['loss_range']:.3g}; "
            f"largest gradient change: standard {s['max_grad_change']:.3g}, BN "
            f"{b['max_grad_change']:.3g}")
    if s["probes"] != 7 or b["probes"] != 7:
        return Verdict.fail(f"expected 7 probes (steps 0, 10, ..., 60), got {s['probes']}")
    if not s["loss_range"] >= 2 * b["loss_range"]:
        return Verdict.fail(text + "; expected the standard net's >= 2 x BN's")
    if not s["max_grad_change"] >= 2 * b["max_grad_change"]:
        return Verdict.fail(text + "; expected the standard net's >= 2 x BN's")
    return Verdict.ok(text)


def probe_loop(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    from dlbn.data import Splits, load_mnist1d
    from dlbn.models import ModelConfig
    from dlbn.train import TrainConfig

    one_thread()
    d = load_mnist1d(ctx.device)
    data = Splits("mnist1d", d.x_train[:160], d.y_train[:160], d.x_test[:10], d.y_test[:10])
    cfg = TrainConfig(epochs=2, batch_size=32, lr=0.05, seed=ctx.seed, weight_decay=1e-4)
    out = mod.landscape_during_training("batch", data, ModelConfig(depth=3, width=8), cfg,
                                        (0.01, 0.1), every=3)
    model = out.pop("model")
    out["params"] = [p.detach() for p in model.parameters()]
    out["buffers"] = [b.detach() for b in model.buffers()]
    for key in ("loss", "loss_range", "max_grad_change", "beta"):
        out[key] = torch.tensor(out[key], dtype=torch.float64)
    return out


def loop_judge(got: Any, expected: Any, ctx: Any) -> Verdict:
    from grader.compare import compare

    # float32 training: allow for summation order, not for a different trajectory; the
    # measures are differences (of losses, of gradients), so their relative error is larger
    measures = ("loss_range", "max_grad_change", "beta")
    verdict = compare({k: v for k, v in got.items() if k not in measures},
                      {k: v for k, v in expected.items() if k not in measures}, "",
                      atol=1e-4, rtol=1e-3)
    if not verdict.passed:
        return verdict
    return compare({k: got[k] for k in measures}, {k: expected[k] for k in measures}, "",
                   atol=1e-4, rtol=1e-2)


CHECKS = (
    match("ch04.1.values", "relative loss at steps 1e-3 .. 1, with and without BN",
          probe_relative,
          hint="Step DOWN the gradient (w - eta g), in train mode, each eta from w; return "
          "L(w - eta g) / L(w)."),
    api("ch04.1.restored", "the model is as before: parameters, grads, buffers, modes",
        restored_probe(lambda mod, net, x, y: mod.loss_along_gradient(net, x, y, STEPS)),
        judge_restored,
        hint="save_state(model) first; restore_state(model, state) after every step size."),
    prop("ch04.1.bjorck", "Bjorck Fig. 3: BN's helpful step sizes reach >= 10x further",
         probe_bjorck, judge_bjorck, timeout=180,
         hint="Relative loss = L(w - eta g) / L(w) with g the gradient of ALL parameters, "
         "each step taken from the original w."),
    match("ch04.2.values", "losses, gradient changes, loss range and beta, with and without BN",
          probe_measures,
          hint="beta divides ||g_eta - g|| by the distance moved, eta ||g||; loss_range is "
          "max - min over the steps."),
    api("ch04.2.restored", "the model is as before: parameters, grads, buffers, modes",
        restored_probe(lambda mod, net, x, y: mod.landscape_measures(net, x, y, STEPS)),
        judge_restored,
        hint="Restore the model after every step size and at the end (save_state / "
        "restore_state)."),
    match("ch04.3.loop", "landscape_during_training: same probes, losses and trained weights",
          probe_loop, judge=loop_judge, timeout=60,
          hint="Probe BEFORE the training step at steps 0, every, ...; seed, optimizer and "
          "shuffling exactly as the docstring says."),
    prop("ch04.3.smoother", "Santurkar Fig. 4: loss range and gradient change spike less with BN",
         probe_smoother, judge_smoother, timeout=240,
         hint="Take the measures on the training batch before each step, at the model's "
         "current weights, and restore the model after each probe."),
)
# Each check takes < 12 s of CPU; the floor leaves room for a machine shared with others.
CHECKS = tuple(replace(c, timeout=max(c.timeout, 60.0)) for c in CHECKS)
