"""Solution-marker stripping: starters are derived from the reference."""

from __future__ import annotations

import pytest

from grader.stripping import MarkerError, drift, strip_solutions

SOLUTION = '''\
import torch


def f(x):
    """Doc."""
    # BEGIN SOLUTION ch09.1
    # HINT: first hint.
    # HINT: second hint.
    return x + 1
    # END SOLUTION


class M:
    def forward(self, x):
        # BEGIN SOLUTION ch09.2
        return x
        # END SOLUTION


# BEGIN SOLUTION
SECRET = 42
# END SOLUTION
'''


def test_blocks_become_todo_and_raise() -> None:
    starter = strip_solutions(SOLUTION)
    assert "return x + 1" not in starter and "SECRET" not in starter
    assert "    # TODO(ch09.1): first hint.\n    #   second hint.\n" in starter
    assert 'raise NotImplementedError("ch09.1: implement f")' in starter
    assert 'raise NotImplementedError("ch09.2: implement M.forward")' in starter
    compile(starter, "starter.py", "exec")


@pytest.mark.parametrize(
    "text",
    [
        "# BEGIN SOLUTION ch01.1\nx = 1\n",
        "x = 1\n# END SOLUTION\n",
        "# BEGIN SOLUTION ch01.1\n# BEGIN SOLUTION ch01.2\n# END SOLUTION\n",
    ],
)
def test_bad_markers_raise(text: str) -> None:
    with pytest.raises(MarkerError):
        strip_solutions(text)


def test_repository_starters_in_sync(repo_root) -> None:
    assert drift(repo_root) == []


def test_drift_is_detected(course) -> None:
    starter = course / "chapters" / "ch01_batchnorm" / "exercises.py"
    starter.write_text(starter.read_text() + "\n# edited\n")
    assert drift(course) == ["ch01_batchnorm"]
