"""ch02.1-3 checks: channel statistics and the collapse share, hooks that record them, and
the fixes (He init, frozen batch norm, shifted ReLU). torch is the oracle wherever it can be.
"""

from __future__ import annotations

import math
from typing import Any

from grader.lazy import F, nn, torch
from grader.model import Verdict
from grader.probing import ProbeContext, expect_tensor, expect_tuple
from grader.spec import Checks, contract, fail
from grader.specs.ch02.config import COLLAPSE, RESNET, fields, small_convnet, small_mlp

checks = Checks()


def torch_stats(x: Any) -> tuple[Any, Any]:
    flat = x.transpose(0, 1).reshape(x.shape[1], -1)  # (C, m)
    return flat.mean(dim=1), flat.var(dim=1, unbiased=False).sqrt()


def torch_share(x: Any) -> Any:
    within = torch_stats(x)[1].pow(2).mean()
    return 1 - within / x.var(unbiased=False)  # law of total variance


def stats_inputs(ctx: ProbeContext) -> list[Any]:
    offsets = ctx.randn(1, 5, 1, dtype=torch.float64, offset=9, std=2.0)
    return [
        ctx.randn(12, 4, dtype=torch.float64, mean=1.0, std=3.0),
        ctx.randn(6, 5, 7, offset=1) + offsets.float(),
        ctx.randn(3, 2, 4, 5, dtype=torch.float64, offset=2),
    ]


@checks.match("ch02.1.stats", "channel_stats on (N, C), (N, C, L), (N, C, H, W)",
              against={"channel_stats": torch_stats},
              hint="Reduce over every axis except 1 (batch AND positions); biased std "
              "(correction=0).")
def stats(channel_stats: Any, ctx: ProbeContext) -> list[Any]:
    return [list(expect_tuple(channel_stats(x), 2, "channel_stats")) for x in stats_inputs(ctx)]


@checks.match("ch02.1.collapse", "collapse_share equals 1 - within / total variance",
              against={"collapse_share": torch_share},
              hint="Share = Var_c(mu_c) / (Var_c(mu_c) + mean_c sigma_c^2): BETWEEN-channel "
              "variance over the total.")
def collapse(collapse_share: Any, ctx: ProbeContext) -> list[Any]:
    xs = stats_inputs(ctx)
    xs.append(xs[1] * 0.01 + 5 * ctx.randn(1, 5, 1, offset=3))  # nearly constant channels
    return [expect_tensor(collapse_share(x), "collapse_share") for x in xs]


@checks.api("ch02.1.contract", "shapes, dtype, input untouched, constant channels give 1",
            hint="Return (mean, std) of shape (C,) and a 0-dim share; do not modify x.",
            judge=contract({
                "shapes": "channel_stats should return two (C,) tensors for a (N, C, L) input",
                "scalar": "collapse_share should return a 0-dim tensor with the input's dtype",
                "unchanged": "the input x was modified in place",
                "constant": "collapse_share of channels that are each constant should be 1",
            }))
def stats_contract(channel_stats: Any, collapse_share: Any, ctx: ProbeContext) -> dict[str, Any]:
    x = ctx.randn(8, 3, 5, mean=2.0)
    copy = x.clone()
    mean, std = expect_tuple(channel_stats(x), 2, "channel_stats")
    share = expect_tensor(collapse_share(x), "collapse_share")
    constant = torch.arange(3.0).reshape(1, 3, 1).expand(8, 3, 5) + 0 * x  # channel c == c
    return {
        "shapes": tuple(mean.shape) == (3,) and tuple(std.shape) == (3,),
        "scalar": share.dim() == 0 and share.dtype == x.dtype,
        "unchanged": torch.equal(x, copy),
        "constant": abs(float(collapse_share(constant)) - 1.0) < 1e-6,
    }


# ---------------------------------------------------------------- ch02.2 hooks


