"""Time `dlbn grade CH --solution` in each mode, as a learner or the autograder runs it.

Usage:
    python benchmarks/grade_times.py                # every chapter, 3 rounds
    python benchmarks/grade_times.py ch01 ch05 -n 1

Each run is a fresh `dlbn grade` process (Python start-up, the processes it starts,
judging, the report), so the numbers include everything a learner waits for. One round
times, back to back on the same machine:

- ``import torch``: ``python -c "import torch"``, the unit of start-up cost;
- ``cold``: self-study with an empty reference cache (the reference runs beside the
  learner: two child processes and the parent);
- ``warm``: self-study with the reference cache filled (one child and the parent);
- ``graded``: ``--graded`` with expected outputs built beforehand (one child, sandboxed).

Graded mode needs root for the learner's user; as another user it runs with the walls
that user can raise. The expected outputs are built once, first (`dlbn autograder build`,
one seed set). Prints a table and writes benchmarks/results/grade_times.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DLBN = [sys.executable, "-m", "grader.cli"]


def chapters() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from grader.course import all_chapters

    return [c.id for c in all_chapters()]


def timed(command: list[str]) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    return time.perf_counter() - started, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("chapters", nargs="*", help="chapter ids (default: all)")
    parser.add_argument("-n", "--repeats", type=int, default=3)
    args = parser.parse_args()
    ids = args.chapters or chapters()
    with tempfile.TemporaryDirectory() as tmp:
        target = ids[0] if len(ids) == 1 else "all"
        build = subprocess.run([*DLBN, "autograder", "build", target, "-o", f"{tmp}/ag.zip",
                                "--seed-sets", "1"], cwd=ROOT, capture_output=True, text=True)
        if build.returncode:
            sys.exit(f"could not build the expected outputs:\n{build.stderr}")
    grade = [*DLBN, "grade", "--solution", "--device", "cpu"]
    cache = ROOT / ".dlbn" / "reference"
    rows = []
    for chapter in ids:
        times: dict[str, list[float]] = {"import torch": [], "cold": [], "warm": [],
                                         "graded": []}
        codes = []
        for _ in range(args.repeats):
            times["import torch"].append(timed([sys.executable, "-c", "import torch"])[0])
            shutil.rmtree(cache / chapter, ignore_errors=True)
            for mode, extra in (("cold", []), ("warm", []), ("graded", ["--graded"])):
                seconds, code = timed([*grade, chapter, *extra])
                times[mode].append(seconds)
                codes.append(code)
        med = {k: round(statistics.median(v), 2) for k, v in times.items()}
        rows.append({
            "chapter": chapter, **{f"{k}_s": v for k, v in med.items()},
            "graded_over_warm": round(med["graded"] / med["warm"], 3),
            "warm_over_torch_per_process": round(med["warm"] / (2 * med["import torch"]), 3),
            "all_passed": all(c == 0 for c in codes),
            "runs": {k: [round(x, 2) for x in v] for k, v in times.items()},
        })
        r = rows[-1]
        print(f"{chapter}: torch {med['import torch']:.1f} s | cold {med['cold']:.1f} | warm "
              f"{med['warm']:.1f} | graded {med['graded']:.1f} s (graded/warm "
              f"{r['graded_over_warm']:.2f}, warm / (2 x import torch) "
              f"{r['warm_over_torch_per_process']:.2f})"
              f"{'' if r['all_passed'] else '  SOME CHECKS FAILED'}", flush=True)
    out = ROOT / "benchmarks" / "results" / "grade_times.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "root": os.geteuid() == 0 if hasattr(os, "geteuid") else False,
    }
    out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
