"""ch04's mutants: typical mistakes in the walk along the gradient and the training loop."""

from grader.model import Mutant

STEP = ("            loss = F.cross_entropy(model(xb), yb)\n"
        "            optimizer.zero_grad(set_to_none=True)\n"
        "            loss.backward()\n"
        "            optimizer.step()\n")  # landscape_during_training's training step
PROBE = "model.train()\n            if step % every == 0:"  # where the loop measures

MUTANTS = (
    Mutant("step_wrong_sign", "relative loss: the step goes UP the gradient (w + eta g)",
           (("add_scaled_(params, grads, -eta)  # w - eta g", "add_scaled_(params, grads, eta)"),),
           ("ch04.1.values", "ch04.1.bjorck")),
    Mutant("probe_not_restored",
           "relative loss: the model is not restored after each probe step (steps accumulate)",
           (("        restore_state(model, state)\n    return torch.tensor(ratios",
             "    return torch.tensor(ratios"),),
           ("ch04.1.values", "ch04.1.restored")),
    Mutant("ratio_inverted", "relative loss computed as old / new instead of new / old",
           (("float(loss) / float(loss0)", "float(loss0) / float(loss)"),),
           ("ch04.1.values",)),
    Mutant("probe_in_eval_mode",
           "relative loss measured in eval mode (running statistics instead of the batch's)",
           (("    model.train()\n    params = list(model.parameters())\n    loss0",
             "    model.eval()\n    params = list(model.parameters())\n    loss0"),),
           ("ch04.1.values",)),
    Mutant("measures_wrong_sign", "Santurkar's measures: the step goes UP the gradient",
           (("add_scaled_(params, grads, alpha=-eta)", "add_scaled_(params, grads, alpha=eta)"),),
           ("ch04.2.values",)),
    Mutant("measures_not_restored",
           "Santurkar's measures: the model is not restored after a probe step",
           (("        restore_state(model, state)\n    loss_t", "    loss_t"),),
           ("ch04.2.values", "ch04.2.restored")),
    Mutant("beta_by_step_only",
           "effective beta-smoothness divides by eta instead of the distance eta ||g||",
           (("dtype=torch.float64) * g.norm()", "dtype=torch.float64)"),),
           ("ch04.2.values",)),
    Mutant("loop_probe_after_step",
           "the training loop measures after the training step instead of before",
           ((STEP, ""), (PROBE, PROBE.replace("\n", "\n" + STEP))),
           ("ch04.3.loop",)),
)
