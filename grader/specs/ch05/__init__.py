"""ch05: learning rates with and without batch norm (sweep, stable LR, stress test)."""

from grader.model import Chapter
from grader.specs.ch05.checks import CHECKS
from grader.specs.ch05.experiments import EXPERIMENTS
from grader.specs.ch05.mutants import MUTANTS

CHAPTER = Chapter(
    id="ch05",
    slug="ch05_learning_rate",
    title="Learning rates, with and without batch norm",
    tasks={
        1: "a logarithmic LR grid",
        2: "test accuracy in eval mode",
        3: "the LR sweep and the highest stable LR",
        4: "the exponential LR stress test",
        5: "with and without batch norm",
    },
    checks=(*CHECKS, *EXPERIMENTS),
    mutants=MUTANTS,
    run=f"{__name__}.figures:run",  # imported only by `dlbn run`
    spec_module=__name__,
)