def walk_layers(model: Any, x: Any, layers: list[Any], *, train: bool) -> dict[str, Any]:
    """torch's record_stats: walk an nn.Sequential by hand, reduce each chosen output."""
    model.train(train)
    outs: dict[int, Any] = {}
    h = x
    with torch.no_grad():
        for module in model:
            h = module(h)
            outs.update({i: h for i, layer in enumerate(layers) if layer is module})
    hs = [outs[i] for i in range(len(layers))]  # in the order of `layers`
    means, stds = zip(*(torch_stats(h) for h in hs), strict=True)
    return {"mean": torch.stack(means), "std": torch.stack(stds),
            "collapse": torch.stack([torch_share(h) for h in hs])}


@checks.match("ch02.2.record", "per-layer statistics match a layer-by-layer walk",
              against={"record_stats": walk_layers},
              hint="Hook each layer's OUTPUT (register_forward_hook), run in the requested mode "
              "under no_grad, and stack in the order of `layers`.")
def record(record_stats: Any, ctx: ProbeContext) -> list[Any]:
    mlp, net = small_mlp(ctx), small_convnet(ctx)
    x, s = ctx.randn(10, 5, dtype=torch.float64, offset=20), ctx.randn(6, 1, 40, offset=21)
    out = []
    for model, inputs, layers, train in (
        (mlp, x, list(mlp), True),  # every layer, batch statistics
        (mlp, x, [mlp[3], mlp[1]], True),  # the order of `layers`, not of execution
        (net.blocks, s, list(net.blocks), False),  # conv blocks, eval mode
    ):
        out.append(fields(record_stats(model, inputs, layers, train=train),
                          ("mean", "std", "collapse"), "record_stats", expect_tensor))
    return out


@checks.api("ch02.2.clean", "hooks removed (even on error), mode restored, input untouched",
            hint="Keep the handles; remove them and call model.train(was_training) in a finally "
            "block.",
            judge=contract({
                "hooks_removed": "hooks are still registered after record_stats returned: keep "
                "the handles and call handle.remove()",
                "eval_restored": "the model came in eval mode and left in training mode",
                "train_restored": "the model came in training mode and left in eval mode",
                "unchanged": "the input x was modified",
                "hooks_removed_on_error": "when the model raised, hooks stayed registered: "
                "remove them in a finally block",
            }))
def clean(record_stats: Any, ctx: ProbeContext) -> dict[str, Any]:
    mlp = small_mlp(ctx)
    x = ctx.randn(10, 5, dtype=torch.float64, offset=20)
    copy = x.clone()
    out: dict[str, Any] = {}

    def hooks_left(model: Any) -> int:  # forward hooks and pre-hooks, anywhere in model
        return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())

    mlp.eval()
    record_stats(mlp, x, list(mlp), train=True)
    out["hooks_removed"] = hooks_left(mlp) == 0
    out["eval_restored"] = not mlp.training
    mlp.train()
    record_stats(mlp, x, list(mlp), train=False)
    out["train_restored"] = mlp.training
    out["unchanged"] = torch.equal(x, copy)

    class Boom(Exception):
        """A layer's failure, raised on purpose."""

    def explode(module: Any, inputs: Any) -> None:
        raise Boom("a layer failed")

    bomb = mlp[2].register_forward_pre_hook(explode)
    try:
        record_stats(mlp, x, list(mlp), train=True)
    except Boom:
        pass
    bomb.remove()
    out["hooks_removed_on_error"] = hooks_left(mlp) == 0
    return out


@checks.prop("ch02.2.fig5", "Bjorck Fig 5: the stream grows with depth without BN, not with BN",
             hint="stream_stats uses record_stats on the blocks; check that it records outputs "
             "in training mode.")
