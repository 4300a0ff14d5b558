"""`TrainConfig`: one training run's hyperparameters (saved beside its results)."""

from __future__ import annotations

from dataclasses import dataclass

from dlbn.schedules import SCHEDULES, lr_at


@dataclass(frozen=True)
class TrainConfig:
    """One training run's hyperparameters; units in the comments. Saved beside results."""

    epochs: int = 10  # passes over the training set; the schedule spans all of them
    batch_size: int = 32  # examples per SGD step
    lr: float = 0.05  # peak learning rate per step (the loss is a mean over the batch)
    momentum: float = 0.9  # heavy-ball momentum of torch.optim.SGD (0 = plain SGD)
    weight_decay: float = 0.0  # L2 coefficient: SGD adds weight_decay * w to each gradient
    nesterov: bool = False  # Nesterov momentum (needs momentum > 0)
    decay_norm_and_bias: bool = True  # False: no weight decay on norm gamma/beta and biases
    schedule: str = "constant"  # one of dlbn.schedules.SCHEDULES
    warmup_epochs: float = 0.0  # linear warm-up from ~0 to lr, in epochs (any schedule)
    milestones: tuple[float, ...] = ()  # "step": epochs where the LR is multiplied by gamma
    gamma: float = 0.1  # "step": the multiplier at each milestone
    lr_factor: float = 2**0.5  # "exponential": LR multiplier per epoch (Page: sqrt 2)
    label_smoothing: float = 0.0  # cross-entropy target smoothing, in [0, 1)
    diverge_factor: float = 10.0  # diverged: a batch loss > this x the first batch's, or NaN/inf
    seed: int = 0  # seeds shuffling, augmentation and torch's global RNG (dropout)
    eval_every: int = 1  # epochs between test evaluations; 0 = only after the last epoch
    eval_train: bool = False  # at each evaluation also measure the whole train set, eval mode
    eval_batch_size: int = 1000  # examples per forward pass when evaluating
    drop_last: bool = True  # skip the last partial batch, so every step sees batch_size examples
    stop_epoch: int | None = None  # stop after this many epochs; the schedule still spans epochs
    record_steps: bool = False  # keep every step's loss and LR in the result
    device: str = "cpu"  # "cpu", "cuda", "cuda:1", "mps" or "auto" (the best available)

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"unknown schedule {self.schedule!r}; valid: {', '.join(SCHEDULES)}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ValueError(f"epochs and batch_size must be >= 1, got {self}")
        if self.nesterov and self.momentum <= 0:
            raise ValueError("nesterov needs momentum > 0")

    def lr_at(self, step: int, steps_per_epoch: int) -> float:
        """The learning rate of optimizer step ``step`` (0-based)."""
        return lr_at(
            step,
            lr=self.lr,
            schedule=self.schedule,
            epochs=self.epochs,
            steps_per_epoch=steps_per_epoch,
            warmup_epochs=self.warmup_epochs,
            milestones=self.milestones,
            gamma=self.gamma,
            lr_factor=self.lr_factor,
        )
