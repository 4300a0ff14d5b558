"""The prepared GPU check: on a machine with one GPU, everything the CUDA path must do, in
under 8 minutes, with every result in one folder.

    bash benchmarks/gpu_check.sh                       # cuda, full settings
    bash benchmarks/gpu_check.sh --device cpu --small  # what the test suite runs

Steps (each with its own time limit; a failure or timeout is recorded, the others run):
the device and versions; ``pytest -m gpu``; ``dlbn grade CH --solution`` for every chapter
(times and verdicts); the Hessian benchmark (HVPs and eigenpairs); the training-throughput
benchmark (the device-tensor bench against a DataLoader loop); ch05's paper-scale run on
MNIST-1D; ch05 on CIFAR-10-format files generated on the machine (nothing is downloaded).
ch10 against torch's ``nn.SyncBatchNorm`` is listed as not yet written. ``summary.json``
holds one entry per step: command, seconds, exit code, verdict and the output's tail.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DLBN = [sys.executable, "-m", "grader.cli"]


def step(name: str, command: list[str], out: Path, limit: float,
         env: dict[str, str] | None = None) -> dict[str, object]:
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {' '.join(command)}", flush=True)
    tic = time.perf_counter()
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=limit,
                              env={**os.environ, **(env or {})})
        code, text = done.returncode, done.stdout + done.stderr
    except subprocess.TimeoutExpired as exc:
        code = None
        text = f"timed out after {limit:.0f} s\n" + str(exc.stdout or "") + str(exc.stderr or "")
    seconds = round(time.perf_counter() - tic, 1)
    (out / f"{name}.log").write_text(text)
    verdict = "timeout" if code is None else "ok" if code == 0 else f"exit {code}"
    print(f"    {verdict} in {seconds} s", flush=True)
    return {"name": name, "command": command, "seconds": seconds, "exit_code": code,
            "verdict": verdict, "tail": text[-1500:]}


def environment(device: str) -> dict[str, object]:
    import torch

    info: dict[str, object] = {"torch": torch.__version__, "python": platform.python_version(),
                               "machine": platform.platform(), "device": device,
                               "cuda_available": torch.cuda.is_available()}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
        info["cuda"] = torch.version.cuda
    return info


def cifar_format_data(folder: Path, images_per_batch: int) -> None:
    """CIFAR-10's on-disk format, random pixels (the tests' writer), under ``folder``."""
    sys.path.insert(0, str(ROOT / "tests"))
    from data_formats import write_tiny_cifar10

    write_tiny_cifar10(folder, per_batch=images_per_batch, test=images_per_batch)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--small", action="store_true", help="tiny settings (the test suite's)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "gpu_check")
    ap.add_argument("--chapters", nargs="*", help="default: every chapter (small: ch01)")
    args = ap.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    dev, small = args.device, args.small
    from grader.course import all_chapters

    chapters = args.chapters or (["ch01"] if small else [c.id for c in all_chapters()])
    steps: list[dict[str, object]] = []
    steps.append(step("pytest_gpu", [sys.executable, "-m", "pytest", "-q", "-m", "gpu",
                                     "tests/test_gpu.py"], out, 120))
    for chapter in chapters:
        steps.append(step(f"grade_{chapter}", [*DLBN, "grade", chapter, "--solution",
                                               "--device", dev, "--json",
                                               str(out / f"grade_{chapter}.json")], out, 120))
    hessian = ["--examples", "32", "--top", "1", "--epochs", "0", "--repeats", "1"] if small \
        else ["--top", "20", "10"]
    steps.append(step("hessian", [sys.executable, "benchmarks/hessian.py", "--device", dev,
                                  "--out", str(out / "hessian.json"), *hessian], out, 150))
    throughput = ["--epochs", "1", "--repeats", "1", "--nets", "4x8", "--batch-sizes", "128"] \
        if small else []
    steps.append(step("train_throughput", [sys.executable, "benchmarks/train_throughput.py",
                                           "--device", dev, "--out",
                                           str(out / "train_throughput.json"), *throughput],
                      out, 120))
    if not small:
        steps.append(step("ch05_paper_mnist1d", [*DLBN, "run", "ch05", "--solution",
                                                 "--scale", "paper", "--device", dev,
                                                 "--out", str(out / "ch05_paper")], out, 120))
        with tempfile.TemporaryDirectory() as data:
            cifar_format_data(Path(data), images_per_batch=200)
            steps.append(step("ch05_cifar10_format", [*DLBN, "run", "ch05", "--solution",
                                                      "--dataset", "cifar10", "--device", dev,
                                                      "--out", str(out / "ch05_cifar")],
                              out, 90, env={"DLBN_DATA": data}))
    steps.append({"name": "ch10_sync_batch_norm", "verdict": "not run",
                  "tail": "chapter 10 (batch norm across processes) is not written yet"})
    summary = {"when": time.strftime("%Y-%m-%d %H:%M:%S"), "small": small,
               "environment": environment(dev), "steps": steps,
               "seconds": round(sum(float(s.get("seconds", 0)) for s in steps), 1)}
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    failed = [s["name"] for s in steps if s["verdict"] not in ("ok", "not run")]
    print(f"wrote {out / 'summary.json'}; {summary['seconds']} s; failed: {failed or 'none'}")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
