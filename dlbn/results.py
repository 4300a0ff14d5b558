"""What a training run returns: per-epoch history, divergence report, JSON output.

Usage::

    result = dlbn.train.train(model, data, cfg)
    result.best_test_acc, result.final_train_acc, result.diverged, result.lr   # lists per epoch
    save_result(result, cfg, "runs/bn.json", model_cfg=model_cfg)            # strict JSON
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from dlbn.config import TrainConfig


@dataclass
class TrainResult:
    """Per-epoch history of a run. Epochs count from 1; losses are mean cross-entropy.

    ``train_loss``/``train_acc`` are running averages over the epoch's batches (train mode,
    augmented, as the optimizer saw them); ``lr`` is the LR of the epoch's last step. Test
    metrics (and ``train_eval_*`` with ``eval_train``) are in eval mode, at ``eval_epoch``.
    The epoch in which a run diverged is not in the history.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    eval_epoch: list[int] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    train_eval_loss: list[float] = field(default_factory=list)
    train_eval_acc: list[float] = field(default_factory=list)
    step_loss: list[float] = field(default_factory=list)  # with record_steps
    step_lr: list[float] = field(default_factory=list)  # with record_steps
    diverged: bool = False
    diverged_step: int | None = None  # 0-based optimizer step of the first bad loss
    diverged_epoch: int | None = None  # 1-based epoch it happened in
    diverged_lr: float | None = None  # the LR of that step
    diverged_loss: float | None = None  # the bad loss (may be nan or inf)
    stopped_early: bool = False  # a callback or stop_epoch ended the run before cfg.epochs
    steps: int = 0  # optimizer steps taken
    train_seconds: float = 0.0  # wall time in training steps, evaluation excluded
    seconds: float = 0.0  # wall time of the whole call

    @property
    def best_test_acc(self) -> float:
        return max(self.test_acc, default=math.nan)

    @property
    def final_test_acc(self) -> float:
        return self.test_acc[-1] if self.test_acc else math.nan

    @property
    def final_train_acc(self) -> float:
        return self.train_acc[-1] if self.train_acc else math.nan

    @property
    def best_train_acc(self) -> float:
        return max(self.train_acc, default=math.nan)

    def to_dict(self) -> dict[str, Any]:
        """Fields and summary numbers; NaN/inf become None so that the dict is valid JSON."""
        d = asdict(self)
        d.update(
            best_test_acc=self.best_test_acc,
            final_test_acc=self.final_test_acc,
            final_train_acc=self.final_train_acc,
            best_train_acc=self.best_train_acc,
        )
        return _json_safe(d)

    def summary(self) -> str:
        text = (
            f"{len(self.epoch)} epochs, {self.steps} steps in {self.train_seconds:.1f} s: "
            f"train acc {self.final_train_acc:.3f}, test acc {self.final_test_acc:.3f} "
            f"(best {self.best_test_acc:.3f})"
        )
        if self.diverged:
            text += (
                f"; DIVERGED at step {self.diverged_step} (epoch {self.diverged_epoch}, "
                f"lr {self.diverged_lr:.3g}, loss {self.diverged_loss:.3g})"
            )
        return text


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def save_result(
    result: TrainResult,
    cfg: TrainConfig,
    path: str | os.PathLike[str],
    *,
    model_cfg: Any = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Write ``{"train_config", "model_config", "result", "extra", "torch"}`` as JSON.

    The config is the resolved one (every field, defaults included), so a result file alone
    says how it was made. ``model_cfg`` may be a dataclass such as ModelConfig. Creates the
    parent folder; returns the path.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "train_config": asdict(cfg),
        "model_config": asdict(model_cfg) if model_cfg is not None else None,
        "result": result.to_dict(),
        "extra": extra or {},
        "torch": torch.__version__,
    }
    path.write_text(json.dumps(_json_safe(payload), indent=2, allow_nan=False) + "\n")
    return path
