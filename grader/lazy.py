"""Lazy module proxies, so that chapter specs can be imported without importing torch.

`dlbn --help` and `dlbn list` import every spec to read titles and points; `import torch`
alone costs ~2 s, so specs write ``from grader.lazy import torch, F, nn`` and the real
import happens on first attribute access (inside a probe or a judge).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands in for a module until an attribute is first read."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def _load(self) -> ModuleType:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return self._module

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)

    def __repr__(self) -> str:
        state = "loaded" if self._module is not None else "not loaded"
        return f"<lazy module {self._name!r} ({state})>"


torch: Any = LazyModule("torch")
nn: Any = LazyModule("torch.nn")
F: Any = LazyModule("torch.nn.functional")
np: Any = LazyModule("numpy")
