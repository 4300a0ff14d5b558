"""ch02.4-5 checks: output-logit gradients, the one-class bias, middle-layer gradients. The
oracle for dL/dlogits is analytic (summed cross-entropy: row i is softmax(z_i) - onehot(y_i));
weight gradients come from ``torch.autograd.grad``."""

from __future__ import annotations

from typing import Any

from grader.lazy import F, torch
from grader.model import Verdict
from grader.probing import ProbeContext, expect_tensor, expect_tuple
from grader.spec import Checks, contract, fail
from grader.specs.ch02.config import RESNET, fields, signals, small_convnet

checks = Checks()


def torch_output_gradients(model: Any, x: Any, y: Any) -> tuple[Any, Any]:
    model.train()
    with torch.no_grad():
        logits = model(x)
    return logits, F.softmax(logits, dim=1) - F.one_hot(y, 10).to(logits.dtype)


@checks.match("ch02.4.grads", "logits and dL/dlogits = softmax - onehot (summed loss, train mode)",
              against={"output_gradients": torch_output_gradients},
              hint="Use reduction='sum' (each row is one image's gradient) and run in training "
              "mode.")
def grads(output_gradients: Any, ctx: ProbeContext) -> list[Any]:
    x, y = signals(ctx)
    return list(expect_tuple(output_gradients(small_convnet(ctx), x, y), 2, "output_gradients"))


@checks.api("ch02.4.contract", "mode restored, outputs detached, backward reached the parameters",
            hint="model.train() for the pass, then model.train(was_training); return .detach()ed "
            "tensors.",
            judge=contract({
                "mode": "the model came in eval mode and left in training mode: restore its mode",
                "detached": "return detached tensors (logits.detach(), logits.grad)",
                "backward": "the parameters got no .grad: call loss.backward() as a training step "
                "would",
                "unchanged": "the input x was modified",
            }))
def grads_contract(output_gradients: Any, ctx: ProbeContext) -> dict[str, Any]:
    net = small_convnet(ctx).eval()
    x, y = signals(ctx)
    copy = x.clone()
    logits, grad = expect_tuple(output_gradients(net, x, y), 2, "output_gradients")
    return {
        "mode": not net.training,
        "detached": not logits.requires_grad and not grad.requires_grad,
        "backward": net.head.weight.grad is not None,
        "unchanged": torch.equal(x, copy),
    }


def torch_one_class_bias(logits: Any, grad: Any) -> dict[str, float]:
    pred = logits.argmax(dim=1)
    mass = torch.where(grad > 0, grad, torch.zeros_like(grad)).sum(dim=0)
    return {"top_class_share": max(int((pred == k).sum()) for k in range(10)) / len(pred),
            "dominant_column_share": float(mass.max() / mass.sum())}


@checks.match("ch02.4.bias", "one_class_bias on fixed logits and gradients",
              against={"one_class_bias": torch_one_class_bias},
              hint="Positive part per column: grad.clamp(min=0).sum(dim=0); predictions: argmax "
              "over classes (dim 1).")
def bias(one_class_bias: Any, ctx: ProbeContext) -> list[Any]:
    out = []
    for k, lean in enumerate((0.0, 1.5, 6.0)):
        logits = ctx.randn(40, 10, offset=50 + k)
        logits[:, 3] += lean  # lean towards class 3
        y = torch.randint(0, 10, (40,), generator=ctx.generator(60 + k))
        grad = F.softmax(logits, dim=1) - F.one_hot(y, 10).float()
        out.append(fields(one_class_bias(logits, grad),
                          ("top_class_share", "dominant_column_share"), "one_class_bias"))
    return out


@checks.prop("ch02.4.fig6", "Bjorck Fig 6: one gradient column dominates without BN, not with BN",
             hint="logit_gradients uses output_gradients and one_class_bias; check both.")
