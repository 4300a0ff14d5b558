"""How far a correct implementation's measurements drift from the reference's.

Graded mode asks every api and property check to agree with the reference's own output on
the same seeds (`grader.backing`). A correct learner implementation differs from the
reference in floating-point order. This script models that two ways and runs each
chapter's reference against them on the same seeds:

- ``threads2``: the reference itself with 2 threads instead of 1 (another summation order
  where torch splits the work);
- ``ulps``: a copy of the reference whose every function and module forward multiplies
  its floating-point outputs by (1 + 2^-21 z), z ~ N(0, 1): a few float32 ulps, the size
  of the difference between two correct ways to write the same formula.

Per api/property check it reports whether the variant passes the check's own judge and
agrees with the reference under graded mode's rule, and the largest relative difference
of any number in the output.

    python benchmarks/backing_margin.py [ch01 ch05 ...] [--seeds 0 1 2]

Writes benchmarks/results/backing_margin.json.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import sys
import tempfile
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


PERTURB = """

def _dlbn_perturb():  # appended by benchmarks/backing_margin.py
    import functools
    import inspect

    import torch

    gen = torch.Generator().manual_seed(1234)

    def jiggle(v):
        if isinstance(v, torch.Tensor) and v.is_floating_point() and v.numel():
            z = torch.randn(v.shape, generator=gen, dtype=torch.float64).to(v.dtype)
            return v * (1 + 2**-21 * z.to(v.device))
        if isinstance(v, tuple):
            return tuple(jiggle(x) for x in v)
        return v

    g = globals()
    for name, obj in list(g.items()):
        if name.startswith("_") or getattr(obj, "__module__", None) != __name__:
            continue
        if inspect.isfunction(obj):
            g[name] = functools.wraps(obj)(lambda *a, _f=obj, **k: jiggle(_f(*a, **k)))
        elif inspect.isclass(obj) and issubclass(obj, torch.nn.Module) and "forward" in vars(obj):
            f = obj.forward
            obj.forward = functools.wraps(f)(lambda self, *a, _f=f, **k: jiggle(_f(self, *a, **k)))


_dlbn_perturb()
"""


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
    from grader.probing import ProbeContext
    from grader.runner import run_checks

    chapters = [resolve_chapter(c) for c in args.chapters] or list(all_chapters())
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="dlbn-margin-"))
    for chapter in chapters:
        checks = [c for c in chapter.checks if c.kind is not Kind.MATCH]
        solution = exercises_path(ROOT, chapter, solution=True)
        perturbed = tmp / chapter.slug / "exercises.py"
        perturbed.parent.mkdir()
        perturbed.write_text(solution.read_text() + PERTURB)
        variants = {"reference": (solution, 1), "threads2": (solution, 2),
                    "ulps": (perturbed, 1)}
        for seed in args.seeds:
            runs = {
                name: run_checks(
                    path=path, spec_module=chapter.spec_module,
                    check_ids=[c.id for c in checks],
                    timeouts={c.id: c.timeout * 3 for c in checks}, role="oracle",
                    threads=threads, seed=seed, memory_limit=0, env=child_env(ROOT),
                )
                for name, (path, threads) in variants.items()
            }
            ctx = ProbeContext(seed=seed)
            for check in checks:
                ref = runs["reference"].results.get(check.id)
                for name in ("threads2", "ulps"):
                    got = runs[name].results.get(check.id)
                    row = {"check": check.id, "kind": check.kind.value, "seed": seed,
                           "variant": name}
                    if ref is None or got is None or ref.status != "ok" or got.status != "ok":
                        row.update(agree=None, judge=None, note="a run failed: "
                                   + (got.message if got else "missing")[:200])
                    else:
                        judged = check.judge(got.output, None, ctx)
                        verdict = agrees(check, got.output, ref.output)
                        row.update(judge=judged.passed, agree=verdict.passed,
                                   drift=largest_drift(got.output, ref.output),
                                   note="" if verdict.passed else verdict.message)
                    rows.append(row)
                    mark = {True: "ok ", False: "NO ", None: "-- "}[row["agree"]]
                    print(f"{mark} {check.id:36s} {name:8s} seed {seed} judge {row['judge']} "
                          f"drift {row.get('drift', float('nan')):.2e}", flush=True)
    out = ROOT / "benchmarks" / "results" / "backing_margin.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "torch": torch.__version__, "machine": platform.machine(), "cpu": "2-core x86",
        "compared": "variants vs the 1-thread reference, same seed", "rows": rows,
    }, indent=2) + "\n")
    honest = [r for r in rows if r["judge"]]  # the variant still passes the check itself
    bad = [r for r in honest if r["agree"] is False]
    print(f"{len(honest)} comparisons where the variant passes the check's judge; "
          f"{len(bad)} disagree: {[(r['check'], r['variant'], r['seed']) for r in bad]}")


if __name__ == "__main__":
    main()
