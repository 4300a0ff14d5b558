"""`dlbn run`: a chapter's experiments on the learner's code (or the reference), in-process.

A chapter's ``run`` names a function ``(module, out_dir, *, device, seed, scale) -> dict``
(as "package.module:function") that draws its figures into
``out_dir`` and returns ``{"figures": [paths], "numbers": {name: value}}``; this module
imports the exercises, calls it, saves ``results.json`` beside the figures and prints them.
A chapter that offers a choice of data also takes ``dataset`` (``None``: its default for
the scale) and lists its choices in its module's ``DATASETS``.
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


def datasets_of(chapter: Chapter) -> tuple[str, ...]:
    """The data sets ``dlbn run`` accepts for ``chapter`` (empty: its own data only)."""
    if chapter.run is None:
        return ()
    return tuple(getattr(importlib.import_module(chapter.run.partition(":")[0]), "DATASETS", ()))


def run_chapter(
    chapter: Chapter, source: Path, out_dir: Path, *, device: str, seed: int, scale: str, out: Any,
    dataset: str | None = None, threads: int = 1, compare_with: Path | None = None,
) -> int:
    """Run and report; returns the exit code (0 ok, 1 the learner's code or the data failed).

    ``compare_with``: a results.json (the chapter text's, in its figures folder) whose
    numbers are shown beside this run's, with the relative difference.

    Raises `UsageError` (exit 2) for a ``dataset`` the chapter does not offer.
    """
    from dlbn.data_common import DataError
    from grader.course import UsageError, all_chapters
    from grader.engine import resolve_device

    if chapter.run is None:
        out.print(f"[yellow]{chapter.id} has no experiments to run yet.[/]")
        return 1
    options = {}
    if dataset is not None:
        if dataset not in datasets_of(chapter):
            offer = [c.id for c in all_chapters() if dataset in datasets_of(c)]
            raise UsageError(
                f"{chapter.id}'s experiments do not run on {dataset}"
                + (f"; --dataset {dataset} works for {', '.join(offer)}" if offer else "")
            )
        options["dataset"] = dataset
    device = resolve_device(device)
    import torch

    # Reproducible numbers: the same thread count as the chapter text's (and the grader's).
    torch.set_num_threads(threads)
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
        result = draw(module, out_dir, device=device, seed=seed, scale=scale, **options)
    except UsageError:  # e.g. a data set and scale that do not go together
        raise
    except DataError as exc:
        out.print(f"[red]data problem:[/] {exc}")
        return 1
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
        "config": {"device": device, "seed": seed, "scale": scale, "threads": threads,
                   **options},
        "seconds": round(seconds, 1),
        "numbers": result.get("numbers", {}),
        "figures": [_relative(Path(p)) for p in result.get("figures", [])],
    }
    (out_dir / "results.json").write_text(json.dumps(record, indent=2, default=str) + "\n")
    from grader.reporters.tables import numbers_table

    title = f"{chapter.id}: measured in {seconds:.1f} s"
    text = _text_numbers(compare_with, record["config"]) if compare_with else None
    if compare_with and text is None:
        out.print(f"[yellow]no numbers to compare with in {compare_with} for this "
                  "configuration (seed, scale, dataset)[/]")
    out.print(numbers_table(title, record["numbers"], text))
    for figure in record["figures"]:
        out.print(f"figure: {figure}")
    out.print(f"results: {out_dir / 'results.json'}")
    return 0


def _text_numbers(path: Path, config: dict[str, Any]) -> dict[str, Any] | None:
    """The numbers of a committed results.json, if it was made with the same seed, scale and
    data set (other machines and thread counts sum floats in another order: see README)."""
    try:
        record = json.loads(Path(path).read_text())
    except (OSError, ValueError):
        return None
    theirs = record.get("config", {})
    for key in ("seed", "scale", "dataset"):
        if theirs.get(key) != config.get(key):
            return None
    return record.get("numbers") or None
