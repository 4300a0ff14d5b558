"""ch03.1 (noisy batch norm) and ch03.2 (three kinds of nets, trained) checks. nn.BatchNorm1d
is the oracle for everything but the noise; the noise itself is checked by fitting
y = scale_c * BN(x) + shift_c per channel and looking at the draws over many steps."""

from grader.lazy import F, nn, torch
from grader.model import Verdict
from grader.probing import expect_tensor
from grader.spec import Checks, contract, fail
from grader.specs.ch03 import config
from grader.specs.ch03.config import KINDS, NOISE_MEAN, NOISE_STD, TRAIN_LR

checks = Checks(timeout_floor=60)


def layer(NoisyBatchNorm, ctx, C=4):
    bn = NoisyBatchNorm(C, noise_mean=NOISE_MEAN, noise_std=NOISE_STD).double()
    with torch.no_grad():
        bn.weight.copy_(1 + 0.5 * ctx.randn(C, dtype=torch.float64, offset=1))
        bn.bias.copy_(ctx.randn(C, dtype=torch.float64, offset=2))
    return bn.to(ctx.device)


def torch_noisy(C, noise_mean, noise_std):
    """The oracle for all but the noise: nn.BatchNorm1d, its eval output times the mean scale."""
    bn = nn.BatchNorm1d(C)
    bn.register_forward_hook(lambda m, _, y: y if m.training else (1 + noise_std) / 2 * y)
    return bn


def fit(bn, x):
    """One training forward; per channel least squares of y on z = plain batch norm of x."""
    z = F.batch_norm(x, None, None, bn.weight, bn.bias, True, 0.0, bn.eps).detach()
    y = expect_tensor(bn(x), "NoisyBatchNorm.forward").detach()
    z, y = (t.transpose(0, 1).reshape(t.shape[1], -1) for t in (z, y))  # (C, m)
    zc, yc = z - z.mean(1, keepdim=True), y - y.mean(1, keepdim=True)
    scale = (zc * yc).sum(1) / (zc**2).sum(1)
    shift = (y - scale[:, None] * z).mean(1)
    return scale, shift, float((y - scale[:, None] * z - shift[:, None]).abs().max())


@checks.prop("ch03.1.noise",
             "per-channel noise, U(-0.5, 0.5) shift and U(1, 2) scale, new every step",
             hint="In training mode call draw_noise on EVERY forward; shift_c ~ U(-noise_mean, "
             "noise_mean), scale_c ~ U(1, noise_std), one per channel.")
def noise(NoisyBatchNorm, ctx):
    bn = layer(NoisyBatchNorm, ctx).train()
    x = ctx.randn(8, 4, 6, dtype=torch.float64, offset=3, std=2.0, mean=1.0)
    torch.manual_seed(ctx.seed)
    scales, shifts, residuals = zip(*(fit(bn, x) for _ in range(40)), strict=True)
    scales, shifts = torch.stack(scales), torch.stack(shifts)  # (steps, C)
    last = (bn.last_scale, bn.last_shift)
    return {"residual": max(residuals), "scale_mean": float(scales.mean()),
            "scale_min": float(scales.min()), "scale_max": float(scales.max()),
            "shift_absmax": float(shifts.abs().max()), "shift_absmean": float(shifts.abs().mean()),
            "scale_step_std": float(scales.std(0).min()),
            "shift_step_std": float(shifts.std(0).min()), "channel_std": float(shifts.std(1).min()),
            "last_ok": all(isinstance(t, torch.Tensor) for t in last)
            and torch.allclose(last[0].double(), scales[-1], atol=1e-6)
            and torch.allclose(last[1].double(), shifts[-1], atol=1e-6)}


@noise.judge
def _(got):
    if got["residual"] > 1e-6:
        fail(f"y is not scale_c * BN(x) + shift_c per channel (residual {got['residual']:.3g}): "
             "one scale and shift per channel, shared by all examples and positions")
    if got["shift_step_std"] < 0.05 or got["scale_step_std"] < 0.05:
        fail(f"over 40 steps the noise of some channel hardly changed (std of shift "
             f"{got['shift_step_std']:.3g}, of scale {got['scale_step_std']:.3g}): draw new "
             "noise at EVERY training forward")
    lo, hi, mean = got["scale_min"], got["scale_max"], got["scale_mean"]
    if lo < 1 - 1e-6 or hi > NOISE_STD + 1e-6 or abs(mean - (1 + NOISE_STD) / 2) > 0.15:
        fail(f"scales should be U(1, {NOISE_STD}) (mean {(1 + NOISE_STD) / 2}); got range "
             f"[{lo:.3g}, {hi:.3g}], mean {mean:.3g}")
    if got["shift_absmax"] > NOISE_MEAN + 1e-6 or abs(got["shift_absmean"] - NOISE_MEAN / 2) > 0.08:
        fail(f"shifts should be U(-{NOISE_MEAN}, {NOISE_MEAN}) (mean |shift| {NOISE_MEAN / 2}); "
             f"got max |shift| {got['shift_absmax']:.3g}, mean |shift| "
             f"{got['shift_absmean']:.3g}")
    if got["channel_std"] < 1e-6:
        fail("every channel got the same noise: draw one value per channel")
    if not got["last_ok"]:
        fail("last_scale / last_shift do not hold the noise of the last step")
    return Verdict.ok(f"scale in [{lo:.2f}, {hi:.2f}], mean |shift| {got['shift_absmean']:.2f}")


