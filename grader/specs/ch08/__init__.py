"""ch08: the regularization gap (weight decay vs dropout vs batch norm)."""

from grader.spec import chapter
from grader.specs.ch08 import checks_decay, checks_measure
from grader.specs.ch08.mutants import MUTANTS

CHAPTER = chapter(
    __name__,
    title="The regularization gap: weight decay, dropout, batch norm",
    checks=(*checks_decay.checks, *checks_measure.checks),
    mutants=MUTANTS,
)
