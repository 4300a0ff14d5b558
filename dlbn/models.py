"""The bench's networks: a plain conv net for signals or images, and a deep MLP.

Usage::

    from dlbn.models import ModelConfig, build_model, mlp
    model = build_model(ModelConfig(depth=8, width=32, norm="batch"))   # MNIST-1D
    logits = model(x)                                                    # (N, 1, 40) -> (N, 10)
    deep = mlp(depth=50, width=256, in_features=256, norm="none")       # ch02

The conv net is deliberately plain (no residuals) so that normalization is what keeps a deep
one trainable: ``depth`` blocks of conv -> norm -> activation at constant ``width``, with
``num_downsamples`` halvings of the length (or height and width) spread evenly along the
depth, then a global average pool and a linear head:

    x (N, C_in, L) -> [conv k, norm, act] x depth -> mean over L -> (N, width) -> linear -> (N, K)

For images (``dims=2``) replace L by (H, W). With 8 blocks, width 32 and kernel 3 on MNIST-1D
the length goes 40 -> 20 -> 10 and the net has ~24k parameters.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass

from torch import Tensor, nn

from dlbn.norms import NORM_KINDS, is_norm, make_norm

ACTIVATIONS = ("relu", "softplus", "tanh", "linear")
POOLINGS = ("max", "avg", "stride", "none")


@dataclass(frozen=True)
class ModelConfig:
    """Everything that defines a conv net built by :func:`build_model`."""

    depth: int = 8  # conv blocks (conv -> norm -> act), each a layer of the net
    width: int = 32  # channels in every block
    norm: str = "batch"  # one of dlbn.norms.NORM_KINDS
    activation: str = "relu"  # "relu", "softplus", "tanh" or "linear"
    softplus_beta: float = 1.0  # sharpness of softplus(x) = log(1 + exp(beta x)) / beta
    dropout: float = 0.0  # probability of zeroing an activation, after every block
    dims: int = 1  # spatial dims of the input: 1 for (N, C, L) signals, 2 for (N, C, H, W)
    in_channels: int = 1  # C_in: 1 for MNIST-1D, 3 for CIFAR-10
    num_classes: int = 10  # K, the width of the logits
    num_groups: int = 8  # G for norm="group"; must divide width
    kernel_size: int = 3  # odd; padding keeps the length ("same")
    pooling: str = "max"  # how to halve the length: "max", "avg", "stride" (conv) or "none"
    num_downsamples: int = 2  # halvings, evenly spaced along the depth

    def __post_init__(self) -> None:
        if self.depth < 1 or self.width < 1:
            raise ValueError(f"depth and width must be >= 1, got {self.depth}, {self.width}")
        if self.norm not in NORM_KINDS:
            raise ValueError(f"unknown norm {self.norm!r}; valid kinds: {', '.join(NORM_KINDS)}")
        if self.activation not in ACTIVATIONS:
            raise ValueError(
                f"unknown activation {self.activation!r}; valid: {', '.join(ACTIVATIONS)}"
            )
        if self.pooling not in POOLINGS:
            raise ValueError(f"unknown pooling {self.pooling!r}; valid: {', '.join(POOLINGS)}")
        if self.dims not in (1, 2):
            raise ValueError(f"dims must be 1 or 2, got {self.dims}")
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd, got {self.kernel_size}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")


def make_activation(name: str, softplus_beta: float = 1.0) -> nn.Module:
    """An activation module by name: "relu", "softplus" (with beta), "tanh", "linear"."""
    if name == "relu":
        return nn.ReLU()
    if name == "softplus":
        return nn.Softplus(beta=softplus_beta)
    if name == "tanh":
        return nn.Tanh()
    if name == "linear":
        return nn.Identity()
    raise ValueError(f"unknown activation {name!r}; valid: {', '.join(ACTIVATIONS)}")


def _gain(activation: str) -> float:
    # He et al. 2015: keep the second moment of pre-activations constant with depth.
    # Softplus is treated as the ReLU it approaches; tanh and linear use torch's gains.
    return nn.init.calculate_gain(
        {"softplus": "relu", "tanh": "tanh", "linear": "linear"}.get(activation, activation)
    )


def downsample_after(depth: int, num_downsamples: int) -> list[int]:
    """The blocks (1-based) after which the length halves, evenly spaced: 8, 2 -> [3, 5]."""
    spots = {round(depth * i / (num_downsamples + 1)) for i in range(1, num_downsamples + 1)}
    return sorted(s for s in spots if 1 <= s < depth)


class ConvNet(nn.Module):
    """conv -> norm -> act blocks, global average pool, linear head (see the module docstring).

    Attributes: ``blocks`` (nn.Sequential of blocks, each an nn.Sequential with children
    ``conv``, ``norm``, ``act`` and, where they apply, ``pool`` and ``drop``) and ``head``
    (nn.Linear(width, num_classes)). Iterate ``blocks`` to probe every layer's output.

    Shapes: x (N, in_channels, L) or (N, in_channels, H, W) -> logits (N, num_classes).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        conv_type = nn.Conv1d if cfg.dims == 1 else nn.Conv2d
        pool_type = {
            ("max", 1): nn.MaxPool1d,
            ("max", 2): nn.MaxPool2d,
            ("avg", 1): nn.AvgPool1d,
            ("avg", 2): nn.AvgPool2d,
        }.get((cfg.pooling, cfg.dims))
        halve_after = downsample_after(cfg.depth, cfg.num_downsamples)
        if cfg.pooling == "none":
            halve_after = []
        blocks = []
        for i in range(1, cfg.depth + 1):
            # "stride" halves inside the first conv of the next stage; pools follow the block.
            stride = 2 if cfg.pooling == "stride" and (i - 1) in halve_after else 1
            layers: OrderedDict[str, nn.Module] = OrderedDict()
            layers["conv"] = conv_type(
                cfg.in_channels if i == 1 else cfg.width,
                cfg.width,
                cfg.kernel_size,
                stride=stride,
                padding=cfg.kernel_size // 2,
                bias=cfg.norm == "none",  # a norm's beta makes a conv bias redundant
            )
            layers["norm"] = make_norm(
                cfg.norm, cfg.width, num_groups=cfg.num_groups, dims=cfg.dims
            )
            layers["act"] = make_activation(cfg.activation, cfg.softplus_beta)
            if pool_type is not None and i in halve_after:
                layers["pool"] = pool_type(2)
            if cfg.dropout > 0:
                layers["drop"] = nn.Dropout(cfg.dropout)
            blocks.append(nn.Sequential(layers))
        self.blocks = nn.Sequential(*blocks)
        self.head = nn.Linear(cfg.width, cfg.num_classes)
        init_weights(self, cfg.activation)

    def features(self, x: Tensor) -> Tensor:
        """The pooled features before the head: (N, C_in, *spatial) -> (N, width)."""
        h = self.blocks(x)  # (N, width, L') or (N, width, H', W')
        return h.flatten(2).mean(dim=2)  # (N, width)

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x))  # (N, num_classes)


