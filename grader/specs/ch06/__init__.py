"""ch06: Hessian outliers: HVPs, Lanczos, and the output-moment subspace."""

from grader.spec import chapter
from grader.specs.ch06 import checks_experiment, checks_hvp, checks_linalg
from grader.specs.ch06.mutants import MUTANTS

CHAPTER = chapter(
    __name__,
    title="Hessian outliers",
    checks=(*checks_hvp.checks, *checks_linalg.checks, *checks_experiment.checks),
    mutants=MUTANTS,
)
