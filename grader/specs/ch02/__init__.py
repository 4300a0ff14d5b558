"""ch02: deep networks at initialization (collapse, frozen BN, growth, one-class bias)."""

from grader.model import Chapter, Mutant
from grader.specs.ch02.checks import CHECKS_1_3
from grader.specs.ch02.checks_grad import CHECKS_4_5

MUTANTS = (
    Mutant(
        "std_forgets_positions",
        "channel_stats reduces the std over the batch axis only, not over positions",
        (("x.std(dim=axes, correction=0)  # (C,), (C,)", "x.std(dim=0, correction=0)"),),
        ("ch02.1.stats",),
    ),
    Mutant(
        "unbiased_std",
        "channel_stats uses the unbiased standard deviation",
        (("x.std(dim=axes, correction=0)  # (C,), (C,)", "x.std(dim=axes, correction=1)"),),
        ("ch02.1.stats",),
    ),
    Mutant(
        "within_share",
        "collapse_share returns the WITHIN-channel share (1 - the asked quantity)",
        (("return between / (between + within)", "return within / (between + within)"),),
        ("ch02.1.collapse", "ch02.1.contract"),
    ),
    Mutant(
        "hooks_left_attached",
        "record_stats never removes its forward hooks",
        (("        for handle in handles:\n            handle.remove()\n", ""),),
        ("ch02.2.clean",),
    ),
    Mutant(
        "mode_not_restored",
        "record_stats leaves the model in the mode it switched to",
        (("            handle.remove()\n        model.train(was_training)\n",
          "            handle.remove()\n"),),
        ("ch02.2.clean",),
    ),
    Mutant(
        "records_inputs",
        "record_stats hooks record the layer's input instead of its output",
        (
            ("mean, std = channel_stats(output)", "mean, std = channel_stats(inputs[0])"),
            ("(mean, std, collapse_share(output))", "(mean, std, collapse_share(inputs[0]))"),
        ),
        ("ch02.2.record",),
    ),
    Mutant(
        "he_fan_out",
        "he_normal_ uses fan_out (C_out * kernel) instead of fan_in",
        (("fan_in = weight[0].numel()", "fan_in = weight[:, 0].numel()"),),
        ("ch02.3.he_std",),
    ),
    Mutant(
        "he_gain_one",
        "he_normal_ uses variance 1 / fan_in (LeCun / Xavier-like), forgetting ReLU's factor 2",
        (("math.sqrt(2.0 / fan_in)", "math.sqrt(1.0 / fan_in)"),),
        ("ch02.3.he_std", "ch02.3.he_values"),
    ),
    Mutant(
        "frozen_recomputed",
        "FrozenBatchNorm recomputes its statistics on every call (that is just batch norm)",
        (("if int(self.num_batches_tracked) == 0:", "if True:"),),
        ("ch02.3.frozen",),
    ),
    Mutant(
        "frozen_unbiased_var",
        "FrozenBatchNorm stores the unbiased variance",
        (("self.running_var.copy_(x.var(dim=axes, correction=0))",
          "self.running_var.copy_(x.var(dim=axes, correction=1))"),),
        ("ch02.3.frozen",),
    ),
    Mutant(
        "frozen_stats_with_autograd",
        "FrozenBatchNorm calibrates with autograd on: its buffers join the graph",
        (("            with torch.no_grad():\n                self.running_mean.copy_",
          "            if True:\n                self.running_mean.copy_"),),
        ("ch02.3.frozen_state",),
    ),
    Mutant(
        "shifted_relu_unit_variance",
        "shifted_relu uses the constants for N(0, 1) pre-activations instead of N(0, 2)",
        (("(F.relu(x) - math.sqrt(1 / math.pi)) / math.sqrt(1 - 1 / math.pi)",
          "(F.relu(x) - math.sqrt(1 / (2 * math.pi))) / math.sqrt((1 - 1 / math.pi) / 2)"),),
        ("ch02.3.shifted",),
    ),
    Mutant(
        "mean_loss",
        "output_gradients differentiates the MEAN loss: every row shrinks by 1 / N",
        (('F.cross_entropy(logits, y, reduction="sum").backward()',
          "F.cross_entropy(logits, y).backward()"),),
        ("ch02.4.grads",),
    ),
    Mutant(
        "grads_in_eval_mode",
        "output_gradients runs the model in eval mode (batch norm on running statistics)",
        (("    model.train()\n    try:\n        logits = model(x)",
          "    model.eval()\n    try:\n        logits = model(x)"),),
        ("ch02.4.grads",),
    ),
    Mutant(
        "abs_gradient_mass",
        "one_class_bias sums |grad| per column instead of its positive part",
        (("mass = grad.clamp(min=0).sum(dim=0)", "mass = grad.abs().sum(dim=0)"),),
        ("ch02.4.bias",),
    ),
    Mutant(
        "stale_gradients",
        "weight_gradient does not clear old gradients first, so they add up",
        (("    model.zero_grad(set_to_none=True)\n    output_gradients(model, x, y)",
          "    output_gradients(model, x, y)"),),
        ("ch02.5.weight_grad",),
    ),
    Mutant(
        "kurtosis_in_float32",
        "tail_stats computes in float32: the 4th power of 1e10 overflows",
        (("g = g.detach().double().flatten()", "g = g.detach().flatten()"),),
        ("ch02.5.tail",),
    ),
)

CHAPTER = Chapter(
    id="ch02",
    slug="ch02_initialization",
    title="Deep networks at initialization",
    tasks={
        1: "per-channel statistics and the collapse share",
        2: "forward hooks that record every layer",
        3: "He init, frozen batch norm and the shifted ReLU",
        4: "output-logit gradients and the one-class bias",
        5: "gradient statistics at a middle layer",
    },
    checks=(*CHECKS_1_3, *CHECKS_4_5),
    mutants=MUTANTS,
    forbidden=(),
    run=f"{__name__}.figures:run",  # imported only by `dlbn run`
    spec_module=__name__,
)
