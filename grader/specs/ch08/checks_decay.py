"""ch08.1 (weight decay two ways) and ch08.2 (the four variants).

torch is the oracle for the penalty (computed here from the module types); the variants are
compared with the reference's on a tiny config.
"""

from __future__ import annotations

import copy
from typing import Any

from grader.lazy import F, nn, torch
from grader.model import Verdict
from grader.probing import ProbeContext, ProbeFailure, expect_tensor
from grader.specs.ch08.common import SMALL, signals, small_net
from grader.specs.helpers import all_true, api, match, prop

# ---------------------------------------------------------------- ch08.1 weight decay


def nets(ctx: ProbeContext) -> dict[str, Any]:
    from dlbn.models import mlp

    torch.manual_seed(ctx.seed)
    return {
        "batchnorm": small_net(ctx, 1),
        "dropout_no_norm": small_net(ctx, 2, norm="none", dropout=0.3),
        "mlp_layer_norm": mlp(2, 8, 5, norm="layer", num_classes=3).to(ctx.device),
    }


def probe_names(mod: Any, ctx: ProbeContext) -> dict[str, list[str]]:
    out = {}
    for key, net in nets(ctx).items():
        pairs = mod.decayed_parameters(net)
        if not isinstance(pairs, (list, tuple)) or not all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs
        ):
            raise ProbeFailure("decayed_parameters must return a list of (name, parameter) pairs")
        out[key] = [str(name) for name, _ in pairs]
    return out


def oracle_names(mod: Any, ctx: ProbeContext) -> dict[str, list[str]]:
    out = {}
    for key, net in nets(ctx).items():
        weights = {
            id(m.weight) for m in net.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))
        }
        out[key] = [name for name, p in net.named_parameters() if id(p) in weights]
    return out


def penalty_case(penalty: Any, ctx: ProbeContext) -> dict[str, Any]:
    net = small_net(ctx, 3).double()
    with torch.no_grad():  # move gamma and beta off 1 and 0 so that decaying them shows
        for m in net.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.weight.add_(0.5)
                m.bias.add_(0.3)
    value = expect_tensor(penalty(net, 0.03), "l2_penalty")
    grads = {}
    if value.requires_grad:
        names, params = zip(*net.named_parameters(), strict=True)
        got = torch.autograd.grad(value, params, allow_unused=True)
        grads = {n: torch.zeros_like(p) if g is None else g for n, p, g in zip(names, params, got,
                                                                                strict=True)}
    return {"value": value.detach().reshape(()), "grads": grads}


def torch_penalty(net: Any, weight_decay: float) -> Any:
    weights = [m.weight for m in net.modules() if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear))]
    return weight_decay / 2 * sum(w.pow(2).sum() for w in weights)


def probe_two_forms(mod: Any, ctx: ProbeContext) -> dict[str, float]:
    """5 SGD steps (momentum 0.9) in float64: loss + l2_penalty vs SGD's weight_decay."""
    from dlbn.train import param_groups

    wd, lr = 0.05, 0.2
    a = small_net(ctx, 4).double()
    with torch.no_grad():
        for m in a.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.weight.add_(0.5)
    expect_tensor(mod.l2_penalty(a, wd), "l2_penalty")  # not started? say so before any work
    b = copy.deepcopy(a)
    opt_a = torch.optim.SGD(a.parameters(), lr=lr, momentum=0.9)
    opt_b = torch.optim.SGD(param_groups(b, wd, decay_norm_and_bias=False), lr=lr, momentum=0.9)
    for step in range(5):
        x, y = signals(ctx, 16, offset=10 + step)
        x = x.double()
        loss_a = F.cross_entropy(a(x), y) + expect_tensor(mod.l2_penalty(a, wd), "l2_penalty")
        loss_b = F.cross_entropy(b(x), y)
        for opt, loss in ((opt_a, loss_a), (opt_b, loss_b)):
            opt.zero_grad()
            loss.backward()
            opt.step()
    diffs = {n: float((pa - pb).detach().abs().max()) for (n, pa), (_, pb) in
             zip(a.named_parameters(), b.named_parameters(), strict=True)}
    worst = max(diffs, key=diffs.get)
    return {"max_diff": diffs[worst], "worst": worst}


