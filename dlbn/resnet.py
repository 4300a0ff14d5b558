"""A pre-activation ResNet for signals or images: the deep net of Bjorck et al.'s figures.

Usage::

    from dlbn.resnet import preact_resnet
    torch.manual_seed(0)
    net = preact_resnet(num_blocks=18, width=16, norm="none")   # MNIST-1D: (N, 1, 40) -> (N, 10)
    for block in net.blocks: ...                                  # probe the residual stream

Bjorck et al. (2018) study ResNet-110: 54 residual blocks of two 3x3 convs. This is the same
design at constant width and length (no downsampling), in the pre-activation form of He et
al. (2016), where every block adds a branch to an untouched "residual stream":

    x (N, C_in, L) -> stem conv -> h_0 (N, C, L)
    h_b = h_{b-1} + conv2(act(norm2(conv1(act(norm1(h_{b-1}))))))      b = 1 .. num_blocks
    logits = head(mean over L of act(norm_out(h_B)))                     (N, num_classes)

With He init and no normalization each branch has about the variance of its input, so the
stream's variance roughly doubles per block: the activations (and logits) grow exponentially
with depth. With batch norm each branch adds about a unit of variance: linear growth.
"""

from __future__ import annotations

from collections import OrderedDict

from torch import Tensor, nn

from dlbn.models import init_weights, make_activation
from dlbn.norms import make_norm


class PreActBlock(nn.Module):
    """``h + conv2(act(norm2(conv1(act(norm1(h))))))`` at constant width; shapes unchanged.

    Children: ``norm1``, ``act1``, ``conv1``, ``norm2``, ``act2``, ``conv2`` (the middle
    conv of a block is ``conv1``; Bjorck's gradient histograms use a conv weight like it).
    """

    def __init__(
        self, width: int, norm: str, activation: str = "relu", kernel_size: int = 3, dims: int = 1
    ) -> None:
        super().__init__()
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        bias = norm == "none"
        self.norm1 = make_norm(norm, width, dims=dims)
        self.act1 = make_activation(activation)
        self.conv1 = conv(width, width, kernel_size, padding=kernel_size // 2, bias=bias)
        self.norm2 = make_norm(norm, width, dims=dims)
        self.act2 = make_activation(activation)
        self.conv2 = conv(width, width, kernel_size, padding=kernel_size // 2, bias=bias)

    def forward(self, h: Tensor) -> Tensor:
        branch = self.conv1(self.act1(self.norm1(h)))  # (N, C, L)
        return h + self.conv2(self.act2(self.norm2(branch)))  # (N, C, L)


class PreActResNet(nn.Module):
    """Stem conv, ``num_blocks`` pre-activation blocks, final norm + act, pool, linear head.

    Attributes: ``stem``, ``blocks`` (nn.Sequential of `PreActBlock`; iterate it to probe the
    residual stream after every block), ``norm_out``, ``act_out``, ``head``.
    Shapes: x (N, in_channels, L) or (N, in_channels, H, W) -> logits (N, num_classes).
    """

    def __init__(
        self,
        num_blocks: int,
        width: int = 16,
        norm: str = "none",
        activation: str = "relu",
        in_channels: int = 1,
        num_classes: int = 10,
        kernel_size: int = 3,
        dims: int = 1,
    ) -> None:
        super().__init__()
        if num_blocks < 0 or width < 1:
            raise ValueError(f"need num_blocks >= 0 and width >= 1, got {num_blocks}, {width}")
        conv = nn.Conv1d if dims == 1 else nn.Conv2d
        self.stem = conv(
            in_channels, width, kernel_size, padding=kernel_size // 2, bias=norm == "none"
        )
        self.blocks = nn.Sequential(
            OrderedDict(
                (str(i), PreActBlock(width, norm, activation, kernel_size, dims))
                for i in range(num_blocks)
            )
        )
        self.norm_out = make_norm(norm, width, dims=dims)
        self.act_out = make_activation(activation)
        self.head = nn.Linear(width, num_classes)
        init_weights(self, activation)

    def features(self, x: Tensor) -> Tensor:
        h = self.blocks(self.stem(x))  # (N, C, L)
        return self.act_out(self.norm_out(h)).flatten(2).mean(dim=2)  # (N, C)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))  # (N, num_classes)


def preact_resnet(
    num_blocks: int, width: int = 16, norm: str = "none", **kw: object
) -> PreActResNet:
    """A freshly initialized `PreActResNet` (Kaiming-normal fan-in convs; seed torch yourself).

    ``norm`` is any of ``dlbn.norms.NORM_KINDS`` ("none", "batch", "frozen_batch", ...).
    """
    return PreActResNet(num_blocks, width, norm, **kw)  # type: ignore[arg-type]
