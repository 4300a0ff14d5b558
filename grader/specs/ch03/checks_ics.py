"""ch03.3 checks: internal covariate shift (Santurkar Def. 2.1) and the training loop around it.

The match checks use float64 nets with momentum buffers already filled, so that the step of
the earlier layers is the optimizer's real step; the api check asks that a probe leaves the
parameters, grads, buffers, modes, optimizer state and RNG exactly as it found them.
"""

from __future__ import annotations

from typing import Any

from grader.lazy import torch
from grader.model import Verdict
from grader.probing import ProbeContext, ProbeFailure
from grader.specs.ch03.checks_noise import one_thread
from grader.specs.helpers import api, match, prop


def _net(mod: Any, ctx: ProbeContext, kind: str) -> tuple[Any, Any, Any, Any]:
    """A float64 net of ``kind`` after 2 SGD-momentum steps, its optimizer and a batch."""
    import torch.nn.functional as F

    from dlbn.models import ModelConfig

    one_thread()
    torch.manual_seed(ctx.seed)
    net = mod.build_net(kind, ModelConfig(depth=4, width=8)).double().to(ctx.device)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    for step in range(2):
        x = ctx.randn(16, 1, 40, dtype=torch.float64, offset=50 + step)
        y = torch.randint(0, 10, (16,), generator=ctx.generator(60 + step)).to(ctx.device)
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    x = ctx.randn(16, 1, 40, dtype=torch.float64, offset=70)
    y = torch.randint(0, 10, (16,), generator=ctx.generator(71)).to(ctx.device)
    return net, opt, x, y


def _ics(mod: Any, *args: Any) -> dict[str, float]:
    out = mod.internal_covariate_shift(*args)
    if not isinstance(out, dict) or not {"l2", "cos", "grad_norm"} <= set(out):
        raise ProbeFailure(f"internal_covariate_shift returned {type(out).__name__}, expected a "
                           "dict with 'l2', 'cos' and 'grad_norm'")
    return {k: float(out[k]) for k in ("l2", "cos", "grad_norm")}


