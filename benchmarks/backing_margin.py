"""How far a correct implementation's measurements drift from the reference's.

Graded mode asks every api and property check to agree with the reference's own output on
the same seeds (`grader.backing`). A correct learner implementation differs from the
reference in floating-point order; so does the reference itself run with another number
of threads. This script runs each chapter's reference on the same seed with 1 and with 2
threads and reports, per api/property check, whether the two agree under graded mode's
rule, and the largest relative difference of any number in the output.

    python benchmarks/backing_margin.py [ch01 ch05 ...] [--seeds 0 1 2]

Writes benchmarks/results/backing_margin.json.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def numbers(value, path=""):  # noqa: ANN001, ANN201
    import torch

    if isinstance(value, dict):
        for k, v in value.items():
            yield from numbers(v, f"{path}[{k!r}]")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from numbers(v, f"{path}[{i}]")
    elif isinstance(value, bool) or value is None or isinstance(value, str):
        return
    elif isinstance(value, (int, float)):
        yield path, float(value)
    elif isinstance(value, torch.Tensor) and value.is_floating_point() and value.numel():
        yield path, value.double()


def largest_drift(a, b) -> float:  # noqa: ANN001
    import torch

    worst = 0.0
    for (_, x), (_, y) in zip(numbers(a), numbers(b), strict=False):
        if isinstance(x, torch.Tensor):
            if x.shape != y.shape:
                return math.inf
            d = ((x - y).abs() / y.abs().clamp_min(1e-3)).nan_to_num(0.0).max().item()
        else:
            d = 0.0 if x == y or (math.isnan(x) and math.isnan(y)) else abs(x - y) / max(
                abs(y), 1e-3)
        worst = max(worst, d)
    return worst


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("chapters", nargs="*")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    args = parser.parse_args()

    import torch

    from grader.backing import agrees
    from grader.course import all_chapters, exercises_path, resolve_chapter
    from grader.engine import child_env
    from grader.model import Kind
    from grader.runner import run_checks

    chapters = [resolve_chapter(c) for c in args.chapters] or list(all_chapters())
    rows = []
    for chapter in chapters:
        checks = [c for c in chapter.checks if c.kind is not Kind.MATCH]
        for seed in args.seeds:
            runs = {}
            for threads in (1, 2):
                runs[threads] = run_checks(
                    path=exercises_path(ROOT, chapter, solution=True),
                    spec_module=chapter.spec_module, check_ids=[c.id for c in checks],
                    timeouts={c.id: c.timeout * 3 for c in checks}, role="oracle",
                    threads=threads, seed=seed, memory_limit=0, env=child_env(ROOT),
                )
            for check in checks:
                one, two = runs[1].results.get(check.id), runs[2].results.get(check.id)
                if one is None or two is None or one.status != "ok" or two.status != "ok":
                    rows.append({"check": check.id, "seed": seed, "agree": None,
                                 "note": "a reference run failed"})
                    continue
                verdict = agrees(check, two.output, one.output)
                rows.append({"check": check.id, "kind": check.kind.value, "seed": seed,
                             "agree": verdict.passed,
                             "drift": largest_drift(two.output, one.output),
                             "note": "" if verdict.passed else verdict.message})
                mark = "ok " if verdict.passed else "NO "
                print(f"{mark} {check.id:40s} seed {seed}  drift {rows[-1]['drift']:.2e}",
                      flush=True)
    out = ROOT / "benchmarks" / "results" / "backing_margin.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "torch": torch.__version__, "machine": platform.machine(), "cpu": "2-core x86",
        "compared": "reference at 2 threads vs 1 thread, same seed", "rows": rows,
    }, indent=2) + "\n")
    bad = [r for r in rows if r["agree"] is False]
    print(f"{len(rows)} comparisons, {len(bad)} disagree: {[r['check'] for r in bad]}")


if __name__ == "__main__":
    main()
