"""Chapter 1: batch normalization from scratch.

Fill in the three tasks, then grade them:

    dlbn grade ch01            # all tasks
    dlbn grade ch01 --task 2   # only ch01.2

Shapes: ``x`` is (N, C) or (N, C, *) (e.g. (N, C, L) for signals, (N, C, H, W) for images);
per-channel vectors (``gamma``, ``beta``, ``running_mean``, ``running_var``) are (C,).
torch is the oracle: your functions must agree with ``torch.nn.functional.batch_norm`` and
``nn.BatchNorm1d`` / ``nn.BatchNorm2d``, which you may not call.
"""

from __future__ import annotations

import torch  # noqa: F401 - the tasks use it (the starter does not yet)
from torch import Tensor, nn


def channel_axes(x: Tensor) -> list[int]:
    """The axes batch norm reduces over: every axis except the channel axis 1.

    (N, C) -> [0]; (N, C, L) -> [0, 2]; (N, C, H, W) -> [0, 2, 3].
    """
    if x.dim() < 2:
        raise ValueError(f"batch norm needs x of shape (N, C) or (N, C, *), got {tuple(x.shape)}")
    return [0, *range(2, x.dim())]


def per_channel(v: Tensor, x: Tensor) -> Tensor:
    """Reshape a (C,) vector to (1, C, 1, ..., 1) so that it broadcasts against ``x``."""
    return v.reshape(1, -1, *([1] * (x.dim() - 2)))


