"""ch03.3 checks: internal covariate shift (Santurkar Def. 2.1) and the training loop around it.
The match checks use float64 nets with momentum buffers already filled, so that the step of the
earlier layers is the optimizer's real step; the api check asks that a probe leaves parameters,
grads, buffers, modes, optimizer state and RNG exactly as it found them."""

from grader.lazy import F, torch
from grader.model import Verdict
from grader.probing import ProbeFailure, training_record
from grader.spec import Checks, fail, match_parts
from grader.specs.ch03.config import ICS_RUN, LOOP, model_cfg, run

checks = Checks(timeout_floor=60)
ICS_KEYS = ("l2", "cos", "grad_norm")
RESTORED = {"params": "parameters", "grads": ".grad of the parameters", "buffers":
            "buffers (running statistics)", "modes": "train/eval modes", "optimizer":
            "optimizer state (momentum buffers)", "rng": "torch's RNG state (noise draws)"}


def momentum_net(build_net, ctx, kind):
    """A float64 net of ``kind`` after 2 SGD-momentum steps, its optimizer and a batch."""
    def batch(x_offset, y_offset):
        y = torch.randint(0, 10, (16,), generator=ctx.generator(y_offset)).to(ctx.device)
        return ctx.randn(16, 1, 40, dtype=torch.float64, offset=x_offset), y

    torch.manual_seed(ctx.seed)
    net = build_net(kind, model_cfg(depth=4, width=8)).double().to(ctx.device)
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    for step in range(2):
        x, y = batch(50 + step, 60 + step)
        opt.zero_grad()
        F.cross_entropy(net(x), y).backward()
        opt.step()
    return (net, opt, *batch(70, 71))


def ics(internal_covariate_shift, *args):
    out = internal_covariate_shift(*args)
    if not isinstance(out, dict) or not set(ICS_KEYS) <= set(out):
        raise ProbeFailure(f"internal_covariate_shift returned {type(out).__name__}, expected a "
                           "dict with 'l2', 'cos' and 'grad_norm'")
    return {k: float(out[k]) for k in ICS_KEYS}


@checks.match("ch03.3.values", "l2, cos and ||G|| for layers 0, 1, 3 of a standard and a BN net",
              hint="Only model.blocks[:layer] take the optimizer's step (not the layer itself), "
              "with their own gradients, in train mode; G' on the same batch.")
def values(build_net, internal_covariate_shift, ctx):
    # a fresh net each time, so that a probe that does not restore cannot spoil the rest
    return {f"{kind}{layer}": ics(internal_covariate_shift, *momentum_net(build_net, ctx, kind),
                                  layer)
            for kind in ("standard", "batch") for layer in (0, 1, 3)}


@checks.api("ch03.3.restored", "after the probe: parameters, grads, buffers, modes, optimizer "
            "state and RNG as before",
            hint="save_state(model, optimizer) first and restore_state(model, state, optimizer) "
            "last; the step and the forward passes change all of these.")
def restored(build_net, internal_covariate_shift, ctx):
    from dlbn.landscape import save_state, state_difference

    out = {}
    for kind in ("batch", "noisy"):
        net, opt, x, y = momentum_net(build_net, ctx, kind)
        net.blocks[1].eval()  # an odd mix of modes must survive too
        state, rng = save_state(net, opt), torch.get_rng_state()
        ics(internal_covariate_shift, net, opt, x, y, 2)
        out[kind] = state_difference(net, state, opt)
        out[kind]["rng"] = 0.0 if torch.equal(rng, torch.get_rng_state()) else 1.0
    return out


@restored.judge
def _(got):
    for kind, diff in got.items():
        for key, value in diff.items():
            if value != 0:
                fail(f"{kind} net: after internal_covariate_shift the {RESTORED[key]} changed "
                     f"(max change {value:.3g}); expected them restored")


# float32 training: allow for summation order, not for a different trajectory; the
# ics are differences (of gradients or losses), so their relative error is larger.
loop_judge = match_parts(run=(1e-4, 1e-3), ics=(1e-4, 1e-2))


@checks.match("ch03.3.loop", "ics_during_training: same probes, losses and trained weights",
              judge=loop_judge,
              hint="Probe BEFORE the training step at steps 0, every, 2 every...; seed, optimizer "
              "and shuffling exactly as the docstring says.")
def loop(ics_during_training, ctx):
    out = ics_during_training("batch", *run(ctx, LOOP), (1, 3), every=3)
    ics = {key: {str(k): torch.tensor(v, dtype=torch.float64) for k, v in out.pop(key).items()}
           for key in ICS_KEYS}
    return {"run": training_record(out), "ics": ics}


@checks.prop("ch03.3.bn_not_smaller",
             "ICS (relative l2 and 1 - cos) with BN is not smaller than without", timeout=240,
             hint="Measure G and G' on the same batch, in train mode, with only the earlier "
             "layers moved by the optimizer.")
def bn_not_smaller(ics_during_training, ctx):
    args, layers, out = run(ctx, ICS_RUN), (1, 2, 3, 4, 5), {}
    for kind in ("standard", "batch"):
        res = ics_during_training(kind, *args, layers, every=8)
        rel = [a / max(g, 1e-12) for i in layers
               for a, g in zip(res["l2"][i], res["grad_norm"][i], strict=True)]
        cos = [c for i in layers for c in res["cos"][i]]
        out[kind] = {"rel_l2": sum(rel) / len(rel), "one_minus_cos": 1 - sum(cos) / len(cos),
                     "finite": all(torch.isfinite(torch.tensor(rel)).tolist()),
                     "cos_ok": all(-1 - 1e-6 <= c <= 1 + 1e-6 for c in cos)}
    return out


@bn_not_smaller.judge
def _(got):
    s, b = got["standard"], got["batch"]
    text = (f"mean ||G - G'|| / ||G||: standard {s['rel_l2']:.3f}, BN {b['rel_l2']:.3f}; "
            f"mean 1 - cos: standard {s['one_minus_cos']:.4f}, BN {b['one_minus_cos']:.4f}")
    if not (s["finite"] and b["finite"] and s["cos_ok"] and b["cos_ok"]):
        fail(text + "; ICS must be finite and cos within [-1, 1]")
    if min(s["rel_l2"], b["rel_l2"]) <= 1e-4:
        fail(text + "; the gradient did not change at all: did the earlier layers take their "
             "step before G' was computed?")
    if b["rel_l2"] < 0.5 * s["rel_l2"] or b["one_minus_cos"] < 0.5 * s["one_minus_cos"]:
        fail(text + "; Santurkar et al. (and our 3 seeds) find BN's ICS not smaller than the "
             "standard net's: expected BN >= 0.5 x standard")
    return Verdict.ok(text)
