"""dlbn.norms and dlbn.models: shapes for every norm and dims, frozen batch norm, init."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from dlbn.models import (
    ModelConfig,
    build_model,
    downsample_after,
    make_activation,
    mlp,
)
from dlbn.norms import (
    NORM_KINDS,
    FrozenBatchNorm,
    calibrate,
    freeze_batch_norm,
    is_norm,
    make_norm,
)
from dlbn.vectors import num_params


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("norm", NORM_KINDS)
def test_build_model_shapes(norm: str, dims: int) -> None:
    torch.manual_seed(0)
    in_channels = 1 if dims == 1 else 3
    cfg = ModelConfig(
        depth=4,
        width=16,
        norm=norm,
        dims=dims,
        in_channels=in_channels,
        num_groups=4,
        num_classes=7,
    )
    model = build_model(cfg)
    x = torch.randn(5, in_channels, *((40,) if dims == 1 else (32, 32)))
    calibrate(model, x)
    assert model(x).shape == (5, 7)
    assert model.features(x).shape == (5, 16)
    for block in model.blocks:
        # conv bias only without a norm (a norm's beta would make it redundant)
        assert (block.conv.bias is not None) == (norm == "none")


@pytest.mark.parametrize("pooling", ["max", "avg", "stride", "none"])
def test_pooling_halves_length(pooling: str) -> None:
    model = build_model(ModelConfig(depth=8, width=8, pooling=pooling))
    h = model.blocks(torch.randn(3, 1, 40))
    assert h.shape == (3, 8, 40 if pooling == "none" else 10)
    assert downsample_after(8, 2) == [3, 5]
    assert downsample_after(1, 2) == []


def test_default_net_size_and_bad_config() -> None:
    assert 20_000 < num_params(build_model(ModelConfig())) < 25_000
    with pytest.raises(ValueError, match="valid kinds"):
        ModelConfig(norm="batchnorm")
    with pytest.raises(ValueError, match="activation"):
        ModelConfig(activation="gelu")
    with pytest.raises(ValueError, match="valid kinds: none, batch"):
        make_norm("bn", 8)
    with pytest.raises(ValueError, match="divid"):
        make_norm("group", 10, num_groups=4)


def test_make_norm_kinds() -> None:
    assert isinstance(make_norm("none", 8), nn.Identity)
    assert isinstance(make_norm("batch", 8), nn.BatchNorm1d)
    assert isinstance(make_norm("batch", 8, dims=2), nn.BatchNorm2d)
    assert isinstance(make_norm("frozen_batch", 8), FrozenBatchNorm)
    group, layer, inst = (
        make_norm("group", 8, num_groups=4),
        make_norm("layer", 8),
        make_norm("instance", 8),
    )
    assert (group.num_groups, layer.num_groups, inst.num_groups) == (4, 1, 8)
    assert inst.affine
    assert all(is_norm(make_norm(k, 8)) for k in NORM_KINDS if k != "none")


def test_activations() -> None:
    x = torch.linspace(-2, 2, 9)
    sp = make_activation("softplus", softplus_beta=10.0)
    torch.testing.assert_close(sp(x), torch.nn.functional.softplus(x, beta=10.0))
    assert torch.equal(make_activation("linear")(x), x)


def test_frozen_bn_matches_batch_norm_after_calibration() -> None:
    torch.manual_seed(0)
    x = torch.randn(16, 6, 10) * 3 + 2  # (N, C, L)
    frozen, bn = FrozenBatchNorm(6), nn.BatchNorm1d(6)
    assert list(frozen.state_dict()) == list(bn.state_dict())
    with torch.no_grad():
        frozen.weight.uniform_(0.5, 2)
        frozen.bias.normal_()
    bn.load_state_dict(frozen.state_dict())
    model = nn.Sequential(frozen)
    assert calibrate(model, x) == 1
    assert model.training  # mode restored
    torch.testing.assert_close(frozen(x), bn.train()(x))


def test_frozen_bn_keeps_stats_in_train_mode() -> None:
    torch.manual_seed(0)
    frozen = FrozenBatchNorm(4).train()
    calibrate(frozen, torch.randn(32, 4))
    mean, var = frozen.running_mean.clone(), frozen.running_var.clone()
    shifted = torch.randn(32, 4) + 5.0
    out = frozen(shifted)
    out.sum().backward()  # trains gamma/beta only
    assert torch.equal(frozen.running_mean, mean) and torch.equal(frozen.running_var, var)
    assert out.mean() > 3.0  # normalized with the old statistics, not the batch's
    assert frozen.weight.grad is not None


def test_freeze_batch_norm_uses_running_stats_and_survives_train() -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(depth=3, width=8, norm="batch"))
    for _ in range(3):  # give the running statistics something to hold
        model(torch.randn(16, 1, 40) * 2 + 1)
    x = torch.randn(8, 1, 40)
    expected = model.eval()(x)
    gammas = [b.norm.weight for b in model.blocks]
    freeze_batch_norm(model)
    model.train()
    assert not any(isinstance(m, nn.BatchNorm1d) for m in model.modules())
    assert [b.norm.weight for b in model.blocks] == gammas  # same Parameters
    torch.testing.assert_close(model(x), expected)


def test_mlp_layers_and_scale_at_init() -> None:
    torch.manual_seed(0)
    net = mlp(depth=20, width=256, in_features=64, norm="none", activation="relu")
    assert len(net) == 20 and net[0].linear.bias is not None
    h = torch.randn(500, 64)
    for layer in net:
        h = layer(h)
    # He init keeps the second moment of ReLU outputs near 1 at every depth
    assert 0.3 < h.pow(2).mean().item() < 3.0
    headed = mlp(depth=3, width=16, in_features=5, norm="batch", num_classes=4)
    assert headed(torch.randn(7, 5)).shape == (7, 4)
    assert headed[0].linear.bias is None and isinstance(headed[0].norm, nn.BatchNorm1d)
    frozen = mlp(depth=3, width=16, in_features=5, norm="frozen_batch")
    assert calibrate(frozen, torch.randn(64, 5)) == 3
