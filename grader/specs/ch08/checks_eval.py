"""ch08.3: accuracy in eval and train mode, and the gap.

The labels of the probes are the net's own eval-mode predictions (computed here with torch),
so an honest eval-mode accuracy is exactly 1.0 and anything that leaves dropout or batch
statistics on shows up as a lower number.
"""

from __future__ import annotations

from typing import Any

from grader.lazy import torch
from grader.model import Verdict
from grader.probing import ProbeContext
from grader.specs.ch08.common import call_float, signals, small_net
from grader.specs.helpers import all_true, api, match


def trained_net(ctx: ProbeContext, offset: int, dropout: float) -> Any:
    """A BN net whose running statistics differ from any batch's (as after training)."""
    net = small_net(ctx, offset, dropout=dropout)
    net.train()
    with torch.no_grad():
        for step in range(3):
            net(1.5 * ctx.randn(64, 1, 40, offset=offset + 50 + step, mean=0.7))
    return net


def own_labels(net: Any, x: Any) -> Any:
    was = net.training
    net.eval()
    with torch.no_grad():  # not a decorator: that would import torch when `dlbn list` runs
        y = net(x).argmax(dim=1)  # (N,)
    net.train(was)
    return y


def probe_eval(mod: Any, ctx: ProbeContext) -> dict[str, float]:
    net = trained_net(ctx, 10, dropout=0.5)
    x, _ = signals(ctx, 300, offset=11)
    y = own_labels(net, x)
    net.train()  # a net straight out of training
    return {"acc": call_float(mod.accuracy(net, x, y, batch_size=128), "accuracy")}


def probe_train_mode(mod: Any, ctx: ProbeContext) -> dict[str, float]:
    net = trained_net(ctx, 20, dropout=0.0)
    x, _ = signals(ctx, 300, offset=21)
    y = own_labels(net, x)
    net.eval()
    acc = mod.accuracy(net, x, y, train_mode=True, batch_size=50)
    return {"acc": call_float(acc, "accuracy(train_mode=True)")}


def probe_contract(mod: Any, ctx: ProbeContext) -> dict[str, Any]:
    net = trained_net(ctx, 30, dropout=0.5)
    x, _ = signals(ctx, 200, offset=31)
    y = own_labels(net, x)
    buffers = [b.clone() for b in net.buffers()]
    out: dict[str, Any] = {}
    net.train()
    a = call_float(mod.accuracy(net, x, y), "accuracy")
    out["train_kept"] = net.training
    b = call_float(mod.accuracy(net, x, y, batch_size=64), "accuracy")
    out["repeatable"] = a == b
    out["range"] = 0.0 <= a <= 1.0
    net.eval()
    call_float(mod.accuracy(net, x, y, train_mode=True, batch_size=40), "accuracy")
    out["eval_kept"] = not net.training
    out["buffers"] = all(torch.equal(u, v) for u, v in zip(buffers, net.buffers(), strict=True))
    out["no_grad"] = all(p.grad is None for p in net.parameters())
    return out


def judge_contract(got: dict[str, Any], expected: Any, ctx: Any) -> Verdict:
    return all_true(got, {
        "train_kept": "a model passed in train mode came back in eval mode: restore model.training",
        "repeatable": "eval-mode accuracy changed between two calls (or with the slice size): "
        "is dropout still on, or are batch statistics used?",
        "range": "accuracy should be a fraction in [0, 1]",
        "eval_kept": "a model passed in eval mode came back in train mode: restore model.training",
        "buffers": "accuracy(train_mode=True) changed the running statistics: save the buffers "
        "and copy them back",
        "no_grad": "accuracy left gradients on the parameters: evaluate under torch.no_grad()",
    })


def probe_measure(mod: Any, ctx: ProbeContext) -> dict[str, float]:
    net = trained_net(ctx, 40, dropout=0.3)
    x_train, _ = signals(ctx, 96, offset=41)
    y_train = own_labels(net, x_train)
    y_train[::4] = (y_train[::4] + 1) % 10  # 3/4 right on the training set
    x_val, y_val = signals(ctx, 80, offset=42)  # random labels: ~1/10 right
    net.train()
    m = mod.measure(net, x_train, y_train, x_val, y_val, batch_size=16)
    return {k: call_float(getattr(m, k), f"measure(...).{k}")
            for k in ("train_acc", "val_acc", "gap", "val_acc_train_mode")}


CHECKS = (
    match("ch08.3.eval_mode", "accuracy of a net left in train mode is taken in eval mode",
          probe_eval,
          hint="Call model.eval() inside accuracy: it turns dropout off AND makes batch norm use "
          "its running statistics; torch.no_grad() does neither."),
    match("ch08.3.train_mode", "train_mode=True normalizes each slice with its own statistics",
          probe_train_mode, hint="With train_mode=True call model.train() and evaluate in slices "
          "of batch_size; each slice is one batch."),
    api("ch08.3.contract", "mode restored, running statistics untouched, no gradients",
        probe_contract, judge_contract,
        hint="Remember model.training and the buffers, and restore both in a finally block."),
    match("ch08.3.measure", "measure: train and val accuracy, gap = train - val, train-mode val",
          probe_measure, hint="The gap is train_acc - val_acc (positive when the net overfits)."),
)
