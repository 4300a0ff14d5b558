"""The references' drop-in modules against torch's own, on cases ported from PyTorch's
tests of nn.BatchNorm* and nn.GroupNorm (test/test_nn.py and test/nn/test_normalization.py:
simple average, stats not tracked, one value per channel, old checkpoints, empty batches,
affine/bias variants, 16-bit input). Each case runs the same steps on both modules and
compares outputs, gradients and the whole state_dict."""

from __future__ import annotations

import importlib.util
import itertools
from pathlib import Path

import pytest
import torch
from torch import nn

REPO = Path(__file__).resolve().parents[1]


def load(slug: str):  # noqa: ANN201
    spec = importlib.util.spec_from_file_location(f"ref_{slug}", REPO / "solutions" / slug /
                                                  "exercises.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


CH01 = load("ch01_batchnorm")
CH07 = load("ch07_group_norm")


def torch_bn(dim: int):  # noqa: ANN201
    return {2: nn.BatchNorm1d, 3: nn.BatchNorm1d, 4: nn.BatchNorm2d, 5: nn.BatchNorm3d}[dim]


def same_state(a: nn.Module, b: nn.Module, atol: float = 1e-7) -> None:
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for key in sa:
        assert sa[key].dtype == sb[key].dtype, key
        torch.testing.assert_close(sa[key], sb[key], atol=atol, rtol=1e-6, msg=key)


def run_both(ours: nn.Module, theirs: nn.Module, xs: list[torch.Tensor], train: bool) -> None:
    ours.train(train)
    theirs.train(train)
    for x in xs:
        xa, xb = x.clone().requires_grad_(), x.clone().requires_grad_()
        ya, yb = ours(xa), theirs(xb)
        assert ya.dtype == yb.dtype and ya.shape == yb.shape
        tol = 2e-2 if x.dtype in (torch.float16, torch.bfloat16) else 1e-5
        torch.testing.assert_close(ya, yb, atol=tol, rtol=tol)
        if ya.numel():
            g = torch.randn_like(ya)
            ga = torch.autograd.grad(ya, xa, g)[0]
            gb = torch.autograd.grad(yb, xb, g)[0]
            torch.testing.assert_close(ga, gb, atol=tol * 10, rtol=tol * 10)
    same_state(ours, theirs, atol=1e-3 if xs[0].dtype in (torch.float16, torch.bfloat16)
               else 1e-6)


SHAPES = [(8, 3), (6, 3, 5), (4, 3, 4, 4), (2, 3, 2, 3, 2)]
SETTINGS = [
    {}, {"momentum": None}, {"momentum": 0.3}, {"affine": False},
    {"track_running_stats": False}, {"affine": False, "track_running_stats": False},
    {"bias": False}, {"eps": 1e-3},
]


@pytest.mark.parametrize(("shape", "kw", "train"), [
    (s, k, t) for s, k, t in itertools.product(SHAPES, SETTINGS, (True, False))
])
def test_batch_norm_matches_torch(shape: tuple[int, ...], kw: dict, train: bool) -> None:
    torch.manual_seed(0)
    ours, theirs = CH01.BatchNorm(3, **kw).double(), torch_bn(len(shape))(3, **kw).double()
    xs = [torch.randn(*shape, dtype=torch.float64) * 2 + 1 for _ in range(3)]
    if not train and kw.get("track_running_stats", True):  # eval on trained statistics
        run_both(ours, theirs, xs, True)
    run_both(ours, theirs, xs, train)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_batch_norm_16_bit_input_to_a_float32_module(dtype: torch.dtype) -> None:
    torch.manual_seed(1)
    xs = [(torch.randn(16, 3, 5) * 2 + 1).to(dtype) for _ in range(2)]
    run_both(CH01.BatchNorm(3), nn.BatchNorm1d(3), xs, True)
    run_both(CH01.BatchNorm(3), nn.BatchNorm1d(3), xs, False)


def test_batch_norm_factory_keywords() -> None:
    for kw in ({"dtype": torch.float64}, {"device": "cpu"}, {"bias": False},
               {"dtype": torch.float16, "bias": False}):
        same_state(CH01.BatchNorm(4, **kw), nn.BatchNorm1d(4, **kw))
        assert (CH01.BatchNorm(4, **kw).bias is None) == (nn.BatchNorm1d(4, **kw).bias is None)


def test_batch_norm_simple_average() -> None:  # torch: test_batchnorm_simple_average
    torch.manual_seed(2)
    xs = [torch.rand(4, 3, 5) for _ in range(5)]
    run_both(CH01.BatchNorm(3, momentum=None), nn.BatchNorm1d(3, momentum=None), xs, True)


def test_batch_norm_one_value_per_channel_raises() -> None:
    for make in (CH01.BatchNorm, nn.BatchNorm1d):
        with pytest.raises(ValueError):
            make(3).train()(torch.randn(1, 3))
    CH01.BatchNorm(3).eval()(torch.randn(1, 3))  # eval mode is fine, as in torch


def test_batch_norm_empty_batch() -> None:
    ours, theirs = CH01.BatchNorm(3), nn.BatchNorm1d(3)
    run_both(ours, theirs, [torch.randn(0, 3), torch.randn(0, 3, 4)], True)
    assert int(ours.num_batches_tracked) == 2  # counted, statistics untouched, as torch


def test_batch_norm_buffers_not_updated_when_tracking_is_switched_off() -> None:
    ours, theirs = CH01.BatchNorm(3), nn.BatchNorm1d(3)
    run_both(ours, theirs, [torch.randn(6, 3)], True)
    ours.track_running_stats = theirs.track_running_stats = False
    run_both(ours, theirs, [torch.randn(6, 3) * 3], True)
    run_both(ours, theirs, [torch.randn(6, 3)], False)


def test_batch_norm_old_checkpoint_without_num_batches_tracked() -> None:
    # a plain dict, like a checkpoint from before the key existed (no version metadata)
    state = {k: v for k, v in nn.BatchNorm1d(3).state_dict().items() if k != "num_batches_tracked"}
    for make in (CH01.BatchNorm, nn.BatchNorm1d):
        module = make(3)
        module.load_state_dict(state)
        assert int(module.num_batches_tracked) == 0


def test_batch_norm_state_dicts_load_both_ways() -> None:
    theirs = nn.BatchNorm2d(3)
    run_both(CH01.BatchNorm(3), theirs, [torch.randn(4, 3, 2, 2)], True)
    ours = CH01.BatchNorm(3)
    ours.load_state_dict(theirs.state_dict())
    back = nn.BatchNorm2d(3)
    back.load_state_dict(ours.state_dict())
    same_state(back, theirs)


def test_batch_norm_reset_methods() -> None:
    ours, theirs = CH01.BatchNorm(3), nn.BatchNorm1d(3)
    run_both(ours, theirs, [torch.randn(6, 3) * 2 + 1], True)
    for m in (ours, theirs):
        m.reset_running_stats()
    same_state(ours, theirs)
    for m in (ours, theirs):
        with torch.no_grad():
            m.weight.mul_(2)
        m.reset_parameters()
    same_state(ours, theirs)


GROUPS = [(1, 6), (2, 6), (3, 6), (6, 6)]
GN_SHAPES = [(4, 6), (3, 6, 5), (2, 6, 3, 3), (0, 6, 4)]


@pytest.mark.parametrize(("groups", "shape", "kw"), [
    (g, s, k) for g, s, k in itertools.product(
        GROUPS, GN_SHAPES, [{}, {"affine": False}, {"eps": 1e-2}, {"bias": False}])
])
def test_group_norm_matches_torch(groups: tuple[int, int], shape: tuple[int, ...],
                                  kw: dict) -> None:
    torch.manual_seed(3)
    ours = CH07.GroupNorm(*groups, **kw).double()
    theirs = nn.GroupNorm(*groups, **kw).double()
    if ours.weight is not None:
        with torch.no_grad():
            for m in (ours, theirs):
                m.weight.copy_(torch.linspace(0.5, 2, 6, dtype=torch.float64))
    run_both(ours, theirs, [torch.randn(*shape, dtype=torch.float64) * 2 + 1], True)


def test_group_norm_factory_keywords_and_reset() -> None:
    for kw in ({"dtype": torch.float64}, {"device": "cpu"}, {"bias": False}):
        same_state(CH07.GroupNorm(2, 4, **kw), nn.GroupNorm(2, 4, **kw))
    ours, theirs = CH07.GroupNorm(2, 4), nn.GroupNorm(2, 4)
    with torch.no_grad():
        ours.weight.mul_(3)
    ours.reset_parameters()
    same_state(ours, theirs)


def test_group_norm_channels_must_divide() -> None:
    for make in (CH07.GroupNorm, nn.GroupNorm):
        with pytest.raises(ValueError):
            make(4, 6)


def test_group_norm_narrower_contract_is_documented() -> None:
    """channels_last input: torch keeps the layout, the reference returns contiguous output
    (documented in its docstring and the chapter text); the values agree."""
    x = torch.randn(2, 4, 3, 3).to(memory_format=torch.channels_last)
    torch.testing.assert_close(CH07.GroupNorm(2, 4)(x), nn.GroupNorm(2, 4)(x))
    assert "channels_last" in CH07.group_norm.__doc__