def fig5(stream_stats: Any, ResNetConfig: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = stream_stats(ResNetConfig(**RESNET, seed=ctx.seed))
    return {n: {k: float(v[-1] / v[0]) for k, v in out[n].items()} for n in ("none", "batch")}


@fig5.judge
def _(got: dict[str, Any]) -> Verdict:
    # Seeds 0-4, 24 blocks: std growth 167-7e3 without BN, 2.1-3.3 with BN.
    none, bn = got["none"], got["batch"]
    text = (f"growth of the stream's channel std from block 1 to {RESNET['num_blocks']}: "
            f"{none['std']:.3g}x without BN, {bn['std']:.3g}x with BN")
    if not (none["std"] > 30 and none["mean"] > 30):
        fail(text + " (expected > 30x without BN)")
    if not bn["std"] < 10:
        fail(text + " (expected < 10x with BN)")
    return Verdict.ok(text)


# ---------------------------------------------------------------- ch02.3 init and fixes


@checks.api("ch02.3.he_std", "he_normal_: std sqrt(2 / fan_in), in place, no autograd history",
            hint="fan_in = weight[0].numel() (C_in * kernel), not C_out.")
def he_std(he_normal_: Any, ctx: ProbeContext) -> dict[str, Any]:
    out = {}
    for name, shape in {"linear": (256, 1024), "conv": (64, 32, 5)}.items():
        w = nn.Parameter(torch.empty(*shape, device=ctx.device))
        back = he_normal_(w, torch.Generator(device=ctx.device).manual_seed(ctx.seed))
        std = math.sqrt(2.0 / math.prod(shape[1:]))
        out[name] = {"ratio": float(w.detach().std() / std), "mean": float(w.detach().mean() / std),
                     "in_place": back is w, "leaf": w.grad_fn is None}
    return out


@he_std.judge
def _(got: dict[str, Any]) -> None:
    for name, r in got.items():
        if not r["in_place"]:
            fail(f"{name}: he_normal_ should fill `weight` in place and return it")
        if not r["leaf"]:
            fail(f"{name}: the weight gained autograd history: use torch.no_grad")
        if not 0.97 < r["ratio"] < 1.03 or abs(r["mean"]) > 0.03:
            fail(f"{name} weight: std is {r['ratio']:.3f} x sqrt(2 / fan_in), expected 1.00 "
                 "(a ratio of 0.5 or 2 means fan_out was used)")


@checks.match("ch02.3.he_values", "he_normal_ draws what nn.init.kaiming_normal_ draws",
              against={"he_normal_": lambda w, generator: nn.init.kaiming_normal_(
                  w, nonlinearity="relu", generator=generator)},
              hint="Draw with weight.normal_(0, std, generator=generator) so seeds reproduce.")
def he_values(he_normal_: Any, ctx: ProbeContext) -> list[Any]:
    ws = [torch.empty(7, 3), torch.empty(4, 2, 3)]
    for w in ws:
        he_normal_(w, torch.Generator().manual_seed(ctx.seed + 5))
    return ws


def frozen_inputs(ctx: ProbeContext) -> tuple[Any, Any, Any, Any]:
    """A calibration batch, a next batch, gamma and beta, for C = 4 channels."""
    a = ctx.randn(16, 4, 5, dtype=torch.float64, offset=30, mean=1.0, std=2.0)
    b = ctx.randn(8, 4, 5, dtype=torch.float64, offset=31, mean=-0.5, std=0.5)
    weight = 1 + 0.3 * ctx.randn(4, dtype=torch.float64, offset=32)
    return a, b, weight, ctx.randn(4, dtype=torch.float64, offset=33)


def torch_frozen(ctx: ProbeContext) -> dict[str, Any]:
    a, b, weight, bias = frozen_inputs(ctx)
    mean, var = a.mean(dim=(0, 2)), a.var(dim=(0, 2), unbiased=False)
    fixed = F.batch_norm(b, mean, var, weight, bias, False, 0.0, 1e-5)
    return {"calib": F.batch_norm(a, None, None, weight, bias, True, 0.0, 1e-5), "next": fixed,
            "eval": fixed, "running_mean": mean, "running_var": var}


@checks.match("ch02.3.frozen", "FrozenBatchNorm: batch norm on its first batch, then fixed",
              against=torch_frozen,
              hint="Measure mean and BIASED variance only on the first call; later calls reuse "
              "them.")
def frozen(FrozenBatchNorm: Any, ctx: ProbeContext) -> dict[str, Any]:
    a, b, weight, bias = frozen_inputs(ctx)
    fbn = FrozenBatchNorm(a.shape[1]).double().to(a.device)
    with torch.no_grad():
        fbn.weight.copy_(weight)
        fbn.bias.copy_(bias)
    out = {"calib": expect_tensor(fbn(a), "FrozenBatchNorm(calibration batch)")}
    out["next"] = expect_tensor(fbn(b), "FrozenBatchNorm(next batch)")
    fbn.eval()
    out["eval"] = expect_tensor(fbn(b), "FrozenBatchNorm(eval)")
    out["running_mean"], out["running_var"] = fbn.running_mean, fbn.running_var
    return out


@checks.api("ch02.3.frozen_state",
            "FrozenBatchNorm: buffers like BatchNorm1d, no autograd in stats",
            hint="register_buffer the statistics; copy_ into them under torch.no_grad().",
            judge=contract({
                "keys": "state_dict keys should be nn.BatchNorm1d's: weight, bias, running_mean, "
                "running_var, num_batches_tracked",
                "no_grad_buffers": "the stored statistics require grad: calibrate under "
                "torch.no_grad()",
                "tracked": "num_batches_tracked should be 1 after calibration",
                "grads": "backward through FrozenBatchNorm should reach x, weight and bias",
            }))
def frozen_state(FrozenBatchNorm: Any, ctx: ProbeContext) -> dict[str, Any]:
    fbn = FrozenBatchNorm(3).to(ctx.device)
    x = ctx.randn(6, 3, mean=1.0).requires_grad_()
    y = fbn(x)
    out = {
        "keys": list(fbn.state_dict().keys()) == list(nn.BatchNorm1d(3).state_dict().keys()),
        "no_grad_buffers": not fbn.running_mean.requires_grad and not fbn.running_var.requires_grad,
        "tracked": int(fbn.num_batches_tracked) == 1,
    }
    y.sum().backward()
    out["grads"] = x.grad is not None and fbn.weight.grad is not None and fbn.bias.grad is not None
    return out


@checks.match("ch02.3.shifted", "shifted_relu matches (relu(x) - sqrt(1/pi)) / sqrt(1 - 1/pi)",
              against={"shifted_relu": lambda x: (F.relu(x) - math.sqrt(1 / math.pi))
                       / math.sqrt(1 - 1 / math.pi)},
              hint="The constants are for N(0, 2) inputs: mean sqrt(1/pi), variance 1 - 1/pi.")
def shifted(shifted_relu: Any, ctx: ProbeContext) -> Any:
    x = ctx.randn(50, dtype=torch.float64, offset=40, std=math.sqrt(2.0))
    return expect_tensor(shifted_relu(x), "shifted_relu")


@checks.prop("ch02.3.collapse", "the plain net collapses; BN, frozen BN and shifted ReLU do not",
             hint="If every variant collapses, check FrozenBatchNorm and shifted_relu; if none "
             "does, check collapse_share and he_normal_.")
def collapse_fixed(collapse_vs_depth: Any, CollapseConfig: Any, ctx: ProbeContext) -> Any:
    out = collapse_vs_depth(CollapseConfig(**COLLAPSE, seed=ctx.seed))
    return {k: float(v[-1]) for k, v in out.items()}


@collapse_fixed.judge
def _(got: dict[str, float]) -> Verdict:
    # Seeds 0-2 (depth 50, width 64): plain 0.79-0.86; BN, frozen, shifted at most 0.04.
    text = "collapse share at the last layer: " + ", ".join(f"{k} {v:.3f}" for k, v in got.items())
    if not got["plain"] > 0.6:
        fail(text + " (the plain ReLU net should collapse: expected > 0.6)")
    bad = [k for k in ("batch", "frozen", "shifted") if not got[k] < 0.15]
    if bad:
        fail(text + f" ({', '.join(bad)} should not collapse: expected < 0.15)")
    return Verdict.ok(text)