def build_model(cfg: ModelConfig) -> ConvNet:
    """The conv net that ``cfg`` describes, freshly initialized (seed torch yourself)."""
    return ConvNet(cfg)


def init_weights(model: nn.Module, activation: str = "relu") -> nn.Module:
    """Kaiming-normal init for convs and hidden linears; zero biases; norms at gamma=1, beta=0.

    A conv or linear weight W of fan-in n = C_in * kernel gets W ~ N(0, gain^2 / n) with the
    activation's gain (sqrt(2) for ReLU): without normalization the pre-activations then keep
    their scale with depth. A ConvNet's head gets gain 1 (no activation follows it).
    """
    gain = _gain(activation)
    for name, m in model.named_modules():
        if isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Linear)):
            g = 1.0 if name == "head" else gain
            fan_in = m.weight[0].numel()
            nn.init.normal_(m.weight, std=g / math.sqrt(fan_in))
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif is_norm(m) and m.weight is not None:
            nn.init.ones_(m.weight)  # identity affine map at init
            nn.init.zeros_(m.bias)
    return model


def mlp(
    depth: int,
    width: int,
    in_features: int,
    norm: str = "none",
    activation: str = "relu",
    *,
    num_classes: int | None = None,
    softplus_beta: float = 1.0,
    num_groups: int = 8,
    bias: bool = True,
) -> nn.Sequential:
    """A deep fully connected net: ``depth`` layers of linear -> norm -> act at ``width``.

    Layer i is ``model[i]``, an nn.Sequential with children ``linear``, ``norm``, ``act``, so
    ``for layer in model: x = layer(x)`` walks the net one layer at a time (ch02 does this to
    watch activations at init). With ``num_classes`` a final nn.Linear(width, num_classes) is
    appended as ``model[depth]`` (gain 1). Kaiming-normal init, zero biases; the linear bias is
    dropped whenever a norm follows.

    Shapes: x (N, in_features) -> (N, width), or (N, num_classes) with a head.
    """
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    layers: list[nn.Module] = []
    for i in range(depth):
        layer: OrderedDict[str, nn.Module] = OrderedDict()
        layer["linear"] = nn.Linear(
            in_features if i == 0 else width, width, bias=bias and norm == "none"
        )
        layer["norm"] = make_norm(norm, width, num_groups=num_groups, dims=1)
        layer["act"] = make_activation(activation, softplus_beta)
        layers.append(nn.Sequential(layer))
    model = nn.Sequential(*layers)
    init_weights(model, activation)
    if num_classes is not None:
        head = nn.Linear(width, num_classes)
        nn.init.normal_(head.weight, std=1.0 / math.sqrt(width))
        nn.init.zeros_(head.bias)
        model.append(head)
    return model
