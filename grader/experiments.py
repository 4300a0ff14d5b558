"""`dlbn run`: a chapter's experiments on the learner's code (or the reference), in-process.

A chapter's ``run`` names a function ``(module, out_dir, *, device, seed, scale) -> dict``
(as "package.module:function") that draws its figures into
``out_dir`` and returns ``{"figures": [paths], "numbers": {name: value}}``; this module
imports the exercises, calls it, saves ``results.json`` beside the figures and prints them.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import time
import traceback
from pathlib import Path
from typing import Any

from grader.model import Chapter


def import_exercises(path: Path) -> Any:
    folder = str(path.parent)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    name = f"dlbn_run_{path.parent.name}"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    # Registered before it runs, like a normal import: dataclasses (and pickling) look
    # their module up in sys.modules, which matters with `from __future__ import annotations`.
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)  # type: ignore[union-attr]
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def run_chapter(
    chapter: Chapter, source: Path, out_dir: Path, *, device: str, seed: int, scale: str, out: Any
) -> int:
    """Run and report; returns the exit code (0 ok, 1 the learner's code failed)."""
    from grader.engine import resolve_device

    if chapter.run is None:
        out.print(f"[yellow]{chapter.id} has no experiments to run yet.[/]")
        return 1
    device = resolve_device(device)
    module_name, _, function = chapter.run.partition(":")
    draw = getattr(importlib.import_module(module_name), function)
    try:
        module = import_exercises(source)
    except Exception as exc:  # noqa: BLE001 - show the learner a short message
        out.print(f"[red]could not import {source}:[/] {type(exc).__name__}: {exc}")
        return 1
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    try:
        result = draw(module, out_dir, device=device, seed=seed, scale=scale)
    except NotImplementedError as exc:
        out.print(
            f"[yellow]Not finished yet: {exc}.[/] Complete that task (check it with "
            f"`dlbn grade {chapter.id}`), then run again."
        )
        return 1
    except Exception as exc:  # noqa: BLE001
        frames = [f for f in traceback.extract_tb(exc.__traceback__) if f.filename == str(source)]
        where = f" ({source.name}:{frames[-1].lineno})" if frames else ""
        out.print(f"[red]the experiment failed{where}:[/] {type(exc).__name__}: {exc}")
        return 1
    seconds = time.perf_counter() - started
    record = {
        "chapter": chapter.id,
        "source": _relative(source),
        "config": {"device": device, "seed": seed, "scale": scale},
        "seconds": round(seconds, 1),
        "numbers": result.get("numbers", {}),
        "figures": [_relative(Path(p)) for p in result.get("figures", [])],
    }
    (out_dir / "results.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    from rich.table import Table

    table = Table(title=f"{chapter.id}: measured in {seconds:.1f} s", title_justify="left")
    table.add_column("quantity")
    table.add_column("value", justify="right")
    for name, value in record["numbers"].items():
        table.add_row(name, f"{value:.4g}" if isinstance(value, float) else str(value))
    out.print(table)
    for figure in record["figures"]:
        out.print(f"figure: {figure}")
    out.print(f"results: {out_dir / 'results.json'}")
    return 0
