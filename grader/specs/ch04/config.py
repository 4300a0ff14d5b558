"""The small configurations ch04's checks probe and train with: each check takes < 12 s of
CPU (the 60 s floor leaves room for a shared machine); `dlbn run ch04` uses larger ones."""

from grader.lazy import F, torch

KINDS = ("standard", "batch")
STEPS = (1e-3, 0.03, 0.3, 1.0)  # ch04.1, ch04.2: the step sizes of the match and api checks
BJORCK_STEPS = tuple(10 ** (k / 2) for k in range(-10, 3))  # 1e-5 .. 10, half decades

# (MNIST-1D train / test signals, ModelConfig fields, TrainConfig fields) of each run
LOOP = (160, 10, {"depth": 3, "width": 8}, {"epochs": 2, "lr": 0.05, "weight_decay": 1e-4})
SMOOTHER = (1000, 10, {"depth": 8, "width": 16}, {"epochs": 2, "lr": 0.05})  # both nets train


def small_net(ctx, kind, double=True):
    """A small conv net (3 blocks, width 8) of ``kind`` and a batch; grads and odd modes set."""
    from dlbn.models import ModelConfig, build_model

    torch.manual_seed(ctx.seed)
    net = build_model(ModelConfig(depth=3, width=8, norm="none" if kind == "standard" else "batch"))
    dtype = torch.float64 if double else torch.float32
    net = net.to(dtype=dtype, device=ctx.device)
    x = ctx.randn(16, 1, 40, dtype=dtype, offset=80, std=2.0)
    y = torch.randint(0, 10, (16,), generator=ctx.generator(81)).to(ctx.device)
    F.cross_entropy(net(x), y).backward()  # leave some .grad and moved running stats behind
    return net, x, y


def run(ctx, sizes):
    """(data, model_cfg, train_cfg): MNIST-1D's first signals, batches of 32, the probe's seed."""
    from dlbn.data import load_mnist1d
    from dlbn.models import ModelConfig
    from dlbn.train import TrainConfig

    n_train, n_test, model, train = sizes
    data = load_mnist1d(ctx.device).head(n_train, n_test)
    cfg = TrainConfig(batch_size=32, seed=ctx.seed, device=ctx.device, **train)
    return data, ModelConfig(**model), cfg