def judge_two_forms(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    if got["max_diff"] <= 1e-9:
        return Verdict.ok(f"max parameter difference {got['max_diff']:.1e}")
    return Verdict.fail(
        f"after 5 SGD steps, loss + l2_penalty(model, lam) and SGD(weight_decay=lam) on the "
        f"conv/linear weights differ by {got['max_diff']:.3g} (in {got['worst']}); they should "
        "take identical steps"
    )


def probe_penalty_contract(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    net = small_net(ctx, 5).double()
    value = mod.l2_penalty(net, 0.1)
    out = {"tensor": isinstance(value, torch.Tensor)}
    if out["tensor"]:
        out.update(scalar=value.numel() == 1, dtype=value.dtype == torch.float64,
                   graph=value.requires_grad, device=value.device.type == torch.device(
                       ctx.device).type)
    bare = nn.Sequential(nn.BatchNorm1d(3)).to(ctx.device)  # nothing to decay
    out["empty_zero"] = float(mod.l2_penalty(bare, 0.1)) == 0.0
    return out


def judge_penalty_contract(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    return all_true(got, {
        "tensor": "l2_penalty should return a tensor (so that it can be added to the loss)",
        "scalar": "l2_penalty should return a single number (a 0-dim tensor)",
        "dtype": "a float64 model's penalty should be float64",
        "graph": "the penalty is not in the autograd graph: do not detach or use no_grad",
        "device": "the penalty is not on the model's device",
        "empty_zero": "a model with no conv/linear weights should have penalty 0",
    })


DECAY = [
    match("ch08.1.decayed_names", "decays conv and linear weights only (no biases, no gamma/beta)",
          probe_names, oracle=oracle_names,
          hint="Keep module.weight of nn.Conv1d/Conv2d/Linear; skip every bias and every norm "
          "layer's gamma and beta."),
    match("ch08.1.penalty", "penalty value and gradient: (lam / 2) * sum ||w||^2",
          lambda mod, ctx: penalty_case(mod.l2_penalty, ctx),
          oracle=lambda mod, ctx: penalty_case(torch_penalty, ctx),
          hint="Our convention has the 1/2: penalty = lam / 2 * sum w^2, gradient lam * w."),
    prop("ch08.1.two_forms", "loss + l2_penalty takes the same SGD steps as weight_decay",
         probe_two_forms, judge_two_forms, timeout=20.0,
         hint="With the 1/2 and the same parameter set, the two forms are one algorithm."),
    api("ch08.1.contract", "penalty is a 0-dim tensor in the graph, 0 with nothing to decay",
        probe_penalty_contract, judge_penalty_contract,
        hint="Sum tensors (not .item() floats) so that autograd reaches the weights."),
]

# ---------------------------------------------------------------- ch08.2 variants


def probe_variants(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    cfg = mod.GapConfig(**SMALL)
    x, y = signals(ctx, 24, offset=30)
    out: dict[str, Any] = {}
    for name in mod.VARIANTS:
        v = mod.make_variant(name, cfg, ctx.seed + 3, ctx.device)
        model, tc = v.model, v.train_config
        model.eval()  # dropout off, so that the loss is deterministic
        logits = model(x)
        loss = v.loss_fn(model, logits, y) if v.loss_fn is not None else F.cross_entropy(logits, y)
        out[name] = {
            "norms": sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()),
            "dropout": [float(m.p) for m in model.modules() if isinstance(m, nn.Dropout)],
            "config": {k: getattr(tc, k) for k in (
                "epochs", "batch_size", "lr", "momentum", "weight_decay", "decay_norm_and_bias",
                "seed", "eval_train", "eval_every")},
            "loss": expect_tensor(loss, f"{name} loss").detach().float(),
            "init": torch.stack([p.detach().float().sum() for p in model.parameters()]),
        }
    return out


def probe_unknown(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    try:
        mod.make_variant("l1", mod.GapConfig(**SMALL), 0, ctx.device)
    except ValueError:
        return {"raised": True}
    return {"raised": False}


VARIANTS = [
    match("ch08.2.variants", "each variant changes exactly one thing (model, config or loss)",
          probe_variants,
          hint="l2: loss_fn only (no optimizer decay); weight_decay: TrainConfig only; dropout "
          "and batchnorm: ModelConfig only; decay_norm_and_bias=False; torch.manual_seed(seed) "
          "right before build_model."),
    api("ch08.2.unknown", "an unknown variant name raises ValueError", probe_unknown,
        lambda got, exp, ctx: Verdict.ok() if got["raised"] else Verdict.fail(
            "make_variant('l1', ...) should raise ValueError naming the valid variants"),
        hint="Check the name against VARIANTS first."),
]

CHECKS = (*DECAY, *VARIANTS)