@checks.match("ch03.1.batch_norm_part",
              "running statistics like nn.BatchNorm1d; eval = mean scale x BN",
              against={"NoisyBatchNorm": torch_noisy},
              hint="Call super().forward(x) for the batch norm; in eval mode draw nothing and "
              "multiply by the expected scale (1 + noise_std) / 2.")
def batch_norm_part(NoisyBatchNorm, ctx):
    """3 training forwards, then eval: the running statistics and the eval output."""
    bn = layer(NoisyBatchNorm, ctx)
    torch.manual_seed(ctx.seed)
    for step in range(3):
        bn(ctx.randn(6, 4, 5, dtype=torch.float64, offset=10 + step, std=2.0, mean=1.0))
    bn.eval()
    y = expect_tensor(bn(ctx.randn(6, 4, 5, dtype=torch.float64, offset=20)),
                      "NoisyBatchNorm.forward")
    return {"eval": y.detach(), "state": dict(bn.state_dict())}


@checks.api("ch03.1.contract", "shape, dtype, autograd, state_dict of nn.BatchNorm1d",
            hint="Build y from super().forward(x) without in-place ops on x; keep it "
            "differentiable.",
            judge=contract({
                "shape": "the output's shape differs from the input's",
                "dtype": "the output's dtype differs from the input's",
                "unchanged": "the input x was modified in place",
                "autograd": "the output does not require grad: keep the noise inside the graph",
                "grads": "backward did not reach x, weight and bias",
                "keys": "state_dict keys differ from nn.BatchNorm1d's: the noise is not state",
                "two_d": "(N, C) input should work as for nn.BatchNorm1d",
            }))
def contract_probe(NoisyBatchNorm, ctx):
    bn = layer(NoisyBatchNorm, ctx).float()
    x = ctx.randn(5, 4, 7, offset=4).requires_grad_()
    copy = x.detach().clone()
    y = expect_tensor(bn(x), "NoisyBatchNorm.forward")
    out = {"shape": tuple(y.shape) == tuple(x.shape), "dtype": y.dtype == x.dtype,
           "unchanged": torch.equal(x.detach(), copy), "autograd": y.requires_grad,
           "keys": list(bn.state_dict()) == list(nn.BatchNorm1d(4).state_dict())}
    if y.requires_grad:
        (y * ctx.randn(*y.shape, offset=5)).sum().backward()
        out["grads"] = all(t.grad is not None for t in (x, bn.weight, bn.bias))
    out["two_d"] = tuple(bn(ctx.randn(7, 4, offset=6)).shape) == (7, 4)  # (N, C) works too
    return out


# ch03.2: the three kinds of nets, built and trained
@checks.match("ch03.2.build", "the three kinds: norms, noise settings, same conv init per seed",
              hint="norm='none' / 'batch', then swap every block.norm for "
              "NoisyBatchNorm(num_features, noise_mean, noise_std); ValueError for other kinds.")
def build(build_net, ctx):
    cfg = config.model_cfg(depth=3, width=8)
    out = {}
    for kind in KINDS:
        torch.manual_seed(ctx.seed)
        blocks = build_net(kind, cfg, noise_mean=0.3, noise_std=1.7).blocks
        noise = [(getattr(b.norm, "noise_mean", None), getattr(b.norm, "noise_std", None))
                 for b in blocks]
        out[kind] = {"norms": [type(b.norm).__name__ for b in blocks],
                     "noise": str(noise) if kind == "noisy" else "",
                     "conv": [b.conv.weight.detach() for b in blocks]}
    try:
        build_net("group", cfg)
        out["unknown"] = "no error"
    except ValueError:
        out["unknown"] = "ValueError"
    return out


@checks.prop("ch03.2.training",
             "at BN's LR noisy BN trains about as well as BN, far better than standard",
             timeout=240, hint="train_net must seed torch with train_cfg.seed, build the kind "
             "asked for and train it with dlbn.train.train.")
def training(train_net, ctx):
    d, model_cfg, cfg = config.run(ctx, config.TRAINING)
    data = (d.x_train, d.y_train, d.x_test, d.y_test)  # the tuple train_net's docstring names
    results = {kind: train_net(kind, data, model_cfg, cfg) for kind in KINDS}
    return {kind: 0.0 if r.diverged else float(r.final_train_acc) for kind, r in results.items()}


@training.judge
def _(got):
    s, b, n = got["standard"], got["batch"], got["noisy"]
    text = f"train accuracy at lr {TRAIN_LR}: standard {s:.3f}, BN {b:.3f}, noisy BN {n:.3f}"
    # 3 seeds (README): noisy - standard 0.22 to 0.35, BN - noisy 0.19 to 0.23
    if n < s + 0.15:
        fail(text + "; expected noisy BN >= standard + 0.15")
    if n < b - 0.3:
        fail(text + "; expected noisy BN within 0.3 of BN")
    return Verdict.ok(text)