def fig6(logit_gradients: Any, ResNetConfig: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = logit_gradients(ResNetConfig(**RESNET, seed=ctx.seed))
    keys = ("dominant_column_share", "top_class_share")
    return {n: fields(out[n], keys, f"logit_gradients(...)[{n!r}]") for n in ("none", "batch")}


@fig6.judge
def _(got: dict[str, Any]) -> Verdict:
    # Seeds 0-4, 24 blocks: column share 1.00 without BN, 0.15-0.17 with BN.
    none, bn = got["none"], got["batch"]
    text = (f"dominant column share {none['dominant_column_share']:.2f} without BN, "
            f"{bn['dominant_column_share']:.2f} with BN (top-class share "
            f"{none['top_class_share']:.2f} / {bn['top_class_share']:.2f})")
    if not none["dominant_column_share"] > 0.6:
        fail(text + "; without BN one column should carry > 0.6 of the mass")
    if not bn["dominant_column_share"] < 0.3:
        fail(text + "; with BN no column should carry 0.3 or more")
    return Verdict.ok(text)


# ---------------------------------------------------------------- ch02.5 weight gradients


def torch_weight_gradient(model: Any, x: Any, y: Any, weight: Any) -> Any:
    model.zero_grad(set_to_none=True)  # the stale gradients, not counted by the probe
    return torch.autograd.grad(F.cross_entropy(model(x), y, reduction="sum"), weight)[0]


@checks.match("ch02.5.weight_grad", "weight_gradient: fresh (no stale .grad), twice the same",
              against={"weight_gradient": torch_weight_gradient},
              hint="model.zero_grad(set_to_none=True) before AND after; clone weight.grad.")
def weight_grad(weight_gradient: Any, ctx: ProbeContext) -> dict[str, Any]:
    net = small_convnet(ctx)
    x, y = signals(ctx)
    F.cross_entropy(net(x), y).backward()  # stale gradients a careless version would add
    weight = net.blocks[1].conv.weight
    first = expect_tensor(weight_gradient(net, x, y, weight), "weight_gradient")
    leftover = sum(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in net.parameters())
    second = expect_tensor(weight_gradient(net, x, y, weight), "weight_gradient")
    return {"first": first, "second": second, "leftover": leftover}


def torch_tail_stats(g: Any) -> dict[str, float]:
    g = g.double().flatten()
    s = g.std(unbiased=False)
    z = (g - g.mean()) / s
    return {"std": float(s), "kurtosis": float(z.pow(4).mean()),
            "max_over_std": float(z.abs().max())}


@checks.match("ch02.5.tail", "tail_stats: std, kurtosis and max/std in float64",
              against={"tail_stats": torch_tail_stats},
              hint="Convert to float64 first (1e10^4 overflows float32); biased std; kurtosis is "
              "mean(z^4) with z = (g - mean) / std (3 for a Gaussian, not 0).")
def tail(tail_stats: Any, ctx: ProbeContext) -> list[Any]:
    g = ctx.randn(2000, offset=70)
    out = []
    for sample in (g, g**3, 1e10 * ctx.randn(40, 50, offset=71)):  # Gaussian, heavy, huge
        out.append(fields(tail_stats(sample), ("std", "kurtosis", "max_over_std"), "tail_stats"))
    return out


@checks.prop("ch02.5.fig2", "Bjorck Fig 2: middle-layer gradients are far larger without BN",
             hint="middle_gradients uses weight_gradient and tail_stats; check both.")
def fig2(middle_gradients: Any, ResNetConfig: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = middle_gradients(ResNetConfig(**RESNET, seed=ctx.seed))
    keys = ("std", "kurtosis", "max_over_std")
    return {n: fields(out[n], keys, f"middle_gradients(...)[{n!r}]") for n in ("none", "batch")}


@fig2.judge
def _(got: dict[str, Any]) -> Verdict:
    # Seeds 0-4, 24 blocks: std ratio 5.7e3-2.4e6. Kurtosis overlaps at this size (none
    # 5.3-23, BN 3.6-6.2), so only the scale is a claim; kurtosis must merely be sane.
    none, bn = got["none"], got["batch"]
    ratio = none["std"] / bn["std"] if bn["std"] > 0 else float("inf")
    text = (f"middle-layer gradient std {none['std']:.3g} without BN, {bn['std']:.3g} with BN "
            f"(ratio {ratio:.3g}); kurtosis {none['kurtosis']:.1f} / {bn['kurtosis']:.1f}")
    if not ratio > 100:
        fail(text + "; expected the gradients without BN to be > 100x larger")
    if not all(1.0 <= r["kurtosis"] < 1e6 for r in (none, bn)):
        fail(text + "; kurtosis is at least 1 for any sample: check tail_stats")
    return Verdict.ok(text)
