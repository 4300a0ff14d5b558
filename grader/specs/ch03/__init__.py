"""ch03: internal covariate shift (Santurkar et al. 2018): noisy BN, three nets, ICS."""

from grader.spec import chapter
from grader.specs.ch03 import checks_ics, checks_noise
from grader.specs.ch03.mutants import MUTANTS

CHAPTER = chapter(
    __name__,
    title="Internal covariate shift",
    checks=(*checks_noise.checks, *checks_ics.checks),
    mutants=MUTANTS,
)
