"""ch06.1 checks: Hessian-vector products by double backward and by torch.func.

Oracles: finite differences of the gradient in float64 (computed with autograd's first
derivative only, in the reference process), and the reference HVP on the same nets.
"""

from __future__ import annotations

from typing import Any

from grader.lazy import F, torch
from grader.model import Verdict
from grader.probing import ProbeContext, expect_tensor
from grader.specs.ch06.common import (
    judge_relative,
    snapshot,
    tiny_batches,
    tiny_net,
    unchanged,
    unit_vector,
)
from grader.specs.helpers import all_true, api, match

VARIANTS = ("hvp_double_backward", "hvp_functional")
CASES = {  # name -> (norm, train mode)
    "bn_train": ("batch", True),
    "bn_eval": ("batch", False),
    "no_bn": ("none", True),
}


def case(ctx: ProbeContext, name: str) -> tuple[Any, list[Any], Any]:
    norm, training = CASES[name]
    model = tiny_net(ctx, norm, offset=len(name)).train(training)
    batches = tiny_batches(ctx, offset=100)
    n = sum(p.numel() for p in model.parameters())
    return model, batches, unit_vector(ctx, n, offset=200)


def call(mod: Any, variant: str, model: Any, batches: Any, v: Any) -> Any:
    out = expect_tensor(getattr(mod, variant)(model, batches, v), variant)
    return out


def fd_oracle(mod: Any, ctx: ProbeContext, names: tuple[str, ...]) -> dict[str, Any]:
    """Central differences of the gradient of the mean batch loss, eps = 1e-6, float64."""
    from dlbn.hessian import finite_difference_hvp, frozen_running_stats

    out = {}
    for name in names:
        model, batches, v = case(ctx, name)

        def loss_fn(m: Any, batches: Any = batches) -> Any:
            with frozen_running_stats(m):
                return sum(F.cross_entropy(m(x), y) for x, y in batches) / len(batches)

        out[name] = finite_difference_hvp(model, loss_fn, v, eps=1e-6)
    return out


def fd_check(variant: str, names: tuple[str, ...], hint: str) -> Any:
    def probe(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
        return {name: call(mod, variant, *case(ctx, name)) for name in names}

    return match(
        f"ch06.1.{variant.removeprefix('hvp_')}_fd",
        f"{variant} equals finite differences of the gradient (float64, {', '.join(names)})",
        probe, oracle=lambda mod, ctx: fd_oracle(mod, ctx, names),
        judge=judge_relative(1e-5, f"{variant} vs finite differences"), hint=hint,
    )


def reference_check(variant: str) -> Any:
    def probe(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
        return {name: call(mod, variant, *case(ctx, name)) for name in CASES}

    def oracle(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
        return {name: mod.hvp_double_backward(*case(ctx, name)) for name in CASES}

    return match(
        f"ch06.1.{variant.removeprefix('hvp_')}_modes",
        f"{variant} matches the reference: BN in train mode, BN in eval mode, no BN",
        probe, oracle=oracle,
        hint="Use the model in the mode it is in (train: batch statistics; eval: running "
        "statistics) and average the per-batch HVPs of the MEAN cross-entropy.",
    )


def probe_contract(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for variant in VARIANTS:
        for name in ("bn_train", "bn_eval"):
            model, batches, v = case(ctx, name)
            before, v_copy = snapshot(model), v.clone()
            hv = call(mod, variant, model, batches, v)
            for key, ok in unchanged(model, before).items():
                out[f"{variant} {name}: {key}"] = ok
            out[f"{variant} {name}: shape"] = tuple(hv.shape) == tuple(v.shape)
            out[f"{variant} {name}: dtype"] = hv.dtype == v.dtype
            out[f"{variant} {name}: v unchanged"] = torch.equal(v, v_copy)
            out[f"{variant} {name}: detached"] = not hv.requires_grad
    return out


def judge_contract(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    advice = {
        "params_and_buffers": "parameters or running statistics changed or were removed: "
        "wrap the forward passes in frozen_running_stats(model) (torch.func's "
        "replace_all_batch_norm_modules_ deletes the running statistics)",
        "mode": "the model's train/eval mode changed: use the mode it came in",
        "no_grad_left": "a .grad was left on a parameter: use torch.autograd.grad, not "
        ".backward()",
        "shape": "the HVP must be a flat (P,) vector like v",
        "dtype": "the HVP must have v's dtype",
        "v unchanged": "v was modified in place",
        "detached": "return a plain tensor (no graph): the second grad needs no create_graph",
    }
    messages = {key: f"{key}: {advice[key.split(': ')[1]]}" for key in got}
    return all_true(got, messages)


CHECKS = [
    fd_check("hvp_double_backward", ("bn_train", "no_bn"),
             hint="g = autograd.grad(loss, params, create_graph=True); Hv = autograd.grad("
             "sum(g * v), params); the loss is a MEAN over examples, averaged over batches."),
    fd_check("hvp_functional", ("bn_train", "no_bn"),
             hint="jvp(grad(f), (params,), (tangents,)) with f(w) = cross_entropy("
             "functional_call(model, w, (x,)), y): forward-over-reverse, not grad of jvp."),
    reference_check("hvp_double_backward"),
    reference_check("hvp_functional"),
    api("ch06.1.contract", "an HVP leaves mode, parameters, buffers and .grad alone",
        probe_contract, judge_contract,
        hint="Use frozen_running_stats(model) around the forward passes and "
        "torch.autograd.grad (never .backward()); do not call model.train()/eval().",
        timeout=30.0),
]
