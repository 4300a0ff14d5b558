"""Reference outputs on disk: the self-study cache and graded mode's expected outputs.

Both hold what the reference (the solution, or torch for layer checks) returned for each
check, one file per chapter, seed, device and scale, in the wire format
(`grader.wire`): a `result` frame per check. The parent writes them and reads them with the
same strict decoder it uses on the learner's frames.

- The **cache** (``<course>/.dlbn/reference/``) is keyed by a hash of the grader, the
  bench and the chapter's solution, the torch version, device, seed and scale: change any
  of them and the reference runs again. Nothing in it is secret (self-study mode).
- An **expected store** (``dlbn autograder build``) holds the outputs for several seed
  sets and a manifest; graded runs draw one seed set and compare with it, and no reference
  process runs. The store's folder is readable by root only.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from grader.model import Chapter
from grader.runner import RawResult, RunOutcome
from grader.wire import WireError, decode_frame, encode_frame, split_frames

PACKAGE = Path(__file__).resolve().parent


def code_hash(root: Path | None, chapter: Chapter | None) -> str:
    """sha256 over the grader's and the bench's sources, and the chapter's solution when
    ``root`` is given (the autograder package has none: its stores use the code alone)."""
    h = hashlib.sha256()
    files = sorted(PACKAGE.rglob("*.py")) + sorted((PACKAGE.parent / "dlbn").rglob("*.py"))
    if root is not None and chapter is not None:
        files.append(root / "solutions" / chapter.slug / "exercises.py")
    for path in files:
        if path.is_file():
            h.update(str(path.relative_to(path.parents[1])).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def torch_version() -> str:
    """torch's version from its metadata (importing torch costs seconds)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("torch")
    except PackageNotFoundError:
        import torch

        return torch.__version__


def outcome_bytes(outcome: RunOutcome) -> bytes:
    frames = []
    for check_id, raw in outcome.results.items():
        frames.append(encode_frame({
            "type": "result", "id": check_id, "status": _wire_status(raw.status),
            "message": raw.message, "seconds": float(raw.seconds), "stdout": "",
            "output": raw.output,
        }))
    return b"".join(frames)


def _wire_status(status: str) -> str:
    return "error" if status == "timeout" else status


def outcome_from_bytes(data: bytes) -> RunOutcome:
    bodies, rest = split_frames(data)
    if rest:
        raise WireError("trailing bytes")
    out = RunOutcome()
    for body in bodies:
        frame = decode_frame(body)
        if frame["type"] != "result":
            raise WireError("not a result frame")
        out.results[frame["id"]] = RawResult(
            frame["status"], output=frame["output"], message=frame["message"],
            seconds=frame["seconds"],
        )
    return out


def write_private(path: Path, data: bytes) -> None:
    """Atomically, readable by the owner only (new folders too)."""
    os.makedirs(path.parent, mode=0o700, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- cache
def cache_path(root: Path, chapter: Chapter, device: str, seed: int, scale: str) -> Path:
    key = hashlib.sha256(
        f"{code_hash(root, chapter)}|{torch_version()}|{device}|{seed}|{scale}".encode()
    ).hexdigest()[:24]
    return root / ".dlbn" / "reference" / chapter.id / f"{key}.bin"


def load_cached(path: Path, needed: list[str]) -> RunOutcome | None:
    """The cached outcome when it holds every id in ``needed``, else None."""
    try:
        outcome = outcome_from_bytes(path.read_bytes())
    except (OSError, WireError):
        return None
    return outcome if all(c in outcome.results for c in needed) else None


def save_cached(path: Path, outcome: RunOutcome) -> None:
    """Store a complete reference run (a failed reference is not cached: it is retried)."""
    if outcome.import_error or any(r.status != "ok" for r in outcome.results.values()):
        return
    try:
        old = outcome_from_bytes(path.read_bytes()).results if path.exists() else {}
    except (OSError, WireError):
        old = {}
    merged = RunOutcome(results={**old, **outcome.results})
    try:
        write_private(path, outcome_bytes(merged))
    except OSError:
        pass  # a read-only course: the cache is an optimisation


# ----------------------------------------------------------------------------- store
class ExpectedStore:
    """A folder of expected outputs: ``manifest.json`` and ``chNN/seed-S.bin``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    @property
    def manifest_path(self) -> Path:
        return self.folder / "manifest.json"

    def manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self.manifest_path.read_text())
        except (OSError, ValueError):
            return {"chapters": {}}

    def seeds(self, chapter: Chapter) -> list[int]:
        entry = self.manifest()["chapters"].get(chapter.id)
        return list(entry["seeds"]) if entry else []

    def preload(self, chapter: Chapter) -> list[str]:
        entry = self.manifest()["chapters"].get(chapter.id) or {}
        return list(entry.get("preload", []))

    def stale(self, chapter: Chapter, root: Path) -> str:
        """Why this store's outputs no longer fit the code here ('' when they do)."""
        entry = self.manifest()["chapters"].get(chapter.id) or {}
        if entry.get("code") != code_hash(None, None):
            return "the grader or the bench changed since the store was built"
        if entry.get("torch") != torch_version():
            return f"it was built with torch {entry.get('torch')}, this is {torch_version()}"
        has_solution = (root / "solutions" / chapter.slug / "exercises.py").is_file()
        if has_solution and entry.get("solution") != code_hash(root, chapter):
            return "the chapter's solution changed since the store was built"
        return ""

    def path(self, chapter: Chapter, seed: int) -> Path:
        return self.folder / chapter.id / f"seed-{seed}.bin"

    def load(self, chapter: Chapter, seed: int) -> RunOutcome:
        return outcome_from_bytes(self.path(chapter, seed).read_bytes())

    def save(self, chapter: Chapter, seed: int, outcome: RunOutcome) -> None:
        write_private(self.path(chapter, seed), outcome_bytes(outcome))

    def record(self, chapter: Chapter, seeds: list[int], info: dict[str, Any]) -> None:
        manifest = self.manifest()
        manifest["chapters"][chapter.id] = {"seeds": seeds, **info}
        write_private(self.manifest_path, (json.dumps(manifest, indent=2) + "\n").encode())
