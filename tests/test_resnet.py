"""dlbn.resnet: shapes, init, and the growth of the residual stream without normalization."""

from __future__ import annotations

import math

import pytest
import torch

from dlbn.resnet import PreActBlock, preact_resnet


@pytest.mark.parametrize("norm", ["none", "batch", "group"])
def test_shapes_1d(norm: str) -> None:
    torch.manual_seed(0)
    net = preact_resnet(3, width=8, norm=norm)
    assert len(net.blocks) == 3 and all(isinstance(b, PreActBlock) for b in net.blocks)
    assert net(torch.randn(5, 1, 40)).shape == (5, 10)


def test_shapes_2d() -> None:
    net = preact_resnet(2, width=8, norm="batch", dims=2, in_channels=3, num_classes=4)
    assert net(torch.randn(2, 3, 8, 8)).shape == (2, 4)


def test_he_init_and_biases() -> None:
    torch.manual_seed(0)
    net = preact_resnet(2, width=64, norm="none")
    w = net.blocks[0].conv1.weight.detach()  # (64, 64, 3): fan_in 192
    assert abs(float(w.std()) / math.sqrt(2 / 192) - 1) < 0.05
    bias = net.blocks[0].conv1.bias
    assert bias is not None and float(bias.detach().abs().sum()) == 0
    assert preact_resnet(1, width=8, norm="batch").blocks[0].conv1.bias is None


def test_stream_grows_without_norm_only() -> None:
    x = torch.randn(64, 1, 40)
    growth = {}
    for norm in ("none", "batch"):
        torch.manual_seed(0)
        net = preact_resnet(24, width=8, norm=norm)
        with torch.no_grad():
            h = net.stem(x)
            first = float(net.blocks[0](h).std())
            last = float(net.blocks(h).std())
        growth[norm] = last / first
    assert growth["none"] > 50 and growth["batch"] < 10, growth


def test_rejects_bad_sizes() -> None:
    with pytest.raises(ValueError):
        preact_resnet(-1)
