"""The learner's last result per chapter, for `dlbn list`.

Kept in ``<course root>/.dlbn/last/<chapter>.json`` (git-ignored), never inside
`chapters/` or `solutions/`.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from grader.model import ChapterReport


def _path(root: Path, chapter: str) -> Path:
    return root / ".dlbn" / "last" / f"{chapter}.json"


def save_last(root: Path, report: ChapterReport) -> None:
    path = _path(root, report.chapter)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        data = {
            "score": report.score,
            "max_score": report.max_score,
            "when": time.time(),
            "counts": report.counts(),
        }
        path.write_text(json.dumps(data))
    except OSError:
        pass  # a read-only course checkout still grades


def load_last(root: Path, chapter: str) -> dict[str, Any] | None:
    try:
        return json.loads(_path(root, chapter).read_text())
    except (OSError, ValueError):
        return None
