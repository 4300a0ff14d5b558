"""Writing report files safely: atomically, never through a link or a learner-writable path."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterable
from pathlib import Path

from grader.reporters.limits import ReportPathError


def atomic_write(path: str | Path, text: str) -> None:
    """Write ``text`` as UTF-8 to ``path`` atomically.

    The text goes to a temporary file in the same directory, is flushed and fsynced, and is
    renamed onto ``path`` with `os.replace`: readers see the old file or the new one, never
    a part. Refuses (`ReportPathError`) when ``path`` is a symlink or exists and is not a
    regular file. A replaced file keeps its permission bits; a new one gets 0644.
    """
    target = Path(path)
    existing = _lstat(target)
    _refuse_special(target, existing)
    mode = stat.S_IMODE(existing.st_mode) if existing is not None else 0o644
    directory = target.parent
    try:
        fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{target.name}.", suffix=".tmp")
    except FileNotFoundError as exc:
        raise ReportPathError(f"cannot write {target}: {directory} does not exist") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="replace", newline="") as f:
            f.write(text)
            f.flush()
            if hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), mode)
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    _fsync_directory(directory)


def check_report_path(
    path: str | Path, untrusted_uid: int | None, *, untrusted_gids: Iterable[int] = ()
) -> Path:
    """Return the path a report will be written to, refusing unsafe places.

    The parent directory is resolved (it must exist). A symlink or a non-regular file at the
    path is refused. With ``untrusted_uid`` (the user learner code runs as), the directory
    and the file, if it exists, are refused when that user owns them or can write them: by
    the world-write bit (sticky directories such as /tmp included) or the group-write bit of
    one of its groups (its primary and supplementary groups from the user database, plus
    ``untrusted_gids``; for a uid the database does not know, the gid equal to the uid).
    Each directory above must not be owned by that user nor writable by it, unless sticky.
    """
    target = Path(path)
    if target.name in ("", ".", ".."):
        raise ReportPathError(f"{path}: not a file name")
    try:
        parent = target.parent.resolve(strict=True)
    except (OSError, RuntimeError) as exc:
        raise ReportPathError(f"{target.parent}: the report's directory does not exist") from exc
    if not parent.is_dir():
        raise ReportPathError(f"{parent}: not a directory")
    target = parent / target.name
    existing = _lstat(target)
    _refuse_special(target, existing)
    if untrusted_uid is not None:
        gids = _groups_of(untrusted_uid) | set(untrusted_gids)
        for ancestor in parent.parents:
            _refuse_untrusted(ancestor, os.stat(ancestor), untrusted_uid, gids, sticky_ok=True)
        _refuse_untrusted(parent, os.stat(parent), untrusted_uid, gids)
        if existing is not None:
            _refuse_untrusted(target, existing, untrusted_uid, gids)
    return target


def _lstat(path: Path) -> os.stat_result | None:
    """``os.lstat(path)``, or None when nothing is there."""
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def _refuse_special(path: Path, st: os.stat_result | None) -> None:
    """Refuse a symlink or a non-regular file at ``path``."""
    if st is None:
        return
    if stat.S_ISLNK(st.st_mode):
        raise ReportPathError(f"refusing to write a report through the symlink {path}")
    if not stat.S_ISREG(st.st_mode):
        raise ReportPathError(f"refusing to write a report over {path}: not a regular file")


def _groups_of(uid: int) -> set[int]:
    """The primary and supplementary group ids of ``uid`` (``{uid}`` if it is unknown)."""
    import grp
    import pwd

    try:
        entry = pwd.getpwuid(uid)
    except KeyError:
        return {uid}
    gids = {entry.pw_gid}
    try:
        gids |= {g.gr_gid for g in grp.getgrall() if entry.pw_name in g.gr_mem}
    except OSError:  # pragma: no cover - an unreadable group database
        pass
    return gids


def _refuse_untrusted(
    path: Path, st: os.stat_result, uid: int, gids: set[int], *, sticky_ok: bool = False
) -> None:
    """Refuse ``path`` when ``uid`` owns it or may write it (sticky dirs too, unless ok)."""
    if st.st_uid == uid:
        raise ReportPathError(f"refusing to write a report in {path}: owned by uid {uid}")
    writable = bool(st.st_mode & stat.S_IWOTH) or (
        bool(st.st_mode & stat.S_IWGRP) and st.st_gid in gids
    )
    if writable and not (sticky_ok and st.st_mode & stat.S_ISVTX):
        raise ReportPathError(f"refusing to write a report in {path}: writable by uid {uid}")


def _unlink_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable where the platform allows it (best effort)."""
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
