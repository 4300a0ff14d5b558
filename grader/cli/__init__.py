"""The `dlbn` command: parses arguments and calls the grader's API; nothing else.

One module per command group: `commands` (list, grade, verify, doctor), `run`, `data`,
`autograder`; `common` holds what they share (exit codes, options, the console).
`dlbn --help`, `dlbn list` and usage errors answer without importing torch.
"""

from grader.cli.commands import main

__all__ = ["main"]
