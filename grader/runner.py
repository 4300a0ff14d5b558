"""Parent side of the child process: start it, feed it checks, survive its death.

One child per chapter run. A check that runs past its time limit gets the child killed
and a fresh one started for the checks that remain; a child that dies (os._exit, a
segfault, the OOM killer), closes its pipe, or writes a frame that breaks the protocol
(`grader.wire`) costs only the check it was running. Every wait is bounded, and when a
child ends everything it started ends with it (`grader.sandbox.kill_tree`).

With a `Sandbox` (graded mode) the child runs as the unprivileged learner user, with a
reduced environment, no network where the kernel allows, and hard limits it cannot raise.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from grader import sandbox as walls
from grader.model import DEFAULT_TIMEOUT
from grader.wire import WireError, decode_frame, split_frames

STARTUP_SECONDS = 90.0  # import torch + the learner's module, on a slow shared machine
DEFAULT_MEMORY_LIMIT = 4 * 2**30  # bytes the learner may allocate beyond torch's own mapping


def timeout_scale() -> float:
    """`DLBN_TIMEOUT_SCALE` stretches every limit (slow laptops, loaded CI machines)."""
    try:
        return max(0.1, float(os.environ.get("DLBN_TIMEOUT_SCALE", "1")))
    except ValueError:
        return 1.0


@dataclass(frozen=True)
class Sandbox:
    """Graded mode's settings for the learner's child (see `grader.sandbox`)."""

    uid: int | None = None  # run as this user (needs root); None: as the current user
    gid: int | None = None
    network_off: bool = True
    preload: tuple[str, ...] = ()  # modules to import before the walls go up
    hide: tuple[str, ...] = ()  # folders the learner must not read (solutions/, the store)
    limits: walls.Limits = walls.Limits()


INTEGRITY = "integrity"  # message prefix of a protocol breach


@dataclass
class RawResult:
    """What came back from the child for one check, before any judging."""

    status: str  # ok | failed | not_started | error | timeout | memory
    output: Any = None  # the decoded, checked value (tensors, numbers, containers)
    message: str = ""
    seconds: float = 0.0
    stdout: str = ""


@dataclass
class RunOutcome:
    results: dict[str, RawResult] = field(default_factory=dict)
    import_error: str = ""
    protections: list[str] = field(default_factory=list)  # what the child's walls were
    leftovers: int = 0  # processes the children left behind (killed)
    modules: list[str] = field(default_factory=list)  # what a reference run imported


class Cancelled(Exception):
    """The parent no longer needs this run (e.g. the reference, for a not-started file)."""


def _minimal_env(extra: dict[str, str], home: str) -> dict[str, str]:
    """Graded children see only what Python, torch and the course need."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ", "CUDA_VISIBLE_DEVICES", "DLBN_TIMEOUT_SCALE")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update({"HOME": home, "TMPDIR": home, "PYTHONNOUSERSITE": "1"})
    if "PYTHONPATH" in os.environ:  # how an uninstalled checkout finds grader/ and dlbn/
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return {**env, **extra}


