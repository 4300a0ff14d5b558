"""ch08's mutants: typical mistakes the checks must catch."""

from grader.model import Mutant

MUTANTS = (
    Mutant("decay_everything",
           "weight decay on every parameter, BN's gamma/beta and biases included (the book's sum "
           "over model.parameters())",
           (("return [(name, p) for name, p in model.named_parameters() if id(p) in keep]",
             "return list(model.named_parameters())"),),
           ("ch08.1.decayed_names", "ch08.1.two_forms")),
    Mutant("l2_without_half",
           "penalty lam * ||w||^2 with SGD's weight_decay=lam: the two forms differ by 2x",
           (("return weight_decay / 2 * torch.stack(squares).sum()",
             "return weight_decay * torch.stack(squares).sum()"),),
           ("ch08.1.penalty", "ch08.1.two_forms")),
    Mutant("penalty_detached",
           "the penalty is summed as Python floats, so no gradient reaches the weights",
           (("squares = [p.pow(2).sum() for _, p in decayed_parameters(model)]",
             "squares = [torch.tensor(p.pow(2).sum().item())\n"
             "               for _, p in decayed_parameters(model)]"),),
           ("ch08.1.contract", "ch08.1.two_forms")),
    Mutant("l2_and_weight_decay",
           "the l2 variant also sets SGD's weight_decay: decay applied twice",
           (("        tc = replace(tc, weight_decay=cfg.weight_decay)\n"
             "    elif name == \"dropout\"",
             "        pass\n    elif name == \"dropout\""),
            ("            return F.cross_entropy(logits, y)"
             " + l2_penalty(model, cfg.weight_decay)\n",
             "            return F.cross_entropy(logits, y) + l2_penalty(model, cfg.weight_decay)\n"
             "        tc = replace(tc, weight_decay=cfg.weight_decay)\n")),
           ("ch08.2.variants",)),
    Mutant("decay_norm_and_bias",
           "the optimizer's weight decay also reaches biases and norm parameters",
           (("eval_train=True, decay_norm_and_bias=False)", "eval_train=True)"),),
           ("ch08.2.variants",)),
    Mutant("seed_after_build",
           "torch.manual_seed is called after build_model: variants start from different weights",
           (("    torch.manual_seed(seed)\n"
             "    return Variant(name, build_model(mc).to(device), tc, loss_fn)",
             "    model = build_model(mc).to(device)\n    torch.manual_seed(seed)\n"
             "    return Variant(name, model, tc, loss_fn)"),),
           ("ch08.2.variants",)),
    Mutant("train_mode_at_eval",
           "the model is left in train mode at evaluation (only torch.no_grad)",
           (("    else:\n        model.eval()\n", "    else:\n        pass\n"),),
           ("ch08.3.eval_mode", "ch08.3.contract")),
    Mutant("dropout_on_at_eval",
           "only the batch-norm layers are put in eval mode; dropout stays active",
           (("    else:\n        model.eval()\n",
             "    else:\n        model.train()\n        for m in model.modules():\n"
             "            if isinstance(m, nn.BatchNorm1d):\n                m.eval()\n"),),
           ("ch08.3.eval_mode", "ch08.3.contract")),
    Mutant("mode_not_restored", "accuracy() leaves the model in eval mode",
           (("        model.train(was_training)\n    # END SOLUTION",
             "        pass\n    # END SOLUTION"),),
           ("ch08.3.contract",)),
    Mutant("running_stats_leak", "train-mode evaluation updates batch norm's running statistics",
           (("    saved = [(b, b.clone()) for b in model.buffers()] if train_mode else []",
             "    saved = []"),),
           ("ch08.3.contract",)),
    Mutant("gap_reversed", "gap computed as val - train",
           (("return Measurement(train_acc, val_acc, train_acc - val_acc, val_train_mode)",
             "return Measurement(train_acc, val_acc, val_acc - train_acc, val_train_mode)"),),
           ("ch08.3.measure",)),
    Mutant("curve_in_train_mode",
           "the training curve is the running train-mode accuracy, not eval-mode accuracy",
           (("list(result.train_eval_acc)", "list(result.train_acc)"),),
           ("ch08.4.run_variant",)),
)
