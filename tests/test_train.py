"""dlbn.train, dlbn.schedules, dlbn.augment: the training bench on small synthetic data."""

from __future__ import annotations

import json
import math
from functools import partial

import pytest
import torch
from torch import nn

from dlbn.augment import random_flip_crop, random_shift
from dlbn.models import ModelConfig, build_model
from dlbn.schedules import lr_at
from dlbn.train import TrainConfig, TrainResult, evaluate, param_groups, save_result, train


def bumps(n: int, seed: int, length: int = 24, classes: int = 4) -> tuple[torch.Tensor, ...]:
    """An easy problem: class k is a bump at position k * length / classes, plus noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, classes, (n,), generator=g)  # (N,)
    pos = torch.arange(length)
    centre = (y * length // classes + length // (2 * classes))[:, None]  # (N, 1)
    x = torch.exp(-0.5 * ((pos - centre) / 1.5) ** 2)  # (N, L)
    x = x + 0.3 * torch.randn(n, length, generator=g)
    return x[:, None, :].float(), y  # (N, 1, L), (N,)


@pytest.fixture(scope="module")
def easy() -> tuple[torch.Tensor, ...]:
    return (*bumps(512, 0), *bumps(256, 1))


def small_net(norm: str = "batch", seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    return build_model(ModelConfig(depth=3, width=16, norm=norm, num_classes=4, num_groups=4))


def test_trains_easy_problem(easy: tuple[torch.Tensor, ...]) -> None:
    cfg = TrainConfig(
        epochs=4, batch_size=32, lr=0.05, schedule="warmup_cosine", warmup_epochs=1, eval_train=True
    )
    result = train(small_net(), easy, cfg, progress=False)
    assert not result.diverged and result.epoch == [1, 2, 3, 4]
    assert result.final_test_acc > 0.95 and result.best_test_acc >= result.final_test_acc
    assert len(result.train_eval_acc) == len(result.test_acc) == 4
    assert result.steps == 4 * (512 // 32)


def test_same_seed_same_history(easy: tuple[torch.Tensor, ...]) -> None:
    cfg = TrainConfig(epochs=2, batch_size=64, lr=0.05, seed=3)
    aug = partial(random_shift, max_shift=2)
    a, b = small_net(), small_net()
    ra = train(a, easy, cfg, augment=aug, progress=False)
    rb = train(b, easy, cfg, augment=aug, progress=False)
    assert ra.train_loss == rb.train_loss and ra.test_acc == rb.test_acc
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(pa, pb)
    rc = train(
        small_net(), easy, TrainConfig(epochs=2, batch_size=64, lr=0.05, seed=4), progress=False
    )
    assert rc.train_loss != ra.train_loss


def test_huge_lr_diverges_without_raising(easy: tuple[torch.Tensor, ...]) -> None:
    cfg = TrainConfig(epochs=3, batch_size=32, lr=1e4)
    result = train(small_net("none"), easy, cfg, progress=False)
    assert result.diverged and result.diverged_lr == 1e4
    assert result.diverged_step is not None and result.diverged_epoch == 1
    assert result.epoch == [] and result.steps == result.diverged_step + 1
    assert "DIVERGED" in result.summary()
    # a loss above diverge_factor x the first loss counts too: here the first one already does
    tight = train(small_net(), easy, TrainConfig(epochs=1, diverge_factor=0.5), progress=False)
    assert tight.diverged and tight.diverged_step == 0


def test_exponential_stress_test_records_steps(easy: tuple[torch.Tensor, ...]) -> None:
    cfg = TrainConfig(
        epochs=40,
        batch_size=64,
        lr=0.01,
        schedule="exponential",
        lr_factor=4.0,
        record_steps=True,
        eval_every=0,
    )
    result = train(small_net("none"), easy, cfg, progress=False)
    assert result.diverged and len(result.step_lr) == result.steps == len(result.step_loss)
    assert result.step_lr[-1] == result.diverged_lr
    assert not math.isfinite(result.step_loss[-1]) or result.step_loss[-1] > result.step_loss[0]


def test_lr_schedules() -> None:
    at = partial(lr_at, lr=1.0, epochs=10, steps_per_epoch=10)
    assert at(57, schedule="constant") == 1.0
    assert at(49, schedule="step") == 1.0
    assert at(50, schedule="step") == pytest.approx(0.1)
    assert at(75, schedule="step") == pytest.approx(0.01)
    assert at(30, schedule="step", milestones=(2, 3), gamma=0.5) == pytest.approx(0.25)
    cos = partial(at, schedule="warmup_cosine", warmup_epochs=2)
    assert cos(0) == pytest.approx(0.05) and cos(19) == pytest.approx(1.0)
    assert cos(60) == pytest.approx(0.5) and cos(100) == pytest.approx(0.0, abs=1e-12)
    lin = partial(at, schedule="warmup_linear_decay", warmup_epochs=2)
    assert lin(9) == pytest.approx(0.5) and lin(60) == pytest.approx(0.5)
    assert at(0, schedule="warmup_cosine") == 1.0  # no warm-up: plain cosine
    assert at(40, schedule="exponential", lr_factor=2**0.5) == pytest.approx(4.0)
    cfg = TrainConfig(lr=0.005, schedule="exponential", epochs=30)
    assert cfg.lr_at(20, steps_per_epoch=10) == pytest.approx(0.01)
    with pytest.raises(ValueError, match="valid"):
        TrainConfig(schedule="cosine")


def test_evaluate_restores_mode_and_running_stats(easy: tuple[torch.Tensor, ...]) -> None:
    x, y = easy[2], easy[3]
    model = small_net()
    for mode in (True, False):
        model.train(mode)
        before = [b.clone() for b in model.buffers()]
        loss, acc = evaluate(model, x, y, batch_size=100, train_mode=True)
        assert model.training is mode
        assert all(torch.equal(a, b) for a, b in zip(before, model.buffers(), strict=True))
        assert loss > 0 and 0 <= acc <= 1
    model.train()
    evaluate(model, x, y)
    assert model.training


def test_weight_decay_skips_norm_params_when_asked(easy: tuple[torch.Tensor, ...]) -> None:
    groups = param_groups(small_net(), 0.1, decay_norm_and_bias=False)
    assert [g["weight_decay"] for g in groups] == [0.1, 0.0]
    assert all(p.dim() > 1 for p in groups[0]["params"])
    assert len(param_groups(small_net(), 0.1)) == 1

    def zero_loss(model: nn.Module, logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        return logits.sum() * 0.0  # gradients vanish: only weight decay moves the weights

    for decay_norm in (True, False):
        model = small_net()
        conv_before = model.blocks[0].conv.weight.detach().clone()
        cfg = TrainConfig(
            epochs=1,
            lr=0.1,
            weight_decay=0.5,
            momentum=0.0,
            decay_norm_and_bias=decay_norm,
        )
        result = train(model, easy, cfg, loss_fn=zero_loss, progress=False)
        assert not result.diverged  # a loss that starts at 0 cannot blow up by a factor
        gamma = model.blocks[0].norm.weight
        assert model.blocks[0].conv.weight.abs().sum() < conv_before.abs().sum()
        assert torch.all(gamma < 1.0) if decay_norm else torch.equal(gamma, torch.ones(16))


def test_callbacks_stop_epoch_and_data_forms(easy: tuple[torch.Tensor, ...]) -> None:
    seen: list[int] = []

    def stop_at_two(epoch: int, model: nn.Module, result: TrainResult) -> bool:
        seen.append(epoch)
        return epoch == 2

    cfg = TrainConfig(epochs=5, batch_size=128, eval_every=0)
    r = train(small_net(), easy, cfg, callbacks=[stop_at_two], progress=False)
    assert seen == [1, 2] and r.stopped_early and r.eval_epoch == [2]
    keys = ("x_train", "y_train", "x_test", "y_test")
    r = train(
        small_net(),
        dict(zip(keys, easy, strict=True)),
        TrainConfig(epochs=5, stop_epoch=1, batch_size=128),
        progress=False,
    )
    assert r.epoch == [1] and r.stopped_early and r.lr[-1] == 0.05
    r = train(small_net(), easy[:2], TrainConfig(epochs=1, batch_size=128), progress=False)
    assert r.test_acc == [] and math.isnan(r.best_test_acc)


def test_save_result_is_strict_json(tmp_path, easy: tuple[torch.Tensor, ...]) -> None:
    cfg = TrainConfig(epochs=1, lr=1e6, record_steps=True)
    result = train(small_net("none"), easy, cfg, progress=False)
    path = save_result(
        result, cfg, tmp_path / "run" / "r.json", model_cfg=ModelConfig(depth=3, width=16)
    )
    saved = json.loads(path.read_text())
    assert saved["train_config"]["lr"] == 1e6 and saved["model_config"]["depth"] == 3
    assert saved["result"]["diverged"] is True and saved["result"]["best_test_acc"] is None


def test_augmentations_shift_and_crop() -> None:
    g = torch.Generator().manual_seed(0)
    x = torch.arange(2 * 3 * 10, dtype=torch.float32).reshape(2, 3, 10)
    out = random_shift(x, g, max_shift=2)
    assert out.shape == x.shape
    for n in range(2):  # each example is one shifted copy of itself, all channels together
        assert any(
            torch.equal(out[n, :, max(s, 0) : 10 + min(s, 0)], x[n, :, max(-s, 0) : 10 - max(s, 0)])
            for s in range(-2, 3)
        )
    assert torch.equal(random_shift(x, g, max_shift=0), x)
    img = torch.randn(4, 3, 8, 8)
    assert random_flip_crop(img, g).shape == img.shape
    assert torch.equal(random_flip_crop(img, g, pad=0, flip=False), img)
    flipped = random_flip_crop(img, g, pad=0)
    assert all(
        torch.equal(f, i) or torch.equal(f, i.flip(-1)) for f, i in zip(flipped, img, strict=True)
    )


@pytest.fixture(scope="module")
def mnist1d():
    data = pytest.importorskip("dlbn.data")
    try:
        return data.load_mnist1d()
    except Exception as exc:  # no cache and no generator: not this file's business
        pytest.skip(f"MNIST-1D unavailable: {exc}")


@pytest.mark.slow
def test_bn_net_learns_mnist1d(mnist1d) -> None:
    torch.manual_seed(0)
    model = build_model(ModelConfig(depth=8, width=32, norm="batch"))
    cfg = TrainConfig(
        epochs=2, batch_size=32, lr=0.05, schedule="warmup_cosine", warmup_epochs=0.5, eval_every=0
    )
    result = train(model, mnist1d, cfg, progress=False)
    assert result.final_test_acc > 0.75, result.summary()
