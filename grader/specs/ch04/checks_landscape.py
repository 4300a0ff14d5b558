"""ch04 checks: the relative loss along the gradient (ch04.1), Santurkar's measures (ch04.2)
and the measures over training (ch04.3). Match checks use small float64 nets, with and without
batch norm, against the reference; api checks ask that every probe leaves the model as it found
it; property checks run the learner's functions on the papers' comparisons at a small scale."""

from grader.lazy import torch
from grader.model import Verdict
from grader.probing import ProbeFailure, expect_tensor, training_record
from grader.spec import Checks, fail, match_parts
from grader.specs.ch04.config import BJORCK_STEPS, KINDS, LOOP, SMOOTHER, STEPS, run, small_net

checks = Checks(timeout_floor=60)
THREE = ("loss_range", "max_grad_change", "beta")  # Santurkar's measures, as in Fig. 4
MEASURES = ("loss", "grad_change", *THREE, "grad_norm")  # what landscape_measures returns
RESTORED = {"params": "parameters", "grads": ".grad of the parameters", "buffers":
            "buffers (running statistics)", "modes": "train/eval modes"}  # no optimizer here


def judge_restored(got):
    for kind, diff in got.items():
        for key, value in diff.items():
            if value != 0:
                fail(f"{kind} net: after the probe the {RESTORED[key]} changed (max change "
                     f"{value:.3g}); expected the model as it was")


def restored(id, name, hint):
    """An api check: the learner's ``name``(net, x, y, STEPS) leaves the model as it was."""

    def run(module, ctx):
        from dlbn.landscape import save_state, state_difference

        out = {}
        for kind in KINDS:
            net, x, y = small_net(ctx, kind, double=False)
            net.blocks[1].eval()  # a mix of modes must survive
            state = save_state(net)
            getattr(module, name)(net, x, y, STEPS)
            out[kind] = state_difference(net, state)
        return out

    checks.api(id, "the model is as before: parameters, grads, buffers, modes", hint=hint,
               judge=judge_restored)(run)


@checks.match("ch04.1.values", "relative loss at steps 1e-3 .. 1, with and without BN",
              hint="Step DOWN the gradient (w - eta g), in train mode, each eta from w; return "
              "L(w - eta g) / L(w).")
def relative(loss_along_gradient, ctx):
    return {kind: expect_tensor(loss_along_gradient(*small_net(ctx, kind), STEPS),
                                "loss_along_gradient") for kind in KINDS}


restored("ch04.1.restored", "loss_along_gradient",
         hint="save_state(model) first; restore_state(model, state) after every step size.")


def useful_step(ratios: list[float]) -> float:
    """The largest step of the grid before the relative loss first reaches 1 (0: none)."""
    best = 0.0
    for eta, r in zip(BJORCK_STEPS, ratios, strict=True):
        if not r < 1:  # NaN counts as "did not help"
            break
        best = eta
    return best


@checks.prop("ch04.1.bjorck", "Bjorck Fig. 3: BN's helpful step sizes reach >= 10x further",
             timeout=180, hint="Relative loss = L(w - eta g) / L(w) with g the gradient of ALL "
             "parameters, each step taken from the original w.")
def bjorck(loss_along_gradient, ctx):
    from dlbn.data import load_mnist1d
    from dlbn.resnet import preact_resnet

    d = load_mnist1d(ctx.device)
    out = {}
    for kind, norm in (("standard", "none"), ("batch", "batch")):
        torch.manual_seed(ctx.seed)
        net = preact_resnet(16, width=16, norm=norm).to(ctx.device)
        for b in range(2):  # two early batches, at initialization
            x, y = d.x_train[32 * b: 32 * (b + 1)], d.y_train[32 * b: 32 * (b + 1)]
            ratios = expect_tensor(loss_along_gradient(net, x, y, BJORCK_STEPS),
                                   "loss_along_gradient").tolist()
            out[f"{kind}{b}"] = useful_step(ratios)
    return out


@bjorck.judge
def _(got):
    text = ", ".join(f"{k}: {v:.2g}" for k, v in got.items())
    for b in range(2):
        s, n = got[f"standard{b}"], got[f"batch{b}"]
        if n < 10 * max(s, 1e-12) or s == 0:
            fail(f"largest helpful step ({text}); expected BN's >= 10 x the standard net's on "
                 "each batch, and some step helping the standard net")
    return Verdict.ok(f"largest helpful step: {text}")


@checks.match("ch04.2.values", "losses, gradient changes, loss range and beta, with and without BN",
              hint="beta divides ||g_eta - g|| by the distance moved, eta ||g||; loss_range is "
              "max - min over the steps.")
def measures(landscape_measures, ctx):
    out = {}
    for kind in KINDS:
        got = landscape_measures(*small_net(ctx, kind), STEPS)
        if not isinstance(got, dict) or not set(MEASURES) <= set(got):
            raise ProbeFailure(f"landscape_measures returned {type(got).__name__}; expected a "
                               f"dict with keys {', '.join(MEASURES)}")
        out[kind] = {k: got[k] if k in ("loss", "grad_change") else float(got[k]) for k in MEASURES}
    return out


restored("ch04.2.restored", "landscape_measures",
         hint="Restore the model after every step size and at the end (save_state / "
         "restore_state).")


# float32 training: allow for summation order, not for a different trajectory; the
# measures are differences (of gradients or losses), so their relative error is larger.
loop_judge = match_parts(run=(1e-4, 1e-3), measures=(1e-4, 1e-2))


@checks.match("ch04.3.loop", "landscape_during_training: same probes, losses and trained weights",
              judge=loop_judge,
              hint="Probe BEFORE the training step at steps 0, every, ...; seed, optimizer and "
              "shuffling exactly as the docstring says.")
def loop(landscape_during_training, ctx):
    out = landscape_during_training("batch", *run(ctx, LOOP), (0.01, 0.1), every=3)
    measures = {k: torch.tensor(out.pop(k), dtype=torch.float64) for k in THREE}
    return {"run": training_record(out), "measures": measures}


@checks.prop("ch04.3.smoother",
             "Santurkar Fig. 4: loss range and gradient change spike less with BN", timeout=240,
             hint="Take the measures on the training batch before each step, at the model's "
             "current weights, and restore the model after each probe.")
def smoother(landscape_during_training, ctx):
    args, out = run(ctx, SMOOTHER), {}
    for kind in KINDS:
        res = landscape_during_training(kind, *args, (0.05, 0.1, 0.2, 0.4), every=10)
        out[kind] = {**{k: max(res[k]) for k in THREE}, "probes": len(res["step"])}
    return out


@smoother.judge
def _(got):
    s, b = got["standard"], got["batch"]
    text = (f"largest loss range: standard {s['loss_range']:.3g}, BN {b['loss_range']:.3g}; "
            f"largest gradient change: standard {s['max_grad_change']:.3g}, BN "
            f"{b['max_grad_change']:.3g}")
    if s["probes"] != 7 or b["probes"] != 7:
        fail(f"expected 7 probes (steps 0, 10, ..., 60), got {s['probes']}")
    if not (s["loss_range"] >= 2 * b["loss_range"]
            and s["max_grad_change"] >= 2 * b["max_grad_change"]):
        fail(text + "; expected the standard net's >= 2 x BN's")
    return Verdict.ok(text)
