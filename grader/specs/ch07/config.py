"""The configurations ch07.4's checks train with (fields of ``SweepConfig``).

``PROTOCOL`` is the protocol check's micro net; ``GRADING`` the property checks' sweep: BN
and GN at batch ``SMALL`` and ``LARGE``, Wu & He's claims checked with margins below the
worst of seeds 0, 1, 2 (measured with the reference, in the comments).
"""

PROTOCOL = {"depth": 2, "width": 8, "num_groups": 2, "epochs": 2, "base_lr": 0.05,
            "base_batch": 16, "n_train": 64, "n_test": 32}
PROTOCOL_BATCHES = (4, 32)

GRADING = {"depth": 4, "width": 16, "num_groups": 4, "epochs": 5, "base_lr": 0.2,
           "base_batch": 32, "warmup_epochs": 1.0, "n_train": 2000, "n_test": 1000}
SMALL, LARGE = 2, 32
# Test accuracy at GRADING, seeds 0 / 1 / 2 (measured with the reference; README has more):
#   BN  B=32 0.919 / 0.942 / 0.942    B=2 0.878 / 0.930 / 0.895   (drop 0.041 / 0.012 / 0.047)
#   GN  B=32 0.874 / 0.856 / 0.661    B=2 0.906 / 0.899 / 0.905
# "GN beats BN at batch 2" (+0.028 / -0.031 / +0.010) and "GN within a small band"
# (0.032 / 0.043 / 0.244: seed 2's batch-32 GN run is poor) do NOT hold on every seed at this
# scale, so the grader checks the versions that do, with margins below the worst seed:
BN_DROP = 0.005  # BN(32) - BN(2) >= this             (worst seed 0.012)
GN_NO_LOSS = 0.03  # GN(2) >= GN(32) - this              (worst seed: GN(2) 0.032 above)
MORE_LOSS = 0.03  # BN's loss 32 -> 2 minus GN's >= this (worst seed 0.055)
BN_SLACK = 0.0  # BN(32) >= GN(32) - this              (worst seed 0.045 above)
TIMEOUT = 600.0  # per property check (the first pays for the four runs: ~30 s of CPU, minutes
# of wall time on a busy machine)
