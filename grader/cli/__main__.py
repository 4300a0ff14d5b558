"""``python -m grader.cli``: the `dlbn` command (the autograder package calls it so)."""

from grader.cli import main

main()
