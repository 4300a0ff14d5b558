"""From-scratch rules read in the parent: the references pass, the usual tricks do not."""

from __future__ import annotations

import pytest

from grader.course import all_chapters
from grader.scratch import graded_findings, scan
from grader.specs.ch01.checks_forward import FORBIDDEN

BN = FORBIDDEN[:3]
HEAD = "import torch\nimport torch.nn.functional as F\nfrom torch import nn\n"


def test_every_reference_and_starter_is_clean(repo_root) -> None:  # noqa: ANN001
    checked = 0
    for chapter in all_chapters():
        for check in chapter.checks:
            if check.scratch:
                for part in ("solutions", "chapters"):
                    text = (repo_root / part / chapter.slug / "exercises.py").read_text()
                    assert scan(text, check.scratch) == [], (check.id, part)
                checked += 1
    assert checked >= 5


@pytest.mark.parametrize(
    "body",
    [
        "def f(x):\n    return F.batch_norm(x, None, None, training=True)\n",
        "def f(x):\n    return torch.batch_norm(x, None, None, None, None, True, 0.1, 1e-5)\n",
        "from torch.nn.functional import batch_norm as bn\n",
        "def f(x):\n    return getattr(F, 'batch' + '_norm')(x, None, None)\n",
        "def f(x):\n    name = 'batch_norm'\n    return getattr(F, name)(x)\n",
        "def f(x):\n    return torch.ops.aten.native_batch_norm(x)\n",
        "def f(x):\n    return torch._C._nn.something(x)\n",
        "def f(x):\n    return eval('F.batch' + '_norm')(x)\n",
        "import importlib\n",
        "def f(x):\n    return __import__('torch').nn.functional.__dict__['batch_norm'](x)\n",
        "def f(x):\n    return vars(F)['batch_' + 'norm'](x)\n",
        "def f(x):\n    return nn.BatchNorm1d(3)(x)\n",
        "import sys\ndef f(x):\n    return sys.modules['torch'].batch_norm(x)\n",
        "import typing\ndef g(x: 'F.batch_norm'):\n    pass\nbn = typing.get_type_hints(g)\n",
        "from torch.nn.modules.batchnorm import _BatchNorm\n",
        "def f(x):\n    return torch.nn.functional.instance_norm(x)\n",
    ],
)
def test_tricks_are_found(body: str) -> None:
    forbidden = (*BN, "torch.nn.BatchNorm1d", "torch.nn.functional.instance_norm")
    assert scan(HEAD + body, forbidden), body


def test_docstrings_and_own_names_are_fine() -> None:
    text = HEAD + (
        'def batch_norm_forward(x):\n    """Like F.batch_norm, but yours."""\n'
        "    return (x - x.mean(0)) / x.std(0)\n"
        "def group_norm(x):\n    return x\n"
        "def use():\n    return group_norm(1)\n"
    )
    assert scan(text, (*BN, "torch.nn.functional.group_norm")) == []


def test_autograd_rules() -> None:
    rules = ("torch.autograd.grad", "torch.autograd.backward")
    assert scan(HEAD + "def f(x):\n    return torch.autograd.grad(x, x)\n", rules)
    assert scan(HEAD + "def batch_norm_backward(g):\n    return g\n", rules) == []


@pytest.mark.parametrize(
    "body",
    [
        "import os\n", "import grader.specs.ch01\n", "import sys\n", "import gc\n",
        "import inspect\n", "import operator\n", "import ctypes\n", "from . import x\n",
        "x = object.__setattr__\n", "f = getattr\n", "torch.save(1, '/proc/self/fd/5')\n",
        "open('/proc/self/fd/5', 'wb')\n", "import numpy as np\nnp.save('a', 1)\n",
        "y = torch._C\n", "y = torch.ops.aten\n", "y = getattr(torch, 'n' + 'n')\n",
        "y = (1).__class__.__base__.__subclasses__()\n", "import torch.hub\n",
        "y = getattr(torch, '__dict__')\n",
        "j = torch.os\n", "m = torch.sys\n", "g = torch.inspect.getattr_static\n",
        "names = dir(torch)\n", "torch.equal = lambda a, b: True\n",
        "setattr(torch, 'equal', None)\n", "F.relu = None\n",
    ],
)
def test_graded_dialect_refuses_escape_hatches(body: str) -> None:
    assert graded_findings(HEAD + body), body


def test_every_reference_and_starter_is_inside_the_graded_dialect(repo_root) -> None:  # noqa: ANN001
    for chapter in all_chapters():
        for part in ("solutions", "chapters"):
            text = (repo_root / part / chapter.slug / "exercises.py").read_text()
            assert graded_findings(text) == [], (chapter.id, part)


def test_a_file_too_deep_to_parse_fails_closed() -> None:
    import sys

    deep = "def f(a):\n    return " + " + ".join(["a"] * 2900) + "\n"
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(400)  # the parent may call the scan from a deep stack
    try:
        assert scan(deep, BN) and graded_findings(deep)
    finally:
        sys.setrecursionlimit(limit)
