"""ch05 mutants: typical mistakes, each a text substitution on the reference solution."""

from grader.model import Mutant

MUTANTS = (
    Mutant(
        "grid_linear",
        "the LR grid is linear, not logarithmic",
        (("return [float(lr_min * ratio ** (i / (num - 1))) for i in range(num)]",
          "return [float(lr_min + (lr_max - lr_min) * i / (num - 1)) for i in range(num)]"),),
        ("ch05.1.logspace",),
    ),
    Mutant(
        "grid_misses_lr_max",
        "the grid stops one step short of lr_max (i / num instead of i / (num - 1))",
        (("ratio ** (i / (num - 1))", "ratio ** (i / num)"),),
        ("ch05.1.",),
    ),
    Mutant(
        "train_mode_at_eval",
        "evaluated in train mode (BN uses batch statistics and updates its running ones)",
        (("    model.eval()\n    try:", "    try:"),),
        ("ch05.2.eval_mode", "ch05.2.contract"),
    ),
    Mutant(
        "mode_not_restored",
        "test_accuracy always leaves the model in train mode",
        (("    finally:\n        model.train(was_training)",
          "    finally:\n        model.train()"),),
        ("ch05.2.contract",),
    ),
    Mutant(
        "last_batch_dropped",
        "the last partial batch is never evaluated",
        (("for i in range(0, len(x), batch_size):",
          "for i in range(0, len(x) - batch_size + 1, batch_size):"),),
        ("ch05.2.eval_mode",),
    ),
    Mutant(
        "model_reused",
        "one model is trained on through all LRs instead of a fresh one per LR",
        (("    for lr in lrs:\n"
          "        torch.manual_seed(cfg.seed)  # the same initial weights at every LR\n"
          "        model = build_model(model_cfg)\n",
          "    torch.manual_seed(cfg.seed)\n"
          "    model = build_model(model_cfg)\n"
          "    for lr in lrs:\n"),),
        ("ch05.3.tiny_sweep",),
    ),
    Mutant(
        "no_reseed",
        "each LR starts from different random weights (no torch.manual_seed(cfg.seed))",
        (("        torch.manual_seed(cfg.seed)  # the same initial weights at every LR\n", ""),),
        ("ch05.3.tiny_sweep",),
    ),
    Mutant(
        "divergence_counts_as_success",
        "a run that diverged counts as stable if its accuracy is high enough",
        (('if not r["diverged"] and r["test_acc"] >= target_acc',
          'if r["test_acc"] >= target_acc'),),
        ("ch05.3.highest_stable",),
    ),
    Mutant(
        "last_stable_not_highest",
        "the highest stable LR is the last stable record, not the largest LR",
        (("return max(stable) if stable else None", "return stable[-1] if stable else None"),),
        ("ch05.3.highest_stable",),
    ),
    Mutant(
        "lr_grows_per_step",
        "the stress-test LR grows by factor every step instead of every epoch",
        (("return lr0 * factor ** (step / steps_per_epoch)", "return lr0 * factor ** step"),),
        ("ch05.4.schedule",),
    ),
    Mutant(
        "lr_staircase",
        "the stress-test LR jumps once per epoch (integer epochs) instead of growing smoothly",
        (("return lr0 * factor ** (step / steps_per_epoch)",
          "return lr0 * factor ** (step // steps_per_epoch)"),),
        ("ch05.4.schedule",),
    ),
    Mutant(
        "stress_constant_lr",
        "the stress test forgets the exponential schedule (the LR stays at lr0)",
        (('schedule="exponential", ', ""),),
        ("ch05.4.tiny_stress",),
    ),
    Mutant(
        "norm_not_switched",
        "both sweeps use model_cfg's own norm: BN is compared with itself",
        (("lr_sweep(data, replace(model_cfg, norm=norm), lrs,", "lr_sweep(data, model_cfg, lrs,"),),
        ("ch05.5.stable_ratio",),
    ),
    Mutant(
        "ratio_inverted",
        "stable_ratio is no-BN / BN",
        (('ratio = stable["batch"] / stable["none"]', 'ratio = stable["none"] / stable["batch"]'),),
        ("ch05.5.summary",),
    ),
)
