"""dlbn's grader: runs a learner's exercises in a child process and judges them.

The public API is keyword-only and small (otter-grader style); `grader.cli` only parses
arguments and calls it::

    from grader.engine import grade
    report = grade(chapter="ch01", root=".", solution=True)
    print(report.summary())
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
