"""ch04: the loss landscape along the gradient (Santurkar et al. 2018, Bjorck et al. 2018)."""

from grader.spec import chapter
from grader.specs.ch04 import checks_landscape
from grader.specs.ch04.mutants import MUTANTS

CHAPTER = chapter(
    __name__,
    title="The loss landscape along the gradient",
    checks=checks_landscape.checks,
    mutants=MUTANTS,
)
