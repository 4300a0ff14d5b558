"""ch03's mutants: typical mistakes in the noisy batch norm, the nets and the ICS probe."""

from grader.model import Mutant

STEP = ("            loss = F.cross_entropy(model(xb), yb)\n"
        "            optimizer.zero_grad(set_to_none=True)\n"
        "            loss.backward()\n"
        "            optimizer.step()\n")  # ics_during_training's training step
PROBE = "model.train()\n            if step % every == 0:"  # where the loop measures

MUTANTS = (
    Mutant("noise_fixed", "the noise is drawn once and reused at every step instead of re-drawn",
           (("        shift, scale = self.draw_noise(x)\n",
             "        if self.last_shift is None:\n"
             "            self.last_shift, self.last_scale = self.draw_noise(x)\n"
             "        shift, scale = self.last_shift, self.last_scale\n"),),
           ("ch03.1.noise",)),
    Mutant("noise_zero_mean",
           "the shift is left out: noise with zero mean (only the scale changes)",
           (("* y + shift.reshape(shape)", "* y"),),
           ("ch03.1.noise",)),
    Mutant("noise_in_eval", "eval mode draws noise too (like dropout left on at test time)",
           (("if not self.training:", "if False:"),),
           ("ch03.1.batch_norm_part",)),
    Mutant("noisy_kind_not_noisy", "build_net forgets to swap in the noisy layers",
           (("block.norm = NoisyBatchNorm(block.norm.num_features, noise_mean, noise_std)",
             "pass"),),
           ("ch03.2.build",)),
    Mutant("ics_moves_layer_itself",
           "ICS: G' taken after updating the layer itself too (blocks[:layer + 1])",
           (("in model.blocks[:layer] for p", "in model.blocks[:layer + 1] for p"),),
           ("ch03.3.values",)),
    Mutant("ics_wrong_sign", "ICS: the earlier layers step up the gradient (wrong sign)",
           (("        p.grad = g.clone()", "        p.grad = -g.clone()"),),
           ("ch03.3.values",)),
    Mutant("ics_not_restored", "ICS: the model is not restored after the probe step",
           (("    restore_state(model, state, optimizer)\n", ""),),
           ("ch03.3.restored", "ch03.3.loop")),
    Mutant("ics_optimizer_not_restored",
           "ICS: parameters restored but not the optimizer's momentum buffers",
           (("    restore_state(model, state, optimizer)\n", "    restore_state(model, state)\n"),),
           ("ch03.3.restored", "ch03.3.loop")),
    Mutant("ics_probe_after_step",
           "the training loop measures ICS after the training step instead of before",
           ((STEP, ""), (PROBE, PROBE.replace("\n", "\n" + STEP))),
           ("ch03.3.loop",)),
)
