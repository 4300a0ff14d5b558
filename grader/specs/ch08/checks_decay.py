"""ch08.1 (weight decay two ways) and ch08.2 (the four variants). torch is the oracle for
the penalty (from the module types); the variants are compared with the reference's."""

from __future__ import annotations

import copy
from typing import Any

from grader.lazy import F, nn, torch
from grader.model import Verdict
from grader.probing import ProbeContext, ProbeFailure, expect_tensor
from grader.spec import Checks, contract, fail
from grader.specs.ch08.config import SMALL, signals, small_net

checks = Checks()


def torch_decayed(model: Any) -> list[tuple[str, Any]]:
    layers = (nn.Conv1d, nn.Conv2d, nn.Linear)
    weights = {id(m.weight) for m in model.modules() if isinstance(m, layers)}
    return [(name, p) for name, p in model.named_parameters() if id(p) in weights]


def torch_penalty(model: Any, weight_decay: float) -> Any:
    return weight_decay / 2 * sum(p.pow(2).sum() for _, p in torch_decayed(model))


@checks.match("ch08.1.decayed_names",
              "decays conv and linear weights only (no biases, no gamma/beta)",
              against={"decayed_parameters": torch_decayed},
              hint="Keep module.weight of nn.Conv1d/Conv2d/Linear; skip every bias and every norm "
              "layer's gamma and beta.")
def decayed_names(decayed_parameters: Any, ctx: ProbeContext) -> dict[str, list[str]]:
    from dlbn.models import mlp

    torch.manual_seed(ctx.seed)
    nets = {
        "batchnorm": small_net(ctx, 1),
        "dropout_no_norm": small_net(ctx, 2, norm="none", dropout=0.3),
        "mlp_layer_norm": mlp(2, 8, 5, norm="layer", num_classes=3).to(ctx.device),
    }
    out = {}
    for key, net in nets.items():
        pairs = decayed_parameters(net)
        if not isinstance(pairs, (list, tuple)) or not all(
            isinstance(p, (list, tuple)) and len(p) == 2 for p in pairs
        ):
            raise ProbeFailure("decayed_parameters must return a list of (name, parameter) pairs")
        out[key] = [str(name) for name, _ in pairs]
    return out


def shifted_bn(net: Any, gamma: float, beta: float = 0.0) -> Any:
    """Move BN's gamma and beta off 1 and 0, so that decaying them shows."""
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm1d):
                m.weight.add_(gamma)
                m.bias.add_(beta)
    return net


@checks.match("ch08.1.penalty", "penalty value and gradient: (lam / 2) * sum ||w||^2",
              against={"l2_penalty": torch_penalty},
              hint="Our convention has the 1/2: penalty = lam / 2 * sum w^2, gradient lam * w.")
def penalty(l2_penalty: Any, ctx: ProbeContext) -> dict[str, Any]:
    net = shifted_bn(small_net(ctx, 3).double(), 0.5, 0.3)
    value = expect_tensor(l2_penalty(net, 0.03), "l2_penalty")
    grads = {}
    if value.requires_grad:  # unused parameters get zeros
        names, params = zip(*net.named_parameters(), strict=True)
        grads = dict(zip(names, torch.autograd.grad(value, params, allow_unused=True,
                                                    materialize_grads=True), strict=True))
    return {"value": value.detach().reshape(()), "grads": grads}


@checks.prop("ch08.1.two_forms", "loss + l2_penalty takes the same SGD steps as weight_decay",
             timeout=20.0,
             hint="With the 1/2 and the same parameter set, the two forms are one algorithm.")
def two_forms(l2_penalty: Any, ctx: ProbeContext) -> dict[str, Any]:
    """5 SGD steps (momentum 0.9) in float64: loss + l2_penalty vs SGD's weight_decay."""
    from dlbn.train import param_groups

    wd, lr = 0.05, 0.2
    a = shifted_bn(small_net(ctx, 4).double(), 0.5)
    expect_tensor(l2_penalty(a, wd), "l2_penalty")  # not started? say so before any work
    b = copy.deepcopy(a)
    opt_a = torch.optim.SGD(a.parameters(), lr=lr, momentum=0.9)
    opt_b = torch.optim.SGD(param_groups(b, wd, decay_norm_and_bias=False), lr=lr, momentum=0.9)
    for step in range(5):
        x, y = signals(ctx, 16, offset=10 + step)
        loss_a = F.cross_entropy(a(x.double()), y) + expect_tensor(l2_penalty(a, wd), "l2_penalty")
        loss_b = F.cross_entropy(b(x.double()), y)
        for opt, loss in ((opt_a, loss_a), (opt_b, loss_b)):
            opt.zero_grad()
            loss.backward()
            opt.step()
    diffs = {n: float((pa - pb).detach().abs().max()) for (n, pa), (_, pb) in
             zip(a.named_parameters(), b.named_parameters(), strict=True)}
    worst = max(diffs, key=diffs.get)
    return {"max_diff": diffs[worst], "worst": worst}


