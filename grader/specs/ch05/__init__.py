"""ch05: learning rates with and without batch norm (sweep, stable LR, stress test)."""

from grader.spec import chapter
from grader.specs.ch05 import checks_experiment, checks_sweep, checks_tools
from grader.specs.ch05.mutants import MUTANTS

CHAPTER = chapter(
    __name__,
    title="Learning rates, with and without batch norm",
    checks=(*checks_tools.checks, *checks_sweep.checks, *checks_experiment.checks),
    mutants=MUTANTS,
)
