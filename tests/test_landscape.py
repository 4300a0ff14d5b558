"""dlbn.landscape: probes leave model, optimizer and RNG exactly as they found them."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dlbn.landscape import (
    add_scaled_,
    loss_and_grads,
    restore_state,
    restoring,
    save_state,
    state_difference,
)
from dlbn.models import ModelConfig, build_model
from dlbn.vectors import flatten


def _setup(momentum: float = 0.9):
    torch.manual_seed(0)
    model = build_model(ModelConfig(depth=3, width=8, norm="batch"))
    opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=momentum)
    x, y = torch.randn(16, 1, 40), torch.randint(0, 10, (16,))
    F.cross_entropy(model(x), y).backward()
    opt.step()  # momentum buffers exist now
    return model, opt, x, y


def test_restoring_undoes_steps_buffers_grads_optimizer_and_rng() -> None:
    model, opt, x, y = _setup()
    state = save_state(model, opt)
    rng_before = torch.get_rng_state()
    with restoring(model, opt):
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()  # moves weights, momentum, running stats
        model.eval()
        torch.randn(3)
        assert state_difference(model, state, opt)["params"] > 0
    diff = state_difference(model, state, opt)
    assert diff == {"params": 0.0, "grads": 0.0, "buffers": 0.0, "modes": 0.0, "optimizer": 0.0}
    assert torch.equal(torch.get_rng_state(), rng_before)
    assert model.training


def test_restored_training_continues_identically() -> None:
    runs = []
    for probe in (False, True):
        model, opt, x, y = _setup()
        if probe:
            with restoring(model, opt):
                _, grads = loss_and_grads(model, x, y)
                add_scaled_(list(model.parameters()), grads, -1.0)
                loss_and_grads(model, x, y)
        opt.zero_grad()
        F.cross_entropy(model(x), y).backward()
        opt.step()
        runs.append(flatten([p.detach() for p in model.parameters()]))
    assert torch.equal(runs[0], runs[1])


def test_state_can_be_restored_twice_and_detects_changes() -> None:
    model, opt, x, y = _setup()
    state = save_state(model, opt)
    for _ in range(2):
        opt.step()
        assert state_difference(model, state, opt)["optimizer"] > 0
        restore_state(model, state, opt)
        assert max(state_difference(model, state, opt).values()) == 0


def test_loss_and_grads_match_backward() -> None:
    model, _, x, y = _setup()
    model.eval()  # no running-stat updates between the two passes
    loss, grads = loss_and_grads(model, x, y)
    model.zero_grad()
    ref = F.cross_entropy(model(x), y)
    ref.backward()
    assert torch.allclose(loss, ref.detach())
    for p, g in zip(model.parameters(), grads, strict=True):
        assert torch.allclose(p.grad, g)
    assert flatten(grads).shape == (sum(p.numel() for p in model.parameters()),)
