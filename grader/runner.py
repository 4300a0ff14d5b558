"""Parent side of the child process: start it, feed it checks, survive its death.

One child per chapter run. A check that runs past its time limit gets the child killed
and a fresh one started for the checks that remain; a child that dies (os._exit, a
segfault, the OOM killer) costs only the check it was running.
"""

from __future__ import annotations

import json
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STARTUP_SECONDS = 90.0  # import torch + the learner's module, on a slow shared machine
DEFAULT_MEMORY_LIMIT = 4 * 2**30  # bytes the learner may allocate beyond torch's own mapping


def timeout_scale() -> float:
    """`DLBN_TIMEOUT_SCALE` stretches every limit (slow laptops, loaded CI machines)."""
    try:
        return max(0.1, float(os.environ.get("DLBN_TIMEOUT_SCALE", "1")))
    except ValueError:
        return 1.0


@dataclass
class RawResult:
    """What came back from the child for one check, before any judging."""

    status: str  # ok | failed | not_started | error | timeout | memory
    output: bytes | None = None
    message: str = ""
    seconds: float = 0.0
    stdout: str = ""


@dataclass
class RunOutcome:
    results: dict[str, RawResult] = field(default_factory=dict)
    import_error: str = ""


class Cancelled(Exception):
    """The parent no longer needs this run (e.g. the reference, for a not-started file)."""


class _Child:
    def __init__(self, job: dict[str, Any]) -> None:
        read_fd, write_fd = os.pipe()
        self.tmp = tempfile.TemporaryDirectory(prefix="dlbn-child-")
        job_path = Path(self.tmp.name) / "job.json"
        job_path.write_text(json.dumps({**job, "fd": write_fd}))
        self.stderr_path = Path(self.tmp.name) / "stderr.txt"
        env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", **job["env"]}
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "grader.child", str(job_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                pass_fds=(write_fd,),
                env=env,
                cwd=self.tmp.name,  # learner code that writes relative paths writes here
                start_new_session=True,
            )
        os.close(write_fd)
        self.fd = read_fd
        self.buffer = b""

    def read(self, timeout: float, stop: threading.Event | None = None) -> dict[str, Any] | None:
        """The next frame, or None on timeout; raises EOFError when the child is gone and
        Cancelled when ``stop`` is set."""
        deadline = time.monotonic() + timeout
        while True:
            if stop is not None and stop.is_set():
                raise Cancelled
            if len(self.buffer) >= 8:
                (size,) = struct.unpack("<Q", self.buffer[:8])
                if len(self.buffer) >= 8 + size:
                    frame = self.buffer[8 : 8 + size]
                    self.buffer = self.buffer[8 + size :]
                    return pickle.loads(frame)
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            wait = min(left, 0.2) if stop is not None else left
            ready, _, _ = select.select([self.fd], [], [], wait)
            if ready:
                chunk = os.read(self.fd, 1 << 20)
                if not chunk:
                    raise EOFError
                self.buffer += chunk

    def stderr_tail(self, chars: int = 800) -> str:
        try:
            return self.stderr_path.read_text(errors="replace")[-chars:].strip()
        except OSError:
            return ""

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        self.proc.wait()
        os.close(self.fd)
        self.tmp.cleanup()


def _death_message(child: _Child) -> tuple[str, str]:
    code = child.proc.wait()
    if code == -signal.SIGKILL:
        return "memory", "the process was killed (SIGKILL), most likely for using too much memory"
    if code < 0:
        name = signal.Signals(-code).name
        return "error", f"the process crashed with signal {name} while running your code"
    tail = child.stderr_tail()
    detail = f"\n{tail}" if tail else ""
    return "error", f"your code ended the grading process (exit code {code}){detail}"


def run_checks(
    *,
    path: Path,
    spec_module: str,
    check_ids: Iterable[str],
    timeouts: dict[str, float],
    role: str = "learner",
    device: str = "cpu",
    seed: int = 0,
    scale: str = "small",
    threads: int = 1,
    memory_limit: int = DEFAULT_MEMORY_LIMIT,
    env: dict[str, str] | None = None,
    stop: threading.Event | None = None,
    on_start: Callable[[str], None] | None = None,
    on_result: Callable[[str, RawResult], None] | None = None,
) -> RunOutcome:
    """Run probes for ``check_ids`` on the module at ``path``; never raises for learner faults.

    Setting ``stop`` ends the run early; the results so far are returned.
    """
    pending = list(check_ids)
    outcome = RunOutcome()
    scale_t = timeout_scale()

    def record(check_id: str, raw: RawResult) -> None:
        outcome.results[check_id] = raw
        if on_result:
            on_result(check_id, raw)

    job = {
        "path": str(path),
        "spec_module": spec_module,
        "role": role,
        "device": device,
        "seed": seed,
        "scale": scale,
        "threads": threads,
        "memory_limit": memory_limit,
        "env": env or {},
    }
    while pending:
        child = _Child({**job, "checks": pending})
        try:
            try:
                frame = child.read(STARTUP_SECONDS * max(1.0, scale_t), stop)
            except EOFError:
                frame = {"type": "died"}
            if frame is None or frame["type"] in ("import_error", "died"):
                if frame is None:
                    message = f"importing {path.name} did not finish in {STARTUP_SECONDS:.0f} s"
                elif frame["type"] == "died":
                    message = _death_message(child)[1]
                else:
                    message = frame["message"]
                outcome.import_error = message
                for check_id in pending:
                    record(check_id, RawResult("error", message=f"could not import {path.name}"))
                return outcome
            while pending:
                check_id = pending[0]
                try:
                    frame = child.read(30.0 * max(1.0, scale_t), stop)  # "start" comes at once
                    if frame is None or frame.get("type") != "start":
                        raise EOFError
                    if on_start:
                        on_start(check_id)
                    limit = timeouts.get(check_id, 20.0) * scale_t
                    started = time.monotonic()
                    frame = child.read(limit, stop)
                except EOFError:
                    status, message = _death_message(child)
                    pending.pop(0)
                    record(check_id, RawResult(status, message=message))
                    break  # start a fresh child for the rest
                if frame is None:
                    pending.pop(0)
                    record(
                        check_id,
                        RawResult(
                            "timeout",
                            message=f"did not finish within {limit:.0f} s "
                            "(an infinite loop, or far too much work)",
                            seconds=time.monotonic() - started,
                        ),
                    )
                    # The same code would hang again: skip the rest of this task.
                    task = check_id.rsplit(".", 1)[0]
                    for other in [c for c in pending if c.rsplit(".", 1)[0] == task]:
                        pending.remove(other)
                        record(
                            other,
                            RawResult(
                                "timeout", message=f"not run: {check_id} timed out in the same task"
                            ),
                        )
                    break
                pending.pop(0)
                record(
                    check_id,
                    RawResult(
                        frame["status"],
                        output=frame.get("output"),
                        message=frame.get("message", ""),
                        seconds=frame.get("seconds", 0.0),
                        stdout=frame.get("stdout", ""),
                    ),
                )
        except Cancelled:
            return outcome
        finally:
            child.kill()
    return outcome
