"""ch07 checks: one point of the batch-size sweep (ch07.4) and the sweep's claims.

The protocol check runs ``train_with_norm`` on a micro net (``config.PROTOCOL``); the property
checks run the learner's own sweep, BN and GN at batch 2 and 32 on a tiny grading config
(``config.GRADING``), and check Wu & He's claims on it. The four runs are one `experiment`,
made once per process and shared by the four property checks; margins in `config`.
"""

from __future__ import annotations

import math
from typing import Any

from grader.model import Verdict
from grader.probing import ProbeContext, ProbeFailure
from grader.spec import Checks, contract, experiment, fail
from grader.specs.ch07 import config

checks = Checks(timeout_floor=60.0)


@checks.api("ch07.4.protocol", "linear LR scaling, equal epochs, seeded, dict of results",
            hint="lr = cfg.base_lr * batch_size / cfg.base_batch; epochs=cfg.epochs whatever the "
            "batch size; torch.manual_seed(seed) before build_net.")
def protocol(SweepConfig: Any, load_subset: Any, train_with_norm: Any,  # noqa: N803
             ctx: ProbeContext) -> dict[str, Any]:
    cfg = SweepConfig(**config.PROTOCOL)
    data = load_subset(cfg, ctx.device)
    out = {}
    for bs in config.PROTOCOL_BATCHES:
        r = train_with_norm("group", bs, cfg, seed=ctx.seed, data=data, device=ctx.device)
        if not isinstance(r, dict):
            raise ProbeFailure(f"train_with_norm returned {type(r).__name__}, expected a dict")
        if missing := {"test_acc", "train_acc", "lr", "steps", "diverged", "model"} - set(r):
            raise ProbeFailure(f"train_with_norm's dict lacks {', '.join(sorted(missing))}")
        again = train_with_norm("group", bs, cfg, seed=ctx.seed, data=data, device=ctx.device)
        out[f"batch_{bs}"] = {"lr": float(r["lr"]), "steps": int(r["steps"]),
                              "norms": [type(b.norm).__name__ for b in r["model"].blocks],
                              "repeatable": float(r["test_acc"]) == float(again["test_acc"]),
                              "acc_in_range": 0.0 <= float(r["test_acc"]) <= 1.0}
    return out


@protocol.judge
def _(got: dict[str, Any]) -> None:
    p = config.PROTOCOL
    for bs in config.PROTOCOL_BATCHES:
        r, lr = got[f"batch_{bs}"], p["base_lr"] * bs / p["base_batch"]
        steps = p["epochs"] * math.ceil(p["n_train"] / bs)
        if abs(r["lr"] - lr) > 1e-9:
            fail(f"batch {bs}, base_lr {p['base_lr']:g} at base_batch {p['base_batch']}: lr "
                 f"{r['lr']:g}, expected {lr:g} (linear scaling, lr = base_lr * B / base_batch)")
        if r["steps"] != steps:
            fail(f"batch {bs}: {r['steps']} optimizer steps, expected {steps} ({p['epochs']} "
                 f"epochs of {p['n_train']} examples: the same EPOCHS at every batch size)")
        if r["norms"] != ["GroupNorm"] * p["depth"]:
            fail(f"the model's norm layers are {r['norms']}: use build_net")
        contract({"repeatable": "two runs with the same seed gave different accuracies: call "
                                "torch.manual_seed(seed) first and pass seed to TrainConfig",
                  "acc_in_range": "test_acc is not an accuracy in [0, 1]"})(r)


@experiment
def sweep(SweepConfig: Any, load_subset: Any, train_with_norm: Any,  # noqa: N803
          ctx: ProbeContext) -> dict[str, float]:
    """{"batch_2": ..., "batch_32": ..., "group_2": ..., "group_32": ...}: test accuracies."""
    cfg = SweepConfig(**config.GRADING)
    data = load_subset(cfg, ctx.device)
    out = {}
    for kind in ("batch", "group"):
        for bs in (config.SMALL, config.LARGE):
            r = train_with_norm(kind, bs, cfg, seed=ctx.seed, data=data, device=ctx.device)
            if not isinstance(r, dict) or "test_acc" not in r:
                raise ProbeFailure("train_with_norm must return a dict with 'test_acc'")
            if r.get("diverged"):
                raise ProbeFailure(f"{kind} norm at batch {bs} diverged (lr {r.get('lr')})")
            out[f"{kind}_{bs}"] = float(r["test_acc"])
    return out


def claim(id: str, title: str, test: Any, message: str, hint: str) -> None:
    """A property check on the sweep's four accuracies: ``test(acc)`` must hold."""

    def judge(got: dict[str, float]) -> Verdict:
        text = (f"BN {got['batch_2']:.3f} at batch 2, {got['batch_32']:.3f} at 32; "
                f"GN {got['group_2']:.3f} at 2, {got['group_32']:.3f} at 32")
        if not test(got):
            fail(f"{message} ({text})")
        return Verdict.ok(text)

    checks.prop(id, title, judge=judge, hint=hint, timeout=config.TIMEOUT)(sweep)


claim("ch07.4.bn_small_batch", "BN at batch 2 is below BN at batch 32",
      lambda a: a["batch_2"] <= a["batch_32"] - config.BN_DROP,
      f"expected BN at batch 2 at least {config.BN_DROP:g} below BN at batch 32",
      hint="make_norm_layer('batch', ...) must be torch's BatchNorm1d, and train_with_norm "
      "must follow the protocol (equal epochs, LR scaled linearly).")
claim("ch07.4.gn_no_loss", "GN loses nothing going from batch 32 to batch 2",
      lambda a: a["group_2"] >= a["group_32"] - config.GN_NO_LOSS,
      f"expected GN at batch 2 no more than {config.GN_NO_LOSS:g} below GN at batch 32",
      hint="Group norm must use per-example statistics only (see ch07.1.per_example).")
claim("ch07.4.bn_loses_more", "from batch 32 to 2, BN loses more accuracy than GN",
      lambda a: (a["batch_32"] - a["batch_2"]) - (a["group_32"] - a["group_2"])
      >= config.MORE_LOSS,
      f"expected BN's loss from batch 32 to 2 to exceed GN's by {config.MORE_LOSS:g}",
      hint="make_norm_layer('group', ...) must return your GroupNorm with num_groups groups.")
claim("ch07.4.bn_at_32", "at batch 32, BN is at least as good as GN",
      lambda a: a["batch_32"] >= a["group_32"] - config.BN_SLACK,
      f"expected BN at batch 32 no more than {config.BN_SLACK:g} below GN",
      hint="make_norm_layer('batch', ...) must return torch's BatchNorm1d.")
