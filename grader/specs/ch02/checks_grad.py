"""ch02 checks for tasks 4-5: output-logit gradients, one-class bias, middle-layer gradients.

The oracle for dL/dlogits is analytic: with the summed cross-entropy, row i is
softmax(z_i) - onehot(y_i). Weight gradients come from ``torch.autograd.grad``.
"""

from __future__ import annotations

from typing import Any

from grader.lazy import F, torch
from grader.model import Verdict
from grader.probing import ProbeContext, ProbeFailure, expect_tensor, expect_tuple
from grader.specs.ch02.common import RESNET, signals, small_convnet
from grader.specs.helpers import all_true, api, match, prop

# ---------------------------------------------------------------- ch02.4 logits


def probe_grads(mod: Any, ctx: ProbeContext) -> list[Any]:
    net = small_convnet(ctx)
    x, y = signals(ctx)
    return list(expect_tuple(mod.output_gradients(net, x, y), 2, "output_gradients"))


def oracle_grads(mod: Any, ctx: ProbeContext) -> list[Any]:
    net = small_convnet(ctx).train()
    x, y = signals(ctx)
    with torch.no_grad():
        logits = net(x)
    return [logits, F.softmax(logits, dim=1) - F.one_hot(y, 10).to(logits.dtype)]


def probe_grads_contract(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    net = small_convnet(ctx).eval()
    x, y = signals(ctx)
    copy = x.clone()
    logits, grad = expect_tuple(mod.output_gradients(net, x, y), 2, "output_gradients")
    return {
        "mode": not net.training,
        "detached": not logits.requires_grad and not grad.requires_grad,
        "backward": net.head.weight.grad is not None,
        "unchanged": torch.equal(x, copy),
    }


def judge_grads_contract(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    return all_true(got, {
        "mode": "the model came in eval mode and left in training mode: restore its mode",
        "detached": "return detached tensors (logits.detach(), logits.grad)",
        "backward": "the parameters got no .grad: call loss.backward() as a training step would",
        "unchanged": "the input x was modified",
    })


def bias_inputs(ctx: ProbeContext) -> list[tuple[Any, Any]]:
    cases = []
    for k, lean in enumerate((0.0, 1.5, 6.0)):
        logits = ctx.randn(40, 10, offset=50 + k)
        logits[:, 3] += lean  # lean towards class 3
        y = torch.randint(0, 10, (40,), generator=ctx.generator(60 + k))
        grad = F.softmax(logits, dim=1) - F.one_hot(y, 10).float()
        cases.append((logits, grad))
    return cases


def probe_bias(mod: Any, ctx: ProbeContext) -> list[Any]:
    out = []
    for logits, grad in bias_inputs(ctx):
        got = mod.one_class_bias(logits, grad)
        if not isinstance(got, dict):
            raise ProbeFailure(f"one_class_bias returned {type(got).__name__}, expected a dict")
        out.append({k: float(got[k]) for k in ("top_class_share", "dominant_column_share")})
    return out


def oracle_bias(mod: Any, ctx: ProbeContext) -> list[Any]:
    out = []
    for logits, grad in bias_inputs(ctx):
        pred = logits.argmax(dim=1)
        top = max(int((pred == k).sum()) for k in range(10)) / len(pred)
        mass = torch.where(grad > 0, grad, torch.zeros_like(grad)).sum(dim=0)
        share = float(mass.max() / mass.sum())
        out.append({"top_class_share": top, "dominant_column_share": share})
    return out


def probe_fig6(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = mod.logit_gradients(mod.ResNetConfig(**RESNET, seed=ctx.seed))
    keys = ("dominant_column_share", "top_class_share")
    return {n: {k: float(out[n][k]) for k in keys} for n in ("none", "batch")}


def judge_fig6(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    # Seeds 0-4, 24 blocks: column share 1.00 without BN, 0.15-0.17 with BN.
    none, bn = got["none"], got["batch"]
    text = (f"dominant column share {none['dominant_column_share']:.2f} without BN, "
            f"{bn['dominant_column_share']:.2f} with BN (top-class share "
            f"{none['top_class_share']:.2f} / {bn['top_class_share']:.2f})")
    if not none["dominant_column_share"] > 0.6:
        return Verdict.fail(text + "; without BN one column should carry > 0.6 of the mass")
    if not bn["dominant_column_share"] < 0.3:
        return Verdict.fail(text + "; with BN no column should carry 0.3 or more")
    return Verdict.ok(text)


LOGITS = [
    match("ch02.4.grads", "logits and dL/dlogits = softmax - onehot (summed loss, train mode)",
          probe_grads, oracle=oracle_grads,
          hint="Use reduction='sum' (each row is one image's gradient) and run in training mode."),
    api("ch02.4.contract", "mode restored, outputs detached, backward reached the parameters",
        probe_grads_contract, judge_grads_contract,
        hint="model.train() for the pass, then model.train(was_training); return .detach()ed "
        "tensors."),
    match("ch02.4.bias", "one_class_bias on fixed logits and gradients", probe_bias,
          oracle=oracle_bias,
          hint="Positive part per column: grad.clamp(min=0).sum(dim=0); predictions: argmax over "
          "classes (dim 1)."),
    prop("ch02.4.fig6", "Bjorck Fig 6: one gradient column dominates without BN, not with BN",
         probe_fig6, judge_fig6, timeout=60.0,
         hint="logit_gradients uses output_gradients and one_class_bias; check both."),
]

# ---------------------------------------------------------------- ch02.5 weight gradients


def probe_weight_grad(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    net = small_convnet(ctx)
    x, y = signals(ctx)
    F.cross_entropy(net(x), y).backward()  # stale gradients a careless version would add
    weight = net.blocks[1].conv.weight
    first = expect_tensor(mod.weight_gradient(net, x, y, weight), "weight_gradient")
    leftover = sum(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in net.parameters())
    second = expect_tensor(mod.weight_gradient(net, x, y, weight), "weight_gradient")
    return {"first": first, "second": second, "leftover": leftover}


def oracle_weight_grad(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    net = small_convnet(ctx).train()
    x, y = signals(ctx)
    F.cross_entropy(net(x), y).backward()  # keep BN's running stats in step with the probe
    weight = net.blocks[1].conv.weight
    grads = []
    for _ in range(2):
        loss = F.cross_entropy(net(x), y, reduction="sum")
        grads.append(torch.autograd.grad(loss, weight)[0])
    return {"first": grads[0], "second": grads[1], "leftover": 0}


def tail_inputs(ctx: ProbeContext) -> list[Any]:
    g = ctx.randn(2000, offset=70)
    return [g, g**3, 1e10 * ctx.randn(40, 50, offset=71)]  # Gaussian, heavy tails, huge scale


def oracle_tail(mod: Any, ctx: ProbeContext) -> list[Any]:
    out = []
    for g in tail_inputs(ctx):
        g = g.double().flatten()
        s = g.std(unbiased=False)
        z = (g - g.mean()) / s
        out.append({"std": float(s), "kurtosis": float(z.pow(4).mean()),
                    "max_over_std": float(z.abs().max())})
    return out


def probe_tail(mod: Any, ctx: ProbeContext) -> list[Any]:
    out = []
    for g in tail_inputs(ctx):
        got = mod.tail_stats(g)
        if not isinstance(got, dict):
            raise ProbeFailure(f"tail_stats returned {type(got).__name__}, expected a dict")
        out.append({k: float(got[k]) for k in ("std", "kurtosis", "max_over_std")})
    return out


def probe_fig2(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = mod.middle_gradients(mod.ResNetConfig(**RESNET, seed=ctx.seed))
    keys = ("std", "kurtosis", "max_over_std")
    return {n: {k: float(out[n][k]) for k in keys} for n in ("none", "batch")}


def judge_fig2(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    # Seeds 0-4, 24 blocks: std ratio 5.7e3-2.4e6. Kurtosis overlaps at this size (none
    # 5.3-23, BN 3.6-6.2), so only the scale is a claim; kurtosis must merely be sane.
    none, bn = got["none"], got["batch"]
    ratio = none["std"] / bn["std"] if bn["std"] > 0 else float("inf")
    text = (f"middle-layer gradient std {none['std']:.3g} without BN, {bn['std']:.3g} with BN "
            f"(ratio {ratio:.3g}); kurtosis {none['kurtosis']:.1f} / {bn['kurtosis']:.1f}")
    if not ratio > 100:
        return Verdict.fail(text + "; expected the gradients without BN to be > 100x larger")
    if not all(1.0 <= r["kurtosis"] < 1e6 for r in (none, bn)):
        return Verdict.fail(text + "; kurtosis is at least 1 for any sample: check tail_stats")
    return Verdict.ok(text)


GRADS = [
    match("ch02.5.weight_grad", "weight_gradient: fresh (no stale .grad), twice the same",
          probe_weight_grad, oracle=oracle_weight_grad,
          hint="model.zero_grad(set_to_none=True) before AND after; clone weight.grad."),
    match("ch02.5.tail", "tail_stats: std, kurtosis and max/std in float64", probe_tail,
          oracle=oracle_tail,
          hint="Convert to float64 first (1e10^4 overflows float32); biased std; kurtosis is "
          "mean(z^4) with z = (g - mean) / std (3 for a Gaussian, not 0)."),
    prop("ch02.5.fig2", "Bjorck Fig 2: middle-layer gradients are far larger without BN",
         probe_fig2, judge_fig2, timeout=60.0,
         hint="middle_gradients uses weight_gradient and tail_stats; check both."),
]

CHECKS_4_5 = (*LOGITS, *GRADS)
