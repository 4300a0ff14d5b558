"""ch06.5 checks: frozen batch norm, and the experiment's claims on a tiny grading config.

The property checks share one run of the learner's ``hessian_outliers`` per process (an
`experiment`: it trains two tiny nets and computes 3 x top-10 eigenpairs, a few seconds).
Margins come from the worst of seeds 0, 1, 2 (see chapters/ch06_hessian/README.md).
"""

from __future__ import annotations

from typing import Any

from grader.lazy import torch
from grader.model import Verdict
from grader.probing import ProbeContext, expect_tensor
from grader.spec import Checks, contract, experiment, fail
from grader.specs.ch06.config import GRADING, snapshot, tiny_batches, tiny_net, unchanged

MIN_RATIO_FROZEN = 4.0  # top eigenvalue, frozen BN / BN
MIN_RATIO_NONE = 2.0  # top eigenvalue, no BN / BN
MIN_OVERLAP_FACTOR = 20.0  # frozen BN: mean overlap of the top 9 / random baseline 10 / P
MAX_PROJECTED = 0.5  # frozen BN: projected top eigenvalue / top eigenvalue

checks = Checks()


def frozen_case(ctx: ProbeContext) -> tuple[Any, Any, Any]:
    model = tiny_net(ctx, "batch", offset=11).train()
    batches = tiny_batches(ctx, n=3, offset=700)
    x_new = ctx.randn(8, 1, 40, dtype=torch.float64, offset=710, std=2.0, mean=0.5)
    return model, batches, x_new


@checks.match("ch06.5.frozen", "frozen copy: running statistics and eval-mode outputs",
              hint="Reset the statistics, momentum=None, run every batch in train mode under "
              "no_grad, then .eval(): the copy must use the refreshed statistics.")
def frozen(freeze_bn: Any, ctx: ProbeContext) -> dict[str, Any]:
    model, batches, x_new = frozen_case(ctx)
    copy = freeze_bn(model, batches)
    out = {"outputs": expect_tensor(copy(x_new), "the frozen model's output"),
           "outputs_again": copy(x_new[:3])}  # eval mode: independent of the batch
    return {**out, **{name: buf for name, buf in copy.named_buffers() if "running" in name}}


@checks.api("ch06.5.contract", "freeze_bn returns an eval-mode copy and leaves the model alone",
            hint="copy.deepcopy(model) first; every change goes to the copy.",
            judge=contract({
                "params_and_buffers": "freeze_bn changed the original model: work on a deep copy",
                "mode": "freeze_bn changed the original model's mode: only the copy goes to eval",
                "no_grad_left": "freeze_bn left gradients behind: run the batches under no_grad",
                "copy": "freeze_bn must return a new model (copy.deepcopy), not the same object",
                "eval_mode": "the frozen copy is still in train mode: batch norm would keep using "
                "batch statistics; call .eval() at the end",
                "momentum_restored": "restore each batch norm's momentum after the refresh",
            }))
def frozen_contract(freeze_bn: Any, ctx: ProbeContext) -> dict[str, Any]:
    model, batches, _ = frozen_case(ctx)
    before = snapshot(model)
    momenta = [getattr(m, "momentum", None) for m in model.modules()]
    copy = freeze_bn(model, batches)
    return {**unchanged(model, before),
            "copy": copy is not model and all(
                p is not q for p, q in zip(copy.parameters(), model.parameters(), strict=True)),
            "eval_mode": not any(m.training for m in copy.modules()),
            "momentum_restored": momenta == [getattr(m, "momentum", None)
                                             for m in copy.modules()]}


@experiment
def outliers(hessian_outliers: Any, ctx: ProbeContext) -> dict[str, Any]:
    """The learner's hessian_outliers on the grading config, once per process."""
    from dlbn.data import load_mnist1d
    from dlbn.hessian import OutlierConfig

    return hessian_outliers(OutlierConfig(**GRADING), ctx.seed, data=load_mnist1d(ctx.device),
                            device=ctx.device)


def numbers(module: Any, ctx: ProbeContext) -> dict[str, Any]:
    return {name: {
        "top": float(r["eigenvalues"][0]),
        "overlap9": float(torch.as_tensor(r["overlap_mean"])[:9].mean()),
        "overlap9_moments": float(torch.as_tensor(r["overlap_moments"])[:9].mean()),
        "projected": float(r["projected_top"]),
        "num_params": int(r["num_params"]),
    } for name, r in outliers(module, ctx).items()}


def top_ratio(got: dict[str, Any]) -> Verdict:
    bn, frozen, none = (got[k]["top"] for k in ("batch", "frozen", "none"))
    text = f"top eigenvalues: BN {bn:.3g}, frozen BN {frozen:.3g}, no BN {none:.3g}"
    if not (frozen > MIN_RATIO_FROZEN * bn and none > MIN_RATIO_NONE * bn):
        fail(f"{text}; expected frozen > {MIN_RATIO_FROZEN:g} x BN and none > "
             f"{MIN_RATIO_NONE:g} x BN")
    return Verdict.ok(text)


def overlap(got: dict[str, Any]) -> Verdict:
    f = got["frozen"]
    baseline = 10 / f["num_params"]
    text = (f"frozen BN, top 9 eigenvectors: mean overlap {f['overlap9']:.3f} with the output-mean"
            f" span, {f['overlap9_moments']:.3f} with mean/var/skew; random {baseline:.4f}")
    if not f["overlap9"] > MIN_OVERLAP_FACTOR * baseline:
        fail(f"{text}; expected > {MIN_OVERLAP_FACTOR:g} x random")
    if not f["overlap9_moments"] >= f["overlap9"] - 1e-6:
        fail(f"{text}; a larger span (3C dims contain the C mean directions) cannot capture less")
    return Verdict.ok(text)


def projection(got: dict[str, Any]) -> Verdict:
    f = got["frozen"]
    text = (f"frozen BN: top eigenvalue {f['top']:.3g}, with the mean span removed "
            f"{f['projected']:.3g}")
    if not 0 < f["projected"] < MAX_PROJECTED * f["top"]:
        fail(f"{text}; expected between 0 and {MAX_PROJECTED:g} x the top")
    return Verdict.ok(text)


checks.prop("ch06.5.top_eigenvalue", "without active BN the top eigenvalue is much larger",
            judge=top_ratio, timeout=120.0, hint="The frozen copy must be in eval mode and the BN "
            "net in train mode; check ch06.1 and ch06.2 first.")(numbers)
checks.prop("ch06.5.outlier_overlap", "frozen BN's top eigenvectors lie in the output-mean span",
            judge=overlap, timeout=120.0, hint="Check ch06.3 (gradient of each class's mean "
            "logit) and ch06.4 (QR) first.")(numbers)
checks.prop("ch06.5.projection", "projecting the output-mean span out lowers the top eigenvalue",
            judge=projection, timeout=120.0,
            hint="projected_top_eigenvalue must project before and after the HVP.")(numbers)
