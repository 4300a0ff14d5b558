"""The configurations ch07.4's checks train with (fields of ``SweepConfig``).

``PROTOCOL`` is the protocol check's micro net. ``GRADING`` is the property checks' sweep, BN
and GN at batch ``SMALL`` and ``LARGE``: 2 blocks of width 32 (G = 8), the first 700 training
signals, 2 epochs (700 steps at batch 2, 44 at 32), base LR 0.4 at batch 32, no warm-up; the
four runs take ~5 s of one CPU core (``dlbn run ch07``'s small config, 4 blocks of width 16
on 2,000 signals for 5 epochs, took ~60 s). At this budget every net is under-trained (GN
most, as in the chapter's sweep), so the checks test the claims that hold on every seed.
Test accuracy with the reference, seeds 0 / 1 / 2 (and the worst of seeds 0-11):
  BN  B=2 0.411 / 0.403 / 0.447    B=32 0.518 / 0.586 / 0.581
  GN  B=2 0.376 / 0.338 / 0.426    B=32 0.288 / 0.292 / 0.340
Each threshold is below the worst seed; a correct learner's drift is <= 0.011 (backing_margin).
"""

PROTOCOL = {"depth": 2, "width": 8, "num_groups": 2, "epochs": 2, "base_lr": 0.05,
            "base_batch": 16, "n_train": 64, "n_test": 32}
PROTOCOL_BATCHES = (4, 32)

GRADING = {"depth": 2, "width": 32, "num_groups": 8, "epochs": 2, "base_lr": 0.4,
           "base_batch": 32, "warmup_epochs": 0.0, "n_train": 700, "n_test": 1000}
SMALL, LARGE = 2, 32
BN_DROP = 0.005  # BN(32) - BN(2) >= this; measured 0.107 / 0.183 / 0.134 (seeds 0-11: 0.009)
GN_NO_LOSS = 0.03  # GN(32) - GN(2) <= this; measured -0.088 / -0.046 / -0.086 (-0.026)
MORE_LOSS = 0.03  # BN's loss 32 -> 2 minus GN's >= this; 0.195 / 0.229 / 0.220 (0.098)
BN_SLACK = 0.0  # GN(32) - BN(32) <= this; measured -0.230 / -0.294 / -0.241 (-0.167)
TIMEOUT = 600.0  # per property check: the first pays for the four runs (minutes if busy)
