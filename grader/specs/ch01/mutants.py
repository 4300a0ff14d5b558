"""ch01's mutants: typical mistakes, each with the words its feedback must contain."""

from dataclasses import replace

from grader.model import Mutant

MUTANTS = (
    Mutant(
        "biased_running_var",
        "running_var updated with the biased batch variance",
        (("momentum * var * m / (m - 1)", "momentum * var"),),
        ("ch01.1.small_batch", "ch01.1.running_stats"),
    ),
    Mutant(
        "momentum_reversed",
        "momentum weighs the old running value instead of the new batch value",
        (
            (
                "running_mean.mul_(1 - momentum).add_(momentum * mean)",
                "running_mean.mul_(momentum).add_((1 - momentum) * mean)",
            ),
            (
                "running_var.mul_(1 - momentum).add_(momentum * var * m / (m - 1))",
                "running_var.mul_(momentum).add_((1 - momentum) * var * m / (m - 1))",
            ),
        ),
        ("ch01.1.running_stats",),
    ),
    Mutant(
        "eps_outside_sqrt",
        "divides by sqrt(var) + eps instead of sqrt(var + eps)",
        (("/ torch.sqrt(per_channel(var, x) + eps)", "/ (torch.sqrt(per_channel(var, x)) + eps)"),),
        ("ch01.1.small_variance",),
    ),
    Mutant(
        "wrong_axes",
        "reduces over the batch axis only, forgetting the spatial axes",
        (("    axes = channel_axes(x)\n    if training:", "    axes = [0]\n    if training:"),),
        ("ch01.1.train_3d", "ch01.1.train_4d"),
    ),
    Mutant(
        "unbiased_normalization",
        "normalizes with the unbiased batch variance",
        (
            (
                "var = x.var(dim=axes, unbiased=False)  # (C,) biased",
                "var = x.var(dim=axes, unbiased=True)",
            ),
        ),
        ("ch01.1.train_2d", "ch01.1.small_batch"),
    ),
    Mutant(
        "batch_stats_in_eval",
        "eval mode still normalizes with the batch statistics",
        (
            (
                "mean, var = running_mean, running_var",
                "mean, var = x.mean(dim=axes), x.var(dim=axes, unbiased=False)",
            ),
        ),
        ("ch01.1.eval", "ch01.3.train_then_eval"),
    ),
    Mutant(
        "grad_mode_as_train",
        "the module uses torch.is_grad_enabled() as its training flag (d2l's shortcut)",
        (
            (
                "if self.training and self.track_running_stats and",
                "if torch.is_grad_enabled() and self.track_running_stats and",
            ),
            (
                "use_batch_stats = self.training or (",
                "use_batch_stats = torch.is_grad_enabled() or (",
            ),
        ),
        ("ch01.3.train_then_eval",),
    ),
    Mutant(
        "running_stats_not_buffers",
        "running statistics stored as plain tensor attributes, not buffers",
        (
            (
                'self.register_buffer("running_mean", torch.zeros(num_features, **factory))',
                "self.running_mean = torch.zeros(num_features, **factory)",
            ),
            (
                'self.register_buffer("running_var", torch.ones(num_features, **factory))',
                "self.running_var = torch.ones(num_features, **factory)",
            ),
        ),
        ("ch01.3.state_dict",),
    ),
    Mutant(
        "backward_constant_stats",
        "backward treats the batch mean and variance as constants",
        (("grad_x = inv_std / m * (m * g - sum_g - x_hat * sum_g_xhat)", "grad_x = g * inv_std"),),
        ("ch01.2.",),
    ),
    Mutant(
        "backward_forgets_gamma",
        "backward leaves gamma out of dL/dx",
        (("g = grad_out if gamma is None else grad_out * per_channel(gamma, x)", "g = grad_out"),),
        ("ch01.2.grad_2d",),
    ),
    Mutant(
        "calls_torch_batch_norm",
        "the forward pass calls F.batch_norm instead of computing it",
        (
            (
                "    axes = channel_axes(x)\n    if training:",
                "    return torch.nn.functional.batch_norm(\n"
                "        x, running_mean, running_var, gamma, beta, training, momentum, eps\n"
                "    )\n"
                "    axes = channel_axes(x)\n    if training:",
            ),
        ),
        ("ch01.1.from_scratch",),
    ),
    Mutant(
        "in_place_input",
        "the forward pass centres x in place, damaging the caller's tensor",
        (
            (
                "    x_hat = (x - per_channel(mean, x)) / torch.sqrt",
                "    x -= per_channel(mean, x)\n    x_hat = x / torch.sqrt",
            ),
        ),
        ("ch01.1.contract",),
    ),
)

MUTANTS += (
    Mutant(
        "eval_ignores_buffers_untracked",
        "with track_running_stats switched off after training, eval ignores the buffers",
        ((
            "use_batch_stats = self.training or (self.running_mean is None and "
            "self.running_var is None)",
            "use_batch_stats = self.training or not self.track_running_stats",
        ),),
        ("ch01.3.edge_cases",),
    ),
    Mutant(
        "promotes_half_input",
        "16-bit input comes back float32 (promoted by the float32 statistics)",
        (("    return y.to(out_dtype)  # float32", "    return y  # float32"),),
        ("ch01.3.edge_cases",),
    ),
    Mutant(
        "ignores_factory_kwargs",
        "device= and dtype= are accepted but the parameters stay float32",
        (('factory = {"device": device, "dtype": dtype}', "factory = {}"),),
        ("ch01.3.factory",),
    ),
    Mutant(
        "bias_keyword_ignored",
        "bias=False still creates a bias parameter",
        (("            if bias:\n", "            if True:\n"),),
        ("ch01.3.factory",),
    ),
)

# The words the first failing check's feedback must contain for each mutant: the message or
# hint names the mistake (dlbn verify checks it), not only catches it.
SAYS = {
    "biased_running_var": ("unbiased",),
    "momentum_reversed": ("momentum",),
    "eps_outside_sqrt": ("eps",),
    "wrong_axes": ("axes",),
    "unbiased_normalization": ("biased",),
    "batch_stats_in_eval": ("running_mean",),
    "grad_mode_as_train": ("self.training",),
    "running_stats_not_buffers": ("register_buffer",),
    "backward_constant_stats": ("depend on x",),
    "backward_forgets_gamma": ("gamma",),
    "calls_torch_batch_norm": ("from scratch",),
    "in_place_input": ("in place",),
    "eval_ignores_buffers_untracked": ("buffers",),
    "promotes_half_input": ("dtype",),
    "ignores_factory_kwargs": ("dtype",),
    "bias_keyword_ignored": ("bias=false",),
}
MUTANTS = tuple(replace(m, says=SAYS[m.name]) for m in MUTANTS)

MUTANTS += (
    Mutant(
        "only_2d_and_4d",
        "accepts only (N, C) and (N, C, H, W) input, as d2l's batch_norm does "
        "(assert len(X.shape) in (2, 4))",
        (("    if x.dim() < 2:\n", "    assert x.dim() in (2, 4)\n    if x.dim() < 2:\n"),),
        ("ch01.1.train_3d",),
        says=("one input shape", "(N, C, L)"),
    ),
)
