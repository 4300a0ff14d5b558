"""ch07's mutants: typical mistakes, each with the words its feedback must contain (``says``)."""

from grader.model import Mutant

GROUPS = "    xg = x.reshape(N, num_groups, -1)  # (N, G, m): contiguous channels, then space"
VAR = "xg.var(dim=2, unbiased=False, keepdim=True)"
MUTANTS = (
    Mutant("strided_groups", "channels grouped by stride (c -> group c % G) instead of "
           "contiguously",
           ((GROUPS, "    xg = x.reshape(N, C // num_groups, num_groups, -1).transpose(1, 2)"
                     ".reshape(N, num_groups, -1)"),
            ("    y = x_hat.reshape(x.shape)  # (N, C, *)",
             "    y = x_hat.reshape(N, num_groups, C // num_groups, -1).transpose(1, 2)"
             ".reshape(x.shape)")),
           ("ch07.1.forward_2d", "ch07.1.forward_3d")),
    Mutant("batch_axis_statistics", "statistics over the batch axis too (batch norm over groups)",
           (("xg.mean(dim=2, keepdim=True)", "xg.mean(dim=(0, 2), keepdim=True)"),
            (VAR, "xg.var(dim=(0, 2), unbiased=False, keepdim=True)")),
           ("ch07.1.per_example", "ch07.1.forward_3d")),
    Mutant("affine_per_group", "gamma and beta have one value per group, repeated over the "
           "group's channels",
           (("self.weight = nn.Parameter(torch.ones(num_channels, **factory))",
             "self.weight = nn.Parameter(torch.ones(num_groups, **factory))"),
            ("self.bias = nn.Parameter(torch.zeros(num_channels, **factory))",
             "self.bias = nn.Parameter(torch.zeros(num_groups, **factory))"),
            ("return group_norm(x, self.num_groups, self.weight, self.bias, self.eps)",
             "rep = self.num_channels // self.num_groups\n        w = None if self.weight is None "
             "else self.weight.repeat_interleave(rep)\n        b = None if self.bias is None else "
             "self.bias.repeat_interleave(rep)\n"
             "        return group_norm(x, self.num_groups, w, b, self.eps)")),
           ("ch07.2.state_dict",), says=("per channel",)),
    Mutant("unbiased_variance", "normalizes with the unbiased variance (divide by m - 1)",
           ((VAR, "xg.var(dim=2, unbiased=True, keepdim=True)"),),
           ("ch07.1.small_groups", "ch07.1.forward_2d"), says=("variance", "m - 1")),
    Mutant("eps_outside_sqrt", "divides by sqrt(var) + eps instead of sqrt(var + eps)",
           (("/ torch.sqrt(var + eps)", "/ (torch.sqrt(var) + eps)"),),
           ("ch07.1.small_variance",), says=("eps",)),
    Mutant("spatial_axes_left_out", "statistics over the group's channels at each position, "
           "leaving the spatial axes out",
           ((GROUPS, "    xg = x.reshape(N, num_groups, C // num_groups, -1)"),),
           ("ch07.1.forward_3d", "ch07.1.forward_4d")),
    Mutant("no_divisibility_check", "no check that G divides C: reshape quietly mixes channels "
           "when G divides C * L",
           (("    if num_groups < 1 or C % num_groups != 0:\n        raise ValueError("
             "f\"num_groups={num_groups} must divide the number of channels C={C}\")\n", ""),),
           ("ch07.1.bad_groups",), says=("num_groups", "split")),
    Mutant("calls_torch_group_norm", "group_norm calls F.group_norm instead of computing it",
           ((GROUPS, "    return torch.nn.functional.group_norm(x, num_groups, weight, bias, "
             "eps)\n" + GROUPS),),
           ("ch07.1.from_scratch",), says=("from scratch",)),
    Mutant("module_ignores_eps", "the module passes the default eps instead of self.eps",
           (("self.weight, self.bias, self.eps)", "self.weight, self.bias)"),),
           ("ch07.2.eps",), says=("eps",)),
    Mutant("layer_and_instance_swapped", "layer norm uses G = C and the factory's instance norm "
           "G = 1",
           (("return group_norm(x, 1, weight, bias, eps)",
             "return group_norm(x, x.shape[1], weight, bias, eps)"),
            ('groups = {"group": num_groups, "layer": 1, "instance": num_channels}',
             'groups = {"group": num_groups, "layer": 1, "instance": 1}')),
           ("ch07.3.layer_norm", "ch07.3.factory")),
    Mutant("factory_uses_torch", "the factory returns torch's nn.GroupNorm instead of your own",
           (("return GroupNorm(groups[kind], num_channels)",
             "return nn.GroupNorm(groups[kind], num_channels)"),),
           ("ch07.3.from_scratch",)),
    Mutant("lr_not_scaled", "the same LR at every batch size (no linear scaling)",
           (("lr = cfg.base_lr * batch_size / cfg.base_batch", "lr = cfg.base_lr"),),
           ("ch07.4.protocol",)),
    Mutant("equal_steps_not_epochs", "more epochs for bigger batches, so every batch size gets "
           "the same number of steps",
           (("epochs=cfg.epochs,", "epochs=cfg.epochs * max(1, batch_size // 2),"),),
           ("ch07.4.protocol",)),
    Mutant("group_norm_empty_batch_crashes", "an empty batch reaches x.reshape(0, G, -1), which "
           "cannot infer m",
           (("    if N == 0:  # an empty batch", "    if False:  # an empty batch"),),
           ("ch07.2.drop_in",)),
    Mutant("group_norm_ignores_dtype", "device= and dtype= are accepted but the parameters stay "
           "float32",
           (('factory = {"device": device, "dtype": dtype}', "factory = {}"),),
           ("ch07.2.drop_in",), says=("dtype",)),
)
