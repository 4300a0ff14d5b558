"""ch06.1 checks: Hessian-vector products by double backward and by torch.func.

Oracles: finite differences of the gradient in float64 (computed with autograd's first
derivative only, in the reference process), and the reference HVP on the same nets.
"""

from __future__ import annotations

from typing import Any

from grader.lazy import F, torch
from grader.probing import ProbeContext, expect_tensor
from grader.spec import Checks, contract, fail
from grader.specs.ch06.config import snapshot, tiny_batches, tiny_net, unchanged, unit_vector

VARIANTS = ("hvp_double_backward", "hvp_functional")
CASES = {"bn_train": ("batch", True), "bn_eval": ("batch", False), "no_bn": ("none", True)}
FD_CASES = ("bn_train", "no_bn")
ADVICE = {  # the contract's flags, in the probe's order
    "params_and_buffers": "parameters or running statistics changed or were removed: wrap the "
    "forward passes in frozen_running_stats(model) (torch.func's "
    "replace_all_batch_norm_modules_ deletes the running statistics)",
    "mode": "the model's train/eval mode changed: use the mode it came in",
    "no_grad_left": "a .grad was left on a parameter: use torch.autograd.grad, not .backward()",
    "shape": "the HVP must be a flat (P,) vector like v",
    "dtype": "the HVP must have v's dtype",
    "v unchanged": "v was modified in place",
    "detached": "return a plain tensor (no graph): the second grad needs no create_graph",
}

checks = Checks()


def case(ctx: ProbeContext, name: str) -> tuple[Any, list[Any], Any]:
    """(model, batches, v) for a case of CASES (name -> (norm, train mode))."""
    norm, training = CASES[name]
    model = tiny_net(ctx, norm, offset=len(name)).train(training)
    n = sum(p.numel() for p in model.parameters())
    return model, tiny_batches(ctx, offset=100), unit_vector(ctx, n, offset=200)


def fd_hvps(ctx: ProbeContext) -> dict[str, Any]:
    """Central differences of the gradient of the mean batch loss, eps = 1e-6, float64."""
    from dlbn.hessian import finite_difference_hvp, frozen_running_stats

    out = {}
    for name in FD_CASES:
        model, batches, v = case(ctx, name)

        def loss_fn(m: Any, batches: Any = batches) -> Any:
            with frozen_running_stats(m):
                return sum(F.cross_entropy(m(x), y) for x, y in batches) / len(batches)

        out[name] = finite_difference_hvp(model, loss_fn, v, eps=1e-6)
    return out


def reference_hvps(hvp_double_backward: Any, ctx: ProbeContext) -> dict[str, Any]:
    return {name: hvp_double_backward(*case(ctx, name)) for name in CASES}


def relative(limit: float, what: str) -> Any:
    """Judge: ||got - expected|| / ||expected|| below ``limit`` for each tensor of a dict."""

    def judge(got: dict[str, Any], expected: dict[str, Any]) -> None:
        for key, want in expected.items():
            have = got.get(key)
            if not isinstance(have, torch.Tensor) or have.shape != want.shape:
                shape = tuple(have.shape) if isinstance(have, torch.Tensor) else type(have).__name__
                fail(f"{what} [{key}]: got {shape}, expected {tuple(want.shape)}")
            err = float((have.double() - want.double()).norm() / want.double().norm())
            if not err < limit:  # also catches NaN
                ratio = float(have.double().norm() / want.double().norm())
                fail(f"{what} [{key}]: relative error {err:.3g} (limit {limit:g}); "
                     f"||got|| / ||expected|| = {ratio:.4g}")

    return judge


def hvps(variant: str, names: tuple[str, ...]) -> Any:
    """The probe: the learner's ``variant`` on each of the cases ``names``."""
    return lambda module, ctx: {name: expect_tensor(getattr(module, variant)(*case(ctx, name)),
                                                    variant) for name in names}


for variant, hint in {
    "hvp_double_backward": "g = autograd.grad(loss, params, create_graph=True); Hv = autograd."
    "grad(sum(g * v), params); the loss is a MEAN over examples, averaged over batches.",
    "hvp_functional": "jvp(grad(f), (params,), (tangents,)) with f(w) = cross_entropy("
    "functional_call(model, w, (x,)), y): forward-over-reverse, not grad of jvp.",
}.items():
    checks.match(f"ch06.1.{variant.removeprefix('hvp_')}_fd", f"{variant} equals finite "
                 f"differences of the gradient (float64, {', '.join(FD_CASES)})", against=fd_hvps,
                 judge=relative(1e-5, f"{variant} vs finite differences"),
                 hint=hint)(hvps(variant, FD_CASES))
for variant in VARIANTS:
    checks.match(f"ch06.1.{variant.removeprefix('hvp_')}_modes",
                 f"{variant} matches the reference: BN in train mode, BN in eval mode, no BN",
                 against=reference_hvps, hint="Use the model in the mode it is in (train: batch "
                 "statistics; eval: running statistics) and average the per-batch HVPs of the "
                 "MEAN cross-entropy.")(hvps(variant, tuple(CASES)))


@checks.api("ch06.1.contract", "an HVP leaves mode, parameters, buffers and .grad alone",
            timeout=30.0, judge=contract({
                f"{v} {n}: {k}": f"{v} {n}: {k}: {advice}"
                for v in VARIANTS for n in ("bn_train", "bn_eval") for k, advice in ADVICE.items()
            }),
            hint="Use frozen_running_stats(model) around the forward passes and "
            "torch.autograd.grad (never .backward()); do not call model.train()/eval().")
def hvp_contract(module: Any, ctx: ProbeContext) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for variant in VARIANTS:
        for name in ("bn_train", "bn_eval"):
            model, batches, v = case(ctx, name)
            before, v_copy = snapshot(model), v.clone()
            hv = expect_tensor(getattr(module, variant)(model, batches, v), variant)
            flags = {**unchanged(model, before), "shape": tuple(hv.shape) == tuple(v.shape),
                     "dtype": hv.dtype == v.dtype, "v unchanged": torch.equal(v, v_copy),
                     "detached": not hv.requires_grad}
            out.update({f"{variant} {name}: {k}": ok for k, ok in flags.items()})
    return out