class _Child:
    def __init__(self, job: dict[str, Any], box: Sandbox | None) -> None:
        read_fd, write_fd = os.pipe()
        self.box = box
        self.token = secrets.token_hex(16)
        self.tmp = tempfile.TemporaryDirectory(prefix="dlbn-child-")
        work = Path(self.tmp.name)
        job = dict(job)
        if box is not None:
            job["sandbox"] = {"uid": box.uid, "gid": box.gid, "network_off": box.network_off,
                              "hide": [str(p) for p in box.hide]}
            job["preload"] = list(box.preload)
            # The learner's user reads its own copy of the file and works in its own folder.
            learner = work / "learner"
            learner.mkdir()
            shutil.copyfile(job["path"], learner / "exercises.py")
            job["path"] = str(learner / "exercises.py")
            for p in (work, learner, learner / "exercises.py"):
                os.chmod(p, 0o755 if p.is_dir() else 0o644)
            if box.uid is not None and walls.is_root():
                os.chown(learner, box.uid, box.gid if box.gid is not None else -1)
        job_path = work / "job.json"
        job_path.write_text(json.dumps({**job, "fd": write_fd}))
        os.chmod(job_path, 0o644)
        self.stderr_path = work / "stderr.txt"
        base = {"PYTHONDONTWRITEBYTECODE": "1", "MPLBACKEND": "Agg", walls.TOKEN_VAR: self.token}
        if box is not None:
            env = _minimal_env({**base, **job["env"]}, str(work / "learner"))
        else:
            env = {**os.environ, **base, **job["env"]}
        limits = box.limits if box is not None else walls.Limits()
        with open(self.stderr_path, "wb") as stderr:
            self.proc = subprocess.Popen(
                [*_command(), str(job_path)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                pass_fds=(write_fd,),
                env=env,
                cwd=str(work / "learner") if box is not None else self.tmp.name,
                start_new_session=True,
                preexec_fn=walls.preexec_limits(limits, graded=box is not None),
            )
        os.close(write_fd)
        self.fd = read_fd
        self.buffer = b""
        self.frames: list[dict[str, Any]] = []
        self.leftovers = 0

    def read(self, timeout: float, stop: threading.Event | None = None) -> dict[str, Any] | None:
        """The next frame, decoded and checked, or None on timeout; raises EOFError when the
        child is gone, `WireError` on a frame that breaks the protocol and Cancelled when
        ``stop`` is set."""
        deadline = time.monotonic() + timeout
        while True:
            if stop is not None and stop.is_set():
                raise Cancelled
            if not self.frames:
                bodies, self.buffer = split_frames(self.buffer)
                self.frames = [decode_frame(b) for b in bodies]
            if self.frames:
                return self.frames.pop(0)
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

    def exit_code(self, wait: float = 3.0) -> int | None:
        """The child's exit code, waiting at most ``wait`` s (it may close its pipe and
        live on); None when it is still running."""
        try:
            return self.proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> None:
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                self.proc.kill()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover - stuck in the kernel
            pass
        uid = self.box.uid if self.box is not None and walls.is_root() else None
        self.leftovers = walls.kill_tree(self.token, uid)
        os.close(self.fd)
        self.tmp.cleanup()


def _death_message(child: _Child) -> tuple[str, str]:
    code = child.exit_code()
    if code is None:
        return "error", "your code closed the grader's pipe (the process was still running)"
    if code == -signal.SIGKILL:
        return "memory", "the process was killed (SIGKILL), most likely for using too much memory"
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:  # real-time signals have no name
            name = f"signal {-code}"
        return "error", f"the process crashed with signal {name} while running your code"
    tail = child.stderr_tail()
    detail = f"\n{tail}" if tail else ""
    return "error", f"your code ended the grading process (exit code {code}){detail}"


def _command() -> list[str]:
    # -P (3.11+): the working directory (the learner's folder in graded mode) is not on
    # sys.path, so nothing there can shadow the grader's own modules.
    safe = ["-P"] if sys.version_info >= (3, 11) else []
    return [sys.executable, *safe, "-m", "grader.child"]


def _expect(frame: dict[str, Any] | None, kind: str, check_id: str | None = None) -> None:
    if frame is not None and (frame["type"] != kind or (check_id and frame["id"] != check_id)):
        raise WireError(f"expected a {kind} frame, got {frame['type']}")


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
    sandbox: Sandbox | None = None,
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
    startup = STARTUP_SECONDS * max(1.0, scale_t)

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
        budget = sum(timeouts.get(c, DEFAULT_TIMEOUT) for c in pending)
        cpu = int(startup + budget * scale_t * 2 * threads)
        box = replace(sandbox, limits=replace(sandbox.limits, cpu_seconds=cpu)) if sandbox else None
        child = _Child({**job, "checks": pending}, box)
        try:
            try:
                frame = child.read(startup, stop)
                _expect(frame, "sandbox")
                if frame is not None:  # written before the learner's file was imported
                    outcome.protections = list(frame["active"])
                    frame = child.read(startup, stop)
                    if frame is not None and frame["type"] != "import_error":
                        _expect(frame, "ready")
            except EOFError:
                frame = {"type": "died"}
            except WireError as exc:
                frame = {"type": "import_error",
                         "message": f"{INTEGRITY}: your file broke the grader's protocol ({exc})"}
            if frame is None or frame["type"] in ("import_error", "died"):
                if frame is None:
                    message = f"importing {path.name} did not finish in {startup:.0f} s"
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
                    if frame is None:
                        raise EOFError
                    _expect(frame, "start", check_id)
                    if on_start:
                        on_start(check_id)
                    limit = timeouts.get(check_id, DEFAULT_TIMEOUT) * scale_t
                    started = time.monotonic()
                    frame = child.read(limit, stop)
                    _expect(frame, "result", check_id)
                except EOFError:
                    status, message = _death_message(child)
                    pending.pop(0)
                    record(check_id, RawResult(status, message=message))
                    break  # start a fresh child for the rest
                except WireError as exc:
                    pending.pop(0)
                    record(check_id, RawResult(
                        "error", message=f"{INTEGRITY}: the grader's protocol was broken ({exc}); "
                        "this check gets no points"))
                    break
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
                        output=frame["output"],
                        message=frame["message"],
                        seconds=frame["seconds"],
                        stdout=frame["stdout"],
                    ),
                )
            else:
                try:
                    frame = child.read(5.0, stop)
                    if frame is not None and frame["type"] == "done" and role == "oracle":
                        outcome.modules = list(frame["modules"])
                except (EOFError, WireError):
                    pass
        except Cancelled:
            return outcome
        finally:
            child.kill()
            outcome.leftovers += child.leftovers
    return outcome
