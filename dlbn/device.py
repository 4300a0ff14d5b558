"""The one place devices are named and resolved (the lab bench, the grader and the CLI).

``resolve("auto")`` picks cuda, then mps, then cpu. Asking for a device that is not there
raises `DeviceUnavailable` (the CLI turns it into a usage error). 'auto' and 'cpu' resolve
without importing torch on a Linux machine with no accelerator driver, so a grader can
overlap its own torch import with a child's start-up.
"""

from __future__ import annotations

import os
import sys

DEVICES = ("auto", "cpu", "cuda", "mps")


class DeviceUnavailable(ValueError):
    """The requested device is unknown or not present on this machine."""


def no_accelerator_here() -> bool:
    """True when this is Linux without NVIDIA or ROCm kernel drivers (no torch import)."""
    return sys.platform.startswith("linux") and not any(
        os.path.exists(p) for p in ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/kfd")
    )


def _mps_available(torch) -> bool:  # noqa: ANN001 - the torch module
    mps = getattr(torch.backends, "mps", None)
    return mps is not None and mps.is_available()


def resolve(device: object) -> str:
    """'auto' -> 'cuda', then 'mps', then 'cpu'; 'cuda:1' stays as given when present."""
    name = str(device).lower()
    if name == "cpu" or (name == "auto" and no_accelerator_here()):
        return "cpu"
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return "cuda"
        return "mps" if _mps_available(torch) else "cpu"
    kind = name.split(":")[0]
    if kind == "cpu":
        return "cpu"
    if kind == "cuda" and torch.cuda.is_available():
        return name
    if kind == "mps" and _mps_available(torch):
        return "mps"
    if kind in ("cuda", "mps"):
        raise DeviceUnavailable(f"device {device!r} is not available here; try --device cpu "
                                "or auto")
    raise DeviceUnavailable(f"unknown device {device!r}; choose from {', '.join(DEVICES)}")


def torch_device(device: object):  # noqa: ANN201 - torch.device
    """`resolve`, as a ``torch.device`` (what training code wants)."""
    import torch

    return torch.device(resolve(device))
