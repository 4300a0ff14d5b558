"""The child process: imports one exercises.py by path and runs probes on it.

Started by `grader.runner` as ``python -m grader.child JOB.json``. It talks to the parent
only through data frames on a pipe (`grader.wire`); stdout goes to /dev/null and what the
learner prints is kept, bounded, per check. Verdicts are never decided here, and nothing
this process sends is believed by the parent without checking: once the learner's file is
imported, any frame may be forged.

Order of start-up: torch, the spec and the modules the reference needed are imported;
memory is capped; in graded mode the process walls itself in (`grader.sandbox.enter`:
network, unprivileged user) and says so in a ``sandbox`` frame; only then is the learner's
file imported.
"""

from __future__ import annotations

import importlib
import importlib.util
import io
import json
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any

MAX_STDOUT = 4000  # characters of learner output kept per check
MAX_OUTPUT = 64 * 2**20  # bytes of encoded probe output


class BoundedWriter(io.TextIOBase):
    """A stdout that keeps the first MAX_STDOUT characters and drops the rest (floods)."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def write(self, text: str) -> int:
        room = MAX_STDOUT - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(len(text), room)
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def take(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n... ({self.dropped} more characters not shown)"
        self.parts, self.size, self.dropped = [], 0, 0
        return text


def send(pipe: Any, message: dict[str, Any]) -> None:
    from grader.wire import encode_frame

    pipe.write(encode_frame(message))
    pipe.flush()


def learner_traceback(exc: BaseException, learner_dir: str) -> str:
    """The exception with only the learner's frames (files in the exercises' folder)."""
    frames = [
        f
        for f in traceback.extract_tb(exc.__traceback__)
        if os.path.dirname(os.path.abspath(f.filename)) == learner_dir
    ]
    lines = [
        f"  {os.path.basename(f.filename)}:{f.lineno} in {f.name}: {(f.line or '').strip()}"
        for f in frames[-4:]
    ]
    head = "".join(traceback.format_exception_only(type(exc), exc)).strip()
    return "\n".join([*lines, head]) if lines else head


def is_memory_error(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    text = str(exc).lower()
    return isinstance(exc, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text or "not enough memory" in text
    )


def count_calls(names: list[str]) -> None:
    """Wrap forbidden torch functions so probes can see whether learner code called them."""
    from grader.probing import CALLS

    for dotted in names:
        module_name, _, attr = dotted.rpartition(".")
        try:
            owner = importlib.import_module(module_name)
            original = getattr(owner, attr)
        except (ImportError, AttributeError):
            continue

        setattr(owner, attr, _counting(original, dotted, CALLS))


def _counting(original: Any, name: str, calls: Any) -> Any:
    """A wrapper that counts calls; the original lives in the closure, not in a default
    argument that a signature would give away (graded mode also refuses the dunders and
    the introspection that reach a closure)."""

    def wrapper(*args: Any, **kw: Any) -> Any:
        calls[name] += 1
        return original(*args, **kw)

    return wrapper


def import_learner(path: str) -> Any:
    folder = os.path.dirname(path)
    if folder not in sys.path:
        sys.path.insert(0, folder)
    spec = importlib.util.spec_from_file_location("exercises", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["exercises"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def run_probe(
    check: Any, module: Any, ctx: Any, learner_dir: str, stdout: BoundedWriter, role: str
) -> dict:
    import random

    import numpy as np
    import torch

    from grader.probing import ProbeFailure

    torch.manual_seed(ctx.seed)
    random.seed(ctx.seed)
    np.random.seed(ctx.seed)
    start = time.perf_counter()
    result: dict[str, Any] = {"status": "ok", "message": "", "output": None}
    probe = check.oracle if (role == "oracle" and check.oracle) else check.probe
    try:
        value = probe(module, ctx)
        size = encoded_size(value)
        if size > MAX_OUTPUT:
            result = {"status": "error", "message": f"output too large ({size} bytes)"}
        else:
            result["output"] = value
    except NotImplementedError as exc:
        result = {"status": "not_started", "message": str(exc) or "NotImplementedError"}
    except ProbeFailure as exc:
        result = {"status": "failed", "message": str(exc)}
    except SystemExit as exc:
        result = {"status": "error", "message": f"your code called sys.exit({exc.code!r})"}
    except BaseException as exc:  # noqa: BLE001 - learner code may raise anything
        status = "memory" if is_memory_error(exc) else "error"
        result = {"status": status, "message": learner_traceback(exc, learner_dir)}
    result["seconds"] = time.perf_counter() - start
    result["stdout"] = stdout.take()
    result.setdefault("output", None)
    return result


def encoded_size(value: Any) -> int:
    """Bytes of tensor data in ``value`` (the bulk of a frame); raises TypeError for values
    the wire cannot carry."""
    from grader.wire import Encoder

    enc = Encoder()
    enc.value(value)
    return enc.size


def main(job_path: str) -> None:
    job = json.loads(Path(job_path).read_text())
    pipe = os.fdopen(job["fd"], "wb", buffering=0)
    stdout = BoundedWriter()
    sys.stdout = stdout
    sys.stdin = io.StringIO()

    import torch

    torch.set_num_threads(job["threads"])
    from grader import sandbox
    from grader.probing import ProbeContext

    spec = importlib.import_module(job["spec_module"])
    box = job.get("sandbox") or {}
    sandbox.preload(job.get("preload", []), box.get("uid"), box.get("gid"))  # before the walls
    checks = {c.id: c for c in spec.CHAPTER.checks}
    ctx = ProbeContext(device=job["device"], seed=job["seed"], scale=job["scale"])
    active = []
    if job["memory_limit"]:
        active.append(sandbox.limit_memory(job["memory_limit"], job["device"].split(":")[0]))
    if job["role"] == "learner":
        count_calls(list(spec.CHAPTER.forbidden))
    if job.get("sandbox"):
        active += sandbox.enter(job["sandbox"])
    send(pipe, {"type": "sandbox", "active": [a for a in active if a]})
    learner_dir = os.path.dirname(os.path.abspath(job["path"]))
    try:
        module = import_learner(job["path"])
    except BaseException as exc:  # noqa: BLE001 - a syntax error, import error, exit...
        if isinstance(exc, SystemExit):
            message = f"your file called sys.exit({exc.code!r}) while being imported"
        elif isinstance(exc, SyntaxError):
            message = f"{os.path.basename(exc.filename or 'exercises.py')}:{exc.lineno}: " + (
                f"SyntaxError: {exc.msg}\n    {(exc.text or '').strip()}"
            )
        else:
            message = learner_traceback(exc, learner_dir)
        send(pipe, {"type": "import_error", "message": message, "stdout": stdout.take()})
        return
    send(pipe, {"type": "ready"})
    for check_id in job["checks"]:
        send(pipe, {"type": "start", "id": check_id})
        result = run_probe(checks[check_id], module, ctx, learner_dir, stdout, job["role"])
        try:
            send(pipe, {"type": "result", "id": check_id, **result})
        except (TypeError, ValueError) as exc:  # a value the wire cannot carry
            send(pipe, {"type": "result", "id": check_id, "status": "error", "output": None,
                        "message": f"could not send your output: {exc}",
                        "seconds": result["seconds"], "stdout": result["stdout"]})
    send(pipe, {"type": "done", "modules": sorted(sys.modules) if job["role"] == "oracle" else []})
    pipe.close()
    os._exit(0)  # skip interpreter teardown: learner atexit hooks and threads cannot hang us


if __name__ == "__main__":
    main(sys.argv[1])