@two_forms.judge
def _(got: dict[str, Any]) -> Verdict:
    if got["max_diff"] > 1e-9:
        fail(f"after 5 SGD steps, loss + l2_penalty(model, lam) and SGD(weight_decay=lam) on the "
             f"conv/linear weights differ by {got['max_diff']:.3g} (in {got['worst']}); they "
             "should take identical steps")
    return Verdict.ok(f"max parameter difference {got['max_diff']:.1e}")


@checks.api("ch08.1.contract", "penalty is a 0-dim tensor in the graph, 0 with nothing to decay",
            hint="Sum tensors (not .item() floats) so that autograd reaches the weights.",
            judge=contract({
                "tensor": "l2_penalty should return a tensor (so that it can be added to the loss)",
                "scalar": "l2_penalty should return a single number (a 0-dim tensor)",
                "dtype": "a float64 model's penalty should be float64",
                "graph": "the penalty is not in the autograd graph: do not detach or use no_grad",
                "device": "the penalty is not on the model's device",
                "empty_zero": "a model with no conv/linear weights should have penalty 0",
            }))
def penalty_contract(l2_penalty: Any, ctx: ProbeContext) -> dict[str, Any]:
    value = l2_penalty(small_net(ctx, 5).double(), 0.1)
    out = {"tensor": isinstance(value, torch.Tensor)}
    if out["tensor"]:
        out.update(scalar=value.numel() == 1, dtype=value.dtype == torch.float64,
                   graph=value.requires_grad,
                   device=value.device.type == torch.device(ctx.device).type)
    bare = nn.Sequential(nn.BatchNorm1d(3)).to(ctx.device)  # nothing to decay
    out["empty_zero"] = float(l2_penalty(bare, 0.1)) == 0.0
    return out


@checks.match("ch08.2.variants", "each variant changes exactly one thing (model, config or loss)",
              hint="l2: loss_fn only (no optimizer decay); weight_decay: TrainConfig only; "
              "dropout and batchnorm: ModelConfig only; decay_norm_and_bias=False; "
              "torch.manual_seed(seed) right before build_model.")
def variants(make_variant: Any, GapConfig: Any, VARIANTS: Any, ctx: ProbeContext) -> Any:
    x, y = signals(ctx, 24, offset=30)
    out: dict[str, Any] = {}
    for name in VARIANTS:
        v = make_variant(name, GapConfig(**SMALL), ctx.seed + 3, ctx.device)
        model = v.model.eval()  # dropout off, so that the loss is deterministic
        logits = model(x)
        loss = v.loss_fn(model, logits, y) if v.loss_fn is not None else F.cross_entropy(logits, y)
        out[name] = {
            "norms": sum(isinstance(m, nn.BatchNorm1d) for m in model.modules()),
            "dropout": [float(m.p) for m in model.modules() if isinstance(m, nn.Dropout)],
            "config": {k: getattr(v.train_config, k) for k in (
                "epochs", "batch_size", "lr", "momentum", "weight_decay", "decay_norm_and_bias",
                "seed", "eval_train", "eval_every")},
            "loss": expect_tensor(loss, f"{name} loss").detach().float(),
            "init": torch.stack([p.detach().float().sum() for p in model.parameters()]),
        }
    return out


checks.raises("ch08.2.unknown", "an unknown variant name raises ValueError",
              lambda make_variant, GapConfig, ctx: make_variant(
                  "l1", GapConfig(**SMALL), 0, ctx.device),
              message="make_variant('l1', ...) should raise ValueError naming the valid variants",
              hint="Check the name against VARIANTS first.")