# Task ch01.1 - the forward pass, train and eval
# Hint 1: Start from the definition: per channel, subtract the mean and divide by the standard
#         deviation, over every axis except axis 1.
# Hint 2: In training, use the batch's mean and biased variance for the output and update the
#         running buffers in place (running = (1 - momentum) * running + momentum * batch, with the
#         unbiased variance); in eval, normalize with the running buffers instead.
# Hint 3: y = gamma * (x - mu) / sqrt(var + eps) + beta, with mu = x.mean(axes), var = x.var(axes,
#         unbiased=False), axes = channel_axes(x), and (C,) vectors reshaped by per_channel(v, x);
#         running_var gets var * m / (m - 1), m = values per channel.
def batch_norm_forward(
    x: Tensor,
    gamma: Tensor | None,
    beta: Tensor | None,
    running_mean: Tensor | None,
    running_var: Tensor | None,
    training: bool,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Batch normalization, with the meaning of ``torch.nn.functional.batch_norm``.

    Training mode (``training=True``), per channel c over the m = N * (product of *) values:

        mu_c      = mean(x[:, c])
        sigma2_c  = mean((x[:, c] - mu_c) ** 2)                  # biased: divide by m
        y[:, c]   = gamma_c * (x[:, c] - mu_c) / sqrt(sigma2_c + eps) + beta_c

    and, if ``running_mean`` / ``running_var`` are given, update them in place with
    PyTorch's convention (momentum weighs the NEW value; the running variance uses the
    UNBIASED batch variance, sigma2_c * m / (m - 1)):

        running_mean <- (1 - momentum) * running_mean + momentum * mu_c
        running_var  <- (1 - momentum) * running_var  + momentum * sigma2_c * m / (m - 1)

    Eval mode (``training=False``) normalizes with ``running_mean`` and ``running_var``
    instead of the batch statistics, and changes nothing.

    Args:
        x: (N, C) or (N, C, *).
        gamma, beta: (C,) scale and shift, or None for 1 and 0.
        running_mean, running_var: (C,) buffers, or None (training mode only).
        training: use batch statistics (and update the running ones) if True.
        momentum: weight of the new batch statistics in the running averages.
        eps: added to the variance inside the square root.

    Returns:
        y with the shape, dtype and device of x (also when x is float16 or bfloat16 and
        gamma, beta and the running statistics are float32: torch then computes in
        float32 and returns x's dtype). Autograd must
        flow through y to x, gamma and beta; the running statistics are updated without
        autograd. An empty batch (N = 0) in training returns an empty y and leaves the
        running statistics alone.

    Raises:
        ValueError: if training with a single value per channel (m == 1), like torch.
    """
    # BEGIN SOLUTION ch01.1
    # HINT: reduce over channel_axes(x); reshape (C,) vectors with per_channel(v, x).
    # HINT: biased variance to normalize, unbiased (m / (m - 1)) for running_var, in place.
    # HINT: 16-bit x: compute in float32 (as torch does), return y in x's dtype.
    out_dtype = x.dtype
    if x.dtype in (torch.float16, torch.bfloat16):
        x = x.float()
    axes = channel_axes(x)
    if training:
        m = x.numel() // x.shape[1]
        if x.shape[0] == 0:  # nothing to normalize, nothing to learn from
            return x.clone()
        if m < 2:
            raise ValueError(
                f"expected more than 1 value per channel when training, got {tuple(x.shape)}"
            )
        mean = x.mean(dim=axes)  # (C,)
        var = x.var(dim=axes, unbiased=False)  # (C,) biased
        if running_mean is not None and running_var is not None:
            with torch.no_grad():
                running_mean.mul_(1 - momentum).add_(momentum * mean)
                running_var.mul_(1 - momentum).add_(momentum * var * m / (m - 1))
    else:
        if running_mean is None or running_var is None:
            raise ValueError("eval mode needs running_mean and running_var")
        mean, var = running_mean, running_var
    x_hat = (x - per_channel(mean, x)) / torch.sqrt(per_channel(var, x) + eps)
    y = x_hat
    if gamma is not None:
        y = y * per_channel(gamma, x)
    if beta is not None:
        y = y + per_channel(beta, x)
    return y.to(out_dtype)  # float32 statistics must not promote 16-bit input
    # END SOLUTION


# Task ch01.2 - the backward pass, without autograd
# Hint 1: The mean and the variance are functions of x too: their gradients flow back into grad_x.
# Hint 2: Recompute x_hat from x; grad_beta sums grad_out and grad_gamma sums grad_out * x_hat over
#         the reduction axes; grad_x has three terms (the direct one, through the mean, through the
#         variance).
# Hint 3: With g = gamma * grad_out and m values per channel: grad_x = (m g - sum(g) - x_hat sum(g
#         x_hat)) / (m sqrt(var + eps)), sums over channel_axes(x).
def batch_norm_backward(
    grad_out: Tensor, x: Tensor, gamma: Tensor | None, eps: float = 1e-5
) -> tuple[Tensor, Tensor, Tensor]:
    """Gradients of training-mode batch norm, derived by hand (no autograd).

    With x_hat = (x - mu) / sqrt(sigma2 + eps), y = gamma * x_hat + beta, g = dL/dy and the
    sums over the m values of each channel:

        dL/dbeta  = sum(g)
        dL/dgamma = sum(g * x_hat)
        dL/dx     = gamma / (m * sqrt(sigma2 + eps))
                    * (m * g - sum(g) - x_hat * sum(g * x_hat))

    The last two terms exist because mu and sigma2 depend on x: forgetting them (treating
    the batch statistics as constants) is the classic mistake.

    Args:
        grad_out: (N, C) or (N, C, *), the upstream gradient dL/dy.
        x: the forward input, same shape.
        gamma: (C,) or None (then gamma = 1).
        eps: as in the forward pass.

    Returns:
        (grad_x like x, grad_gamma (C,), grad_beta (C,)).
    """
    # BEGIN SOLUTION ch01.2
    # HINT: recompute mu, sigma2 and x_hat from x; sums run over channel_axes(x).
    axes = channel_axes(x)
    m = x.numel() // x.shape[1]
    mean = x.mean(dim=axes, keepdim=True)
    inv_std = 1.0 / torch.sqrt(x.var(dim=axes, unbiased=False, keepdim=True) + eps)
    x_hat = (x - mean) * inv_std
    grad_beta = grad_out.sum(dim=axes)
    grad_gamma = (grad_out * x_hat).sum(dim=axes)
    g = grad_out if gamma is None else grad_out * per_channel(gamma, x)
    sum_g = g.sum(dim=axes, keepdim=True)
    sum_g_xhat = (g * x_hat).sum(dim=axes, keepdim=True)
    grad_x = inv_std / m * (m * g - sum_g - x_hat * sum_g_xhat)
    return grad_x, grad_gamma, grad_beta
    # END SOLUTION


# Task ch01.3 - a drop-in nn.BatchNorm1d / nn.BatchNorm2d
# Hint 1: Compare with torch: print(nn.BatchNorm1d(3).state_dict()) and named_buffers(); your
#         module must list the same names, dtypes and shapes.
# Hint 2: weight and bias are nn.Parameter (or registered as None), the running statistics and
#         num_batches_tracked are buffers (register_buffer, None when disabled); self.training, not
#         grad mode, chooses batch or running statistics; forward calls batch_norm_forward.
# Hint 3: In training with tracking: num_batches_tracked += 1, momentum = 1 / num_batches_tracked
#         when momentum is None; use the batch statistics when self.training or when there are no
#         buffers; return the output in x's dtype.
class BatchNorm(nn.Module):
    """Batch norm as a module, interchangeable with ``nn.BatchNorm1d`` / ``nn.BatchNorm2d``.

    Same constructor (``num_features, eps, momentum, affine, track_running_stats, device,
    dtype, *, bias``), same names: parameters ``weight`` (C,) and ``bias`` (C,) when
    ``affine`` (``bias=False`` keeps ``weight`` only), created with the given ``device``
    and ``dtype``; buffers ``running_mean`` (C,), ``running_var`` (C,) and
    ``num_batches_tracked`` (a long scalar) when ``track_running_stats``; so
    ``state_dict()`` matches torch's key for key and ``load_state_dict`` works both ways,
    old checkpoints without ``num_batches_tracked`` included (provided below).
    ``reset_running_stats()`` and ``reset_parameters()`` are provided too.

    Behaviour (PyTorch's): ``self.training`` (set by ``.train()`` / ``.eval()``, never by
    grad mode) chooses batch or running statistics; in training each forward increments
    ``num_batches_tracked`` and updates the running statistics with ``momentum``, or with
    the cumulative average 1 / num_batches_tracked when ``momentum`` is None. Eval mode
    uses the running statistics whenever the buffers exist, and batch statistics when they
    do not. Setting ``track_running_stats = False`` after construction (as torch documents)
    stops the updates in training, while eval still uses the buffers.

    Input: (N, C) or (N, C, *) with C = num_features. Output: the same shape and dtype.
    """

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        # BEGIN SOLUTION ch01.3
        # HINT: nn.Parameter for weight/bias; self.register_buffer for running statistics
        # HINT: (and None for each when affine / bias / track_running_stats is False);
        # HINT: create them with device=device, dtype=dtype (num_batches_tracked: long).
        factory = {"device": device, "dtype": dtype}
        if affine:
            self.weight = nn.Parameter(torch.ones(num_features, **factory))
            if bias:
                self.bias = nn.Parameter(torch.zeros(num_features, **factory))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if track_running_stats:
            self.register_buffer("running_mean", torch.zeros(num_features, **factory))
            self.register_buffer("running_var", torch.ones(num_features, **factory))
            self.register_buffer(
                "num_batches_tracked", torch.tensor(0, dtype=torch.long, device=device)
            )
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)
        # END SOLUTION

    def forward(self, x: Tensor) -> Tensor:
        """(N, C) or (N, C, *) -> the same shape; see the class docstring."""
        # BEGIN SOLUTION ch01.3
        # HINT: batch statistics in training, and in eval when there are no buffers;
        # HINT: update (pass) the buffers only when tracking, or in eval;
        # HINT: increment num_batches_tracked before using 1 / num_batches_tracked.
        if x.dim() < 2 or x.shape[1] != self.num_features:
            raise ValueError(f"expected (N, {self.num_features}, *) input, got {tuple(x.shape)}")
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:
                momentum = 1.0 / float(self.num_batches_tracked)
        use_batch_stats = self.training or (self.running_mean is None and self.running_var is None)
        pass_buffers = not self.training or self.track_running_stats
        return batch_norm_forward(
            x,
            self.weight,
            self.bias,
            self.running_mean if pass_buffers else None,  # None: no update
            self.running_var if pass_buffers else None,
            training=use_batch_stats,
            momentum=momentum,
            eps=self.eps,
        )
        # END SOLUTION

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batches seen (torch's)."""
        if self.track_running_stats and self.running_mean is not None:
            self.running_mean.zero_()
            self.running_var.fill_(1)
            self.num_batches_tracked.zero_()

    def reset_parameters(self) -> None:
        """The running statistics reset, weight 1, bias 0 (torch's)."""
        self.reset_running_stats()
        if self.weight is not None:
            with torch.no_grad():
                self.weight.fill_(1)
                if self.bias is not None:
                    self.bias.zero_()

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001
        # Checkpoints written before torch 0.4.1 have no num_batches_tracked: keep the
        # module's own count (0 when it has none), as torch's version hook does.
        key = prefix + "num_batches_tracked"
        if self.track_running_stats and key not in state_dict:
            own = self.num_batches_tracked
            state_dict[key] = own if own is not None else torch.tensor(0, dtype=torch.long)
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )
