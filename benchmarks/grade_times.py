"""Time `dlbn grade CH --solution` for every chapter, as a learner would run it.

Usage:
    python benchmarks/grade_times.py                # every chapter, 3 runs each
    python benchmarks/grade_times.py ch01 ch05 -n 1

Each run is a fresh `dlbn grade` process (Python start-up, the reference and learner
processes, judging, the report), so the numbers include everything a learner waits for.
Prints a table and writes benchmarks/results/grade_times.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def chapters() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from grader.course import all_chapters

    return [c.id for c in all_chapters()]


def time_grade(chapter: str) -> tuple[float, int]:
    started = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-m", "grader.cli", "grade", chapter, "--solution", "--device", "cpu"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    return time.perf_counter() - started, done.returncode


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("chapters", nargs="*", help="chapter ids (default: all)")
    parser.add_argument("-n", "--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for chapter in args.chapters or chapters():
        times, codes = [], []
        for _ in range(args.repeats):
            seconds, code = time_grade(chapter)
            times.append(seconds)
            codes.append(code)
        rows.append(
            {
                "chapter": chapter,
                "median_s": round(statistics.median(times), 1),
                "min_s": round(min(times), 1),
                "max_s": round(max(times), 1),
                "all_passed": all(c == 0 for c in codes),
            }
        )
        r = rows[-1]
        print(
            f"{chapter}: median {r['median_s']:.1f} s (min {r['min_s']:.1f}, max {r['max_s']:.1f})"
            f"{'' if r['all_passed'] else '  SOME CHECKS FAILED'}",
            flush=True,
        )
    out = ROOT / "benchmarks" / "results" / "grade_times.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    machine = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    out.write_text(json.dumps({"machine": machine, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
