"""`dlbn doctor`: what this machine has, for bug reports and set-up problems."""

from __future__ import annotations

import os
import platform
import sys


def diagnose(root: str | None) -> tuple[list[tuple[str, str]], bool]:
    """Rows of (what, found) and whether grading can work here."""
    from dlbn.paths import data_dir, find_course_root

    rows: list[tuple[str, str]] = [
        ("python", f"{platform.python_version()} ({sys.executable})"),
        ("platform", f"{platform.platform()}, {os.cpu_count()} CPU cores"),
    ]
    ok = True
    try:
        import torch

        rows.append(("torch", torch.__version__))
        cuda = (
            ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
            if torch.cuda.is_available()
            else "none"
        )
        mps = getattr(torch.backends, "mps", None)
        rows.append(
            ("devices", f"cpu; cuda: {cuda}; mps: {'yes' if mps and mps.is_available() else 'no'}")
        )
    except ImportError as exc:
        ok = False
        rows.append(("torch", f"[red]not importable: {exc}[/]"))
    try:
        import torchvision

        rows.append(("torchvision", torchvision.__version__))
    except ImportError as exc:
        rows.append(("torchvision", f"[yellow]not importable: {exc}[/]"))
    course = find_course_root(root) if root else find_course_root()
    rows.append(("course root", str(course) if course else "[yellow]none at or above cwd[/]"))
    rows.append(("data folder", str(data_dir(course))))
    try:
        from dlbn.data import verify

        for status in verify(root=course):
            rows.append((f"data: {status.name}", f"{status.status} ({status.path})"))
    except (ImportError, AttributeError, TypeError) as exc:
        rows.append(("data", f"[yellow]cannot check: {exc}[/]"))
    from grader.course import all_chapters

    rows.append(("chapters", ", ".join(c.id for c in all_chapters())))
    from grader.sandbox import probe_protections

    rows.extend(probe_protections())
    return rows, ok
