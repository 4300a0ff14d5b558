"""What probes see in the child process: a context with seeded inputs, and failures.

A probe is ``probe(module, ctx) -> data``: it calls the learner's functions on inputs the
context builds (identical in the learner and reference processes) and returns tensors,
numbers or dicts of them. It never decides pass or fail; judges do that in the parent.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from grader.lazy import torch

# Filled by the child process: dotted name of a forbidden torch function -> calls so far.
CALLS: Counter[str] = Counter()


class ProbeFailure(Exception):
    """Raised by a probe when the learner's output cannot even be compared (wrong type)."""


@dataclass(frozen=True)
class ProbeContext:
    """Device, seed and scale of one grading run; passed to probes and judges."""

    device: str = "cpu"
    seed: int = 0
    scale: str = "small"

    def generator(self, offset: int = 0) -> Any:
        return torch.Generator().manual_seed(1_000_003 * self.seed + offset)

    def randn(
        self, *shape: int, dtype: Any = None, offset: int = 0, std: float = 1.0, mean: float = 0.0
    ) -> Any:
        """N(mean, std^2) drawn on the CPU from a seeded generator, then moved to the device,
        so that every device and process sees the same numbers."""
        dtype = dtype or torch.float32
        x = torch.randn(*shape, generator=self.generator(offset), dtype=torch.float64)
        return (mean + std * x).to(dtype=dtype, device=self.device)

    def rand(self, *shape: int, dtype: Any = None, offset: int = 0) -> Any:
        dtype = dtype or torch.float32
        x = torch.rand(*shape, generator=self.generator(offset), dtype=torch.float64)
        return x.to(dtype=dtype, device=self.device)

    def calls(self, name: str) -> int:
        """How often the forbidden torch function ``name`` has been called in this process."""
        return CALLS[name]


def expect_tensor(value: Any, what: str) -> Any:
    """Return ``value`` if it is a tensor, else fail the check with a pointed message."""
    if not isinstance(value, torch.Tensor):
        raise ProbeFailure(f"{what} returned {type(value).__name__}, expected a torch.Tensor")
    return value


def expect_tuple(value: Any, length: int, what: str) -> tuple[Any, ...]:
    if not isinstance(value, (tuple, list)) or len(value) != length:
        got = f"{len(value)} items" if isinstance(value, (tuple, list)) else type(value).__name__
        raise ProbeFailure(f"{what} returned {got}, expected a tuple of {length} tensors")
    return tuple(expect_tensor(v, f"{what}[{i}]") for i, v in enumerate(value))


def training_record(out: dict[str, Any]) -> dict[str, Any]:
    """A training loop's result as probe output: its ``"model"`` replaced by the trained
    parameters and buffers, its ``"loss"`` list as a float64 tensor (compared, not printed)."""
    model = out.pop("model")
    out["loss"] = torch.tensor(out["loss"], dtype=torch.float64)
    out["params"] = [p.detach() for p in model.parameters()]
    out["buffers"] = [b.detach() for b in model.buffers()]
    return out
