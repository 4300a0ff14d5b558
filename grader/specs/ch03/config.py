"""The small configurations ch03's checks train with: each run takes < 8 s of CPU (the 60 s
floor leaves room for a shared machine); `dlbn run ch03` uses the larger ones in figures.py."""

KINDS = ("standard", "batch", "noisy")
NOISE_MEAN, NOISE_STD = 0.5, 2.0  # ch03.1: the noise the checks ask for
TRAIN_LR = 0.3  # ch03.2: BN's learning rate (momentum 0.9): the standard net cannot train at it

# (MNIST-1D train / test signals, ModelConfig fields, TrainConfig fields) of each run
TRAINING = (800, 200, {"depth": 5, "width": 16}, {"epochs": 3, "lr": TRAIN_LR})
LOOP = (160, 100, {"depth": 4, "width": 8}, {"epochs": 2, "lr": 0.05, "weight_decay": 1e-4})
ICS_RUN = (640, 100, {"depth": 6, "width": 16}, {"epochs": 2, "lr": 0.05})  # both nets train


def model_cfg(depth, width):
    from dlbn.models import ModelConfig

    return ModelConfig(depth=depth, width=width)


def run(ctx, sizes):
    """(data, model_cfg, train_cfg): MNIST-1D's first signals, batches of 32, the probe's seed."""
    from dlbn.data import load_mnist1d
    from dlbn.train import TrainConfig

    n_train, n_test, model, train = sizes
    data = load_mnist1d(ctx.device).head(n_train, n_test)
    cfg = TrainConfig(batch_size=32, seed=ctx.seed, device=ctx.device, **train)
    return data, model_cfg(**model), cfg
