"""ch01: batch norm from scratch (forward, backward, module)."""

from grader.spec import chapter
from grader.specs.ch01 import checks_backward, checks_forward, checks_module
from grader.specs.ch01.checks_forward import FORBIDDEN
from grader.specs.ch01.mutants import MUTANTS

CHAPTER = chapter(
    __name__,
    title="Batch norm from scratch",
    checks=(*checks_forward.checks, *checks_backward.checks, *checks_module.checks),
    mutants=MUTANTS,
    forbidden=FORBIDDEN,
    contract=("device", "dtype", "bias=False", "reset_running_stats", "reset_parameters",
              "num_batches_tracked", "bfloat16", "N = 0", "track_running_stats = False",
              "old checkpoints", "m == 1"),
)
