"""dlbn.hessian: flat vectors, frozen running statistics, the LinearOperator, finite differences."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.sparse.linalg import eigsh
from torch import nn

from dlbn.hessian import (
    OutlierConfig,
    as_linear_operator,
    finite_difference_hvp,
    fixed_batches,
    flatten,
    frozen_running_stats,
    num_params,
    random_overlap,
    train_outlier_nets,
    unflatten,
)
from dlbn.models import ModelConfig, build_model


def test_flatten_unflatten_roundtrip() -> None:
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    params = list(model.parameters())
    v = torch.arange(num_params(model), dtype=torch.float32)
    parts = unflatten(v, params)
    assert [p.shape for p in parts] == [p.shape for p in params]
    assert torch.equal(flatten(parts), v)
    with pytest.raises(ValueError, match="does not match"):
        unflatten(v[:-1], params)


def test_frozen_running_stats_keeps_buffers_and_batch_statistics() -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(depth=2, width=4, norm="batch")).train()
    x = torch.randn(8, 1, 40) * 3 + 1
    state = {k: v.clone() for k, v in model.state_dict().items()}
    with frozen_running_stats(model):
        inside = model(x)
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert all(m.track_running_stats for m in model.modules() if isinstance(m, nn.BatchNorm1d))
    assert torch.allclose(inside, model(x), atol=1e-6)  # same batch statistics as train mode
    model.eval()
    with frozen_running_stats(model):
        assert torch.allclose(model(x), model.eval()(x))  # eval: running statistics still used


def test_linear_operator_counts_and_finds_top_eigenvalues() -> None:
    gen = torch.Generator().manual_seed(0)
    q, _ = torch.linalg.qr(torch.randn(30, 30, generator=gen, dtype=torch.float64))
    vals = torch.linspace(-5, 3, 30, dtype=torch.float64)
    a = (q * vals) @ q.T
    ticks = []
    op = as_linear_operator(lambda v: a @ v, 30, dtype=torch.float64,
                            on_call=lambda: ticks.append(1))
    top = np.sort(eigsh(op, k=3, which="LA", v0=np.ones(30))[0])[::-1]
    assert np.allclose(top, vals.flip(0)[:3].numpy())
    assert op.calls == len(ticks) > 0


def test_finite_difference_hvp_on_a_quadratic() -> None:
    gen = torch.Generator().manual_seed(1)
    a = torch.randn(5, 5, generator=gen, dtype=torch.float64)
    a = a + a.T
    model = nn.Linear(5, 1, bias=False).double()

    def loss(m: nn.Module) -> torch.Tensor:
        w = m.weight.reshape(-1)
        return 0.5 * w @ a @ w

    v = torch.randn(5, generator=gen, dtype=torch.float64)
    before = model.weight.detach().clone()
    assert torch.allclose(finite_difference_hvp(model, loss, v), a @ v, atol=1e-6)
    assert torch.equal(model.weight, before)


def test_fixed_batches_and_baseline() -> None:
    x, y = torch.randn(20, 1, 40), torch.arange(20)
    batches = fixed_batches(x, y, examples=12, batch_size=4, seed=3)
    assert [b[0].shape for b in batches] == [(4, 1, 40)] * 3
    assert len(set(torch.cat([b[1] for b in batches]).tolist())) == 12
    assert fixed_batches(x, y, 12, 4, seed=3)[0][1].tolist() == batches[0][1].tolist()
    with pytest.raises(ValueError):
        fixed_batches(x, y, examples=10, batch_size=4)
    assert random_overlap(10, 1000) == 0.01


def test_train_outlier_nets_tiny() -> None:
    class Data:
        x_train = torch.randn(64, 1, 40)
        y_train = torch.randint(0, 10, (64,))

    cfg = OutlierConfig(depth=2, width=4, train_examples=64, epochs=2, stop_epoch=1)
    nets = train_outlier_nets(cfg, Data(), seed=0, progress=False)
    assert set(nets) == {"batch", "none"} and nets["batch"].training
