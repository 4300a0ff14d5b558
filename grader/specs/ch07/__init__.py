"""ch07: group norm from scratch (function, module, LN/IN as GN, factory) and the batch sweep."""

from grader.spec import chapter
from grader.specs.ch07 import checks_factory, checks_norm, checks_sweep
from grader.specs.ch07.checks_norm import FORBIDDEN
from grader.specs.ch07.mutants import MUTANTS

CHAPTER = chapter(
    __name__,
    title="Group norm and the batch-size sweep",
    checks=(*checks_norm.checks, *checks_factory.checks, *checks_sweep.checks),
    mutants=MUTANTS,
    forbidden=FORBIDDEN,
    contract=("device", "dtype", "bias=False", "reset_parameters", "N = 0", "channels_last",
              "One value per group"),
)