def probe_values(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = {}
    for kind in ("standard", "batch"):
        net, opt, x, y = _net(mod, ctx, kind)
        for layer in (0, 1, 3):
            # a fresh copy each time, so that a probe that does not restore cannot spoil the rest
            out[f"{kind}{layer}"] = _ics(mod, net, opt, x, y, layer)
            net, opt, x, y = _net(mod, ctx, kind)
    return out


def probe_restored(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    from dlbn.landscape import save_state, state_difference

    out = {}
    for kind in ("batch", "noisy"):
        net, opt, x, y = _net(mod, ctx, kind)
        net.blocks[1].eval()  # an odd mix of modes must survive too
        state = save_state(net, opt)
        rng = torch.get_rng_state()
        _ics(mod, net, opt, x, y, 2)
        diff = state_difference(net, state, opt)
        diff["rng"] = 0.0 if torch.equal(rng, torch.get_rng_state()) else 1.0
        out[kind] = diff
    return out


def judge_restored(got: dict[str, dict[str, float]], expected: Any, ctx: Any) -> Verdict:
    what = {"params": "parameters", "grads": ".grad of the parameters", "buffers":
            "buffers (running statistics)", "modes": "train/eval modes", "optimizer":
            "optimizer state (momentum buffers)", "rng": "torch's RNG state (noise draws)"}
    for kind, diff in got.items():
        for key, value in diff.items():
            if value != 0:
                return Verdict.fail(f"{kind} net: after internal_covariate_shift the {what[key]} "
                                    f"changed (max change {value:.3g}); expected them restored")
    return Verdict.ok()


def _splits(ctx: ProbeContext, n: int) -> Any:
    from dlbn.data import Splits, load_mnist1d

    one_thread()
    d = load_mnist1d(ctx.device)
    return Splits("mnist1d", d.x_train[:n], d.y_train[:n], d.x_test[:100], d.y_test[:100])


def probe_loop(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    from dlbn.models import ModelConfig
    from dlbn.train import TrainConfig

    cfg = TrainConfig(epochs=2, batch_size=32, lr=0.05, seed=ctx.seed, weight_decay=1e-4)
    out = mod.ics_during_training("batch", _splits(ctx, 160), ModelConfig(depth=4, width=8),
                                  cfg, (1, 3), every=3)
    model = out.pop("model")
    out["params"] = [p.detach() for p in model.parameters()]
    out["buffers"] = [b.detach() for b in model.buffers()]
    out["loss"] = torch.tensor(out["loss"], dtype=torch.float64)
    for key in ("l2", "cos", "grad_norm"):
        out[key] = {str(k): torch.tensor(v, dtype=torch.float64) for k, v in out[key].items()}
    return out


def loop_judge(got: Any, expected: Any, ctx: Any) -> Verdict:
    from grader.compare import compare

    # float32 training: allow for summation order, not for a different trajectory; ICS is
    # a difference of two gradients, so its relative error is larger than the weights'
    ics = ("l2", "cos", "grad_norm")
    verdict = compare({k: v for k, v in got.items() if k not in ics},
                      {k: v for k, v in expected.items() if k not in ics}, "", atol=1e-4, rtol=1e-3)
    if not verdict.passed:
        return verdict
    return compare({k: got[k] for k in ics}, {k: expected[k] for k in ics}, "",
                   atol=1e-4, rtol=1e-2)


ICS_LR = 0.05  # a learning rate at which both nets train


def probe_bn_vs_standard(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    from dlbn.models import ModelConfig
    from dlbn.train import TrainConfig

    cfg = TrainConfig(epochs=2, batch_size=32, lr=ICS_LR, seed=ctx.seed)
    layers = (1, 2, 3, 4, 5)
    out = {}
    for kind in ("standard", "batch"):
        res = mod.ics_during_training(kind, _splits(ctx, 640), ModelConfig(depth=6, width=16),
                                      cfg, layers, every=8)
        rel = [a / max(g, 1e-12) for i in layers
               for a, g in zip(res["l2"][i], res["grad_norm"][i], strict=True)]
        cos = [c for i in layers for c in res["cos"][i]]
        out[kind] = {"rel_l2": sum(rel) / len(rel), "one_minus_cos": 1 - sum(cos) / len(cos),
                     "finite": all(torch.isfinite(torch.tensor(rel)).tolist()),
                     "cos_ok": all(-1 - 1e-6 <= c <= 1 + 1e-6 for c in cos)}
    return out


def judge_bn_vs_standard(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    s, b = got["standard"], got["batch"]
    text = (f"mean ||G - G'|| / ||G||: standard {s['rel_l2']:.3f}, BN {b['rel_l2']:.3f}; "
            f"mean 1 - cos: standard {s['one_minus_cos']:.4f}, BN {b['one_minus_cos']:.4f}")
    if not (s["finite"] and b["finite"] and s["cos_ok"] and b["cos_ok"]):
        return Verdict.fail(text + "; ICS must be finite and cos within [-1, 1]")
    if min(s["rel_l2"], b["rel_l2"]) <= 1e-4:
        return Verdict.fail(text + "; the gradient did not change at all: did the earlier layers "
                            "take their step before G' was computed?")
    if b["rel_l2"] < 0.5 * s["rel_l2"] or b["one_minus_cos"] < 0.5 * s["one_minus_cos"]:
        return Verdict.fail(text + "; Santurkar et al. (and our 3 seeds) find BN's ICS not "
                            "smaller than the standard net's: expected BN >= 0.5 x standard")
    return Verdict.ok(text)


ICS = [
    match("ch03.3.values", "l2, cos and ||G|| for layers 0, 1, 3 of a standard and a BN net",
          probe_values,
          hint="Only model.blocks[:layer] take the optimizer's step (not the layer itself), "
          "with their own gradients, in train mode; G' on the same batch.", timeout=60),
    api("ch03.3.restored", "after the probe: parameters, grads, buffers, modes, optimizer "
        "state and RNG as before", probe_restored, judge_restored,
        hint="save_state(model, optimizer) first and restore_state(model, state, optimizer) "
        "last; the step and the forward passes change all of these.", timeout=60),
    match("ch03.3.loop", "ics_during_training: same probes, losses and trained weights",
          probe_loop, judge=loop_judge, timeout=60,
          hint="Probe BEFORE the training step at steps 0, every, 2 every...; seed, optimizer and "
          "shuffling exactly as the docstring says."),
    prop("ch03.3.bn_not_smaller", "ICS (relative l2 and 1 - cos) with BN is not smaller than "
         "without", probe_bn_vs_standard, judge_bn_vs_standard, timeout=240,
         hint="Measure G and G' on the same batch, in train mode, with only the earlier layers "
         "moved by the optimizer."),
]
