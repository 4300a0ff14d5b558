"""ch02: deep networks at initialization (collapse, frozen BN, growth, one-class bias)."""

from grader.spec import chapter
from grader.specs.ch02 import checks_collapse, checks_grads
from grader.specs.ch02.mutants import MUTANTS

CHAPTER = chapter(
    __name__,
    title="Deep networks at initialization",
    checks=(*checks_collapse.checks, *checks_grads.checks),
    mutants=MUTANTS,
)
