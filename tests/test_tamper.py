"""Hostile learner files against graded mode: each attack is the starter or the solution of
ch01 with a small injected block, graded by the real `dlbn` (as root, so the learner's
child runs as ``dlbn-learner``), and each test asserts that

- the score is no higher than what the learner honestly implemented,
- no learner code ran in the parent (markers the parent alone could create are absent),
- the reports parse, were written by the parent and carry the score,
- the course (its solutions, the expected store, the grader itself) is unchanged,
- nothing the attack started is left running.

Graded mode has two layers: a static *dialect* (grader/scratch.py graded_findings: a file
that imports os, sys, grader... is not run at all) and the runtime *walls* (the sandboxed
child, the data-only wire, judging in the parent). Most attacks below need os or pickle, so
the dialect rejects them; each is graded twice: by the real `dlbn` (the dialect on: at most
the honest score) and by `dlbn` with the dialect switched off in its own process (`NO_DIALECT`:
as if the dialect missed the file), where the walls alone must hold. Attacks that are
written to pass the dialect (``torch.os``, ``torch.sys.modules``) run on the real `dlbn`.

Every hole this suite found was fixed in the grader (the holes are in the git history:
`git log -S xfail tests/test_tamper.py`). The course is a copy in a temp dir that the
learner's user can traverse (like a real checkout: 0755), with solutions/ and the store
0700 as the package makes them; one expected store is built for the whole module.

Linux, as root only (graded mode's walls need it).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import secrets
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

if not sys.platform.startswith("linux") or os.geteuid() != 0:
    pytest.skip("graded mode's sandbox needs root on Linux", allow_module_level=True)

pytestmark = pytest.mark.slow  # every test grades a chapter in graded mode

from grader import sandbox as walls  # noqa: E402
from grader.specs.ch01 import CHAPTER  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SLUG = "ch01_batchnorm"
STARTER = (REPO / "chapters" / SLUG / "exercises.py").read_text()
SOLUTION = (REPO / "solutions" / SLUG / "exercises.py").read_text()
_DLBN_SCRIPT = Path(sys.executable).with_name("dlbn")
DLBN = [str(_DLBN_SCRIPT)] if _DLBN_SCRIPT.exists() else [sys.executable, "-m", "grader.cli"]
SECRET_VAR = "DLBN_SECRET_PROBE"
# `dlbn` without the dialect: the walls alone (the parent is still its own process).
NO_DIALECT = """
import sys

import grader.engine as engine

assert hasattr(engine, "graded_findings"), "the dialect moved: update tests/test_tamper.py"
engine.graded_findings = lambda source: []
from grader.cli import main

sys.argv[0] = "dlbn"
main()
"""
# Text only the solution has: must never reach a report.
SOLUTION_TEXT = (
    "running_var.mul_(1 - momentum).add_(momentum * var * m / (m - 1))",
    "grad_x = inv_std / m * (m * g - sum_g - x_hat * sum_g_xhat)",
    "BEGIN SOLUTION",
)


def _learner_ids() -> tuple[int, int]:
    account = walls.learner_account()
    assert account is not None
    return account


LEARNER_UID, LEARNER_GID = _learner_ids()


# ----------------------------------------------------------------------------- learner files
def at_top(text: str, code: str) -> str:
    """``code`` right after the file's imports."""
    anchor = "from torch import Tensor, nn\n"
    assert anchor in text
    return text.replace(anchor, anchor + code.strip("\n") + "\n", 1)


def at_end(text: str, code: str) -> str:
    return text + "\n\n" + code.strip("\n") + "\n"


def in_task(text: str, task: str, code: str) -> str:
    """``code`` at the start of the body of task ``task``'s function (ch01.1 forward,
    ch01.2 backward, ch01.3 the module's ``__init__``), in the solution or the starter."""
    for mark in (f"# BEGIN SOLUTION {task}\n", f"# TODO({task})"):
        at = text.find(mark)
        if at >= 0:
            line = text.rfind("\n", 0, at) + 1
            indent = text[line:at]
            assert not indent.strip(), indent
            rows = code.strip("\n").split("\n")
            body = "".join(f"{indent}{row}\n" if row.strip() else "\n" for row in rows)
            return text[:line] + body + text[line:]
    raise AssertionError(f"no {task} in the file")


def forward_via(call: str) -> str:
    """The solution with batch_norm_forward replaced by ``call`` (after the m < 2 check)."""
    return in_task(SOLUTION, "ch01.1", f"""
if training and x.numel() // x.shape[1] < 2:
    raise ValueError("expected more than 1 value per channel when training")
return {call}
""")


# Forges every frame the parent expects, with the reference's own outputs: the spec's
# oracles (torch) run on the seed that job.json gives away, api checks get the values
# their judges want. {prelude} finds what it needs (IMPORTS or THROUGH_TORCH), {ending}
# decides what happens after (exit, or keep running).
FORGE = '''
def _forge():
{prelude}
    job = _json.loads(_os.read(_os.open(_argv[1], 0), 1 << 20))
    ctx = ProbeContext(device=job["device"], seed=job["seed"], scale=job["scale"])
    bn = ["torch." + "batch_" + "norm", "torch.nn.functional." + "batch_" + "norm",
          "torch.native_" + "batch_" + "norm"]
    ag = ["torch." + "auto" + "grad." + n for n in ("grad", "backward")]
    wanted = {{
        "ch01.1.contract": {{"shape": True, "dtype": True, "device": True, "unchanged": True,
                            "auto" + "grad": True, "grads": True}},
        "ch01.1.single_value": {{"raised": "ValueError"}},
        "ch01.1.from_scratch": {{n: 0 for n in bn}},
        "ch01.2.no_autograd": {{n: 0 for n in ag}},
    }}
    checks = {{c.id: c for c in _spec.CHAPTER.checks}}
    fd = job["fd"]
    _os.write(fd, encode_frame({{"type": "ready"}}))
    for cid in job["checks"]:
        check = checks[cid]
        out = check.oracle(None, ctx) if check.oracle else wanted.get(cid)
        _os.write(fd, encode_frame({{"type": "start", "id": cid}}))
        _os.write(fd, encode_frame({{"type": "result", "id": cid, "status": "ok", "message": "",
                                    "seconds": 0.01, "stdout": "", "output": out}}))
    _os.write(fd, encode_frame({{"type": "done", "modules": []}}))
    {ending}


_forge()
'''
IMPORTS = """
    import json as _json
    import os as _os
    import sys as _sys
    import time as _time

    import grader.specs.ch01 as _spec
    from grader.probing import ProbeContext
    from grader.wire import encode_frame

    _argv = _sys.argv
"""
# Not one import outside the dialect: torch re-exports os and sys, and sys.modules holds
# everything the child imported before the learner's file.
THROUGH_TORCH = """
    _t = torch
    _os, _mods, _argv = _t.os, _t.sys.modules, _t.sys.argv
    _json, _time, _spec = _mods["json"], _mods["time"], _mods["grader.specs.ch01"]
    ProbeContext = _mods["grader.probing"].ProbeContext
    encode_frame = _mods["grader.wire"].encode_frame
"""


# ----------------------------------------------------------------------------- the course
@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """A course copy with a built expected store (once); its folders as the package has
    them (solutions/ and the store 0700), the rest traversable by the learner's user."""
    top = Path(tempfile.mkdtemp(prefix="dlbn-tamper-"))
    os.chmod(top, 0o755)
    course = top / "course"
    course.mkdir(mode=0o755)
    for part in ("chapters", "solutions", "datasets"):
        shutil.copytree(REPO / part, course / part, ignore=shutil.ignore_patterns("figures"))
    out = {"top": top, "course": course, "zip": tmp_path_factory.mktemp("package") / "ag.zip"}
    out["built_modes"] = _build_store(out)
    yield out
    shutil.rmtree(top, ignore_errors=True)


def _build_store(base: dict) -> dict[str, int]:
    """(Re)build the base course's store; returns the modes the build left (before ours)."""
    course = base["course"]
    build = subprocess.run(  # the zip goes to a 0700 folder: it holds the store
        [*DLBN, "autograder", "build", "ch01", "-o", str(base["zip"]), "--seed-sets", "2",
         "--root", str(course)], capture_output=True, text=True, cwd=base["top"], timeout=600,
    )
    assert build.returncode == 0, build.stdout + build.stderr
    store = course / ".dlbn" / "expected"
    modes = {p.relative_to(course).as_posix(): stat.S_IMODE(p.stat().st_mode)
             for p in [store, *store.rglob("*")]}
    for tree in (course / "solutions", store):
        for p in [tree, *tree.rglob("*")]:
            p.chmod(0o700 if p.is_dir() else 0o600)
    return modes


def _refresh_store(w: Work) -> None:
    """The grader's code changed under the running tests (another engineer at work): the
    store is out of date. Build it again and give this test a fresh copy."""
    _build_store(w.base)
    w.epoch += 1
    shutil.rmtree(w.course / ".dlbn" / "expected")
    shutil.copytree(w.base["course"] / ".dlbn" / "expected", w.course / ".dlbn" / "expected")


@dataclasses.dataclass
class Work:
    """One test's world: its course copy, a report folder, a temp root for the children,
    and a marker string the attack carries (in argv, files it tries to write)."""

    root: Path
    course: Path
    base: dict
    reports: Path
    tmp: Path
    mark: str
    epoch: int = 0  # how often the store was rebuilt under this test

    def parent_marker(self, name: str) -> Path:
        """A path only root can create (the learner cannot write ``root``)."""
        return self.root / f"PARENT-RAN-{name}-{self.mark}"


@pytest.fixture()
def work(base: dict) -> Iterator[Work]:
    root = Path(tempfile.mkdtemp(prefix="w-", dir=base["top"]))
    os.chmod(root, 0o755)
    course = root / "course"
    shutil.copytree(base["course"], course, symlinks=True)  # keeps the 0700 folders
    reports, tmp = root / "reports", root / "tmp"
    for folder in (reports, tmp):
        folder.mkdir(mode=0o755)
    w = Work(root, course, base, reports, tmp, f"tamper{secrets.token_hex(6)}")
    yield w
    leftovers = _leftovers(w)
    for pid in leftovers:  # never leave a stray process behind, even on failure
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    shutil.rmtree(root, ignore_errors=True)


# ----------------------------------------------------------------------------- snapshots
def _digest_tree(root: Path, pattern: str = "*") -> dict[str, tuple[str, int]]:
    out = {}
    if not root.exists():
        return out
    for p in sorted(root.rglob(pattern)):
        if "__pycache__" in p.parts or p.is_symlink() or not p.is_file():
            continue
        out[p.relative_to(root).as_posix()] = (
            hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_uid)
    return out


@dataclasses.dataclass
class Snapshot:
    """sha256 of the course copy (strict) and of the grader's own code and solutions beside
    it (another engineer may edit the repository meanwhile: a change there counts only if it
    carries the attack's marker or belongs to the learner's user)."""

    course: dict[str, dict]
    repo: dict[str, dict]
    epoch: int = 0

    @classmethod
    def take(cls, w: Work) -> Snapshot:
        course = {part: _digest_tree(w.course / part)
                  for part in ("solutions", ".dlbn/expected", "chapters")}
        repo = {part: _digest_tree(REPO / part, "*.py") for part in ("grader", "dlbn")}
        repo["solutions"] = _digest_tree(REPO / "solutions")
        return cls(course, repo, w.epoch)

    def assert_unchanged(self, w: Work) -> None:
        now = Snapshot.take(w)
        for part, files in self.course.items():
            if part == ".dlbn/expected" and now.epoch != self.epoch:
                continue  # rebuilt by the test itself (see _refresh_store)
            assert now.course[part] == files, f"the course's {part} changed"
        for part, files in self.repo.items():
            for rel in set(files) | set(now.repo[part]):
                if files.get(rel) == now.repo[part].get(rel):
                    continue
                path = REPO / part / rel
                text = path.read_bytes() if path.is_file() else b""
                owner = now.repo[part].get(rel, ("", 0))[1]
                assert w.mark.encode() not in text, f"{path} carries the attack's marker"
                assert owner != LEARNER_UID, f"{path} belongs to the learner's user"


# ----------------------------------------------------------------------------- processes
def _proc_text(pid: str, name: str) -> bytes:
    try:
        with open(f"/proc/{pid}/{name}", "rb") as f:
            return f.read()
    except OSError:
        return b""


def _state_and_uid(pid: str) -> tuple[str, int]:
    state, uid = "?", -1
    for line in _proc_text(pid, "status").decode(errors="replace").splitlines():
        if line.startswith("State:"):
            state = line.split()[1]
        elif line.startswith("Uid:"):
            uid = int(line.split()[1])
    return state, uid


def _leftovers(w: Work) -> list[int]:
    """Live (non-zombie) processes of this test's runs: they carry the test's folder in
    their command line or environment (the children's temp dirs are under it), or the
    attack's marker."""
    keys = (str(w.root).encode(), w.mark.encode())
    found = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        blob = _proc_text(pid, "cmdline") + b"\0" + _proc_text(pid, "environ")
        if any(k in blob for k in keys):
            state, _ = _state_and_uid(pid)
            if state not in ("Z", "X", "?"):
                found.append(int(pid))
    return found


def learner_processes(w: Work) -> list[int]:
    return [p for p in _leftovers(w) if _state_and_uid(str(p))[1] == LEARNER_UID]


def assert_nothing_left(w: Work, wait: float = 5.0) -> None:
    deadline = time.monotonic() + wait
    while (left := _leftovers(w)) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, [(p, _proc_text(str(p), "cmdline")) for p in left]
    assert not learner_processes(w)


# ----------------------------------------------------------------------------- grading
@dataclasses.dataclass
class Run:
    rc: int
    stdout: str
    stderr: str
    report: dict | None
    gradescope: dict | None
    json_path: Path
    gradescope_path: Path

    @property
    def score(self) -> float:
        assert self.report is not None, self.stdout + self.stderr
        return self.report["score"]

    def tests(self) -> dict[str, dict]:
        assert self.report is not None, self.stdout + self.stderr
        return {t["id"]: t for t in self.report["tests"]}

    def status(self, check_id: str) -> str:
        return self.tests()[check_id]["status"]

    def message(self, check_id: str) -> str:
        return self.tests()[check_id]["message"]

    def passed(self) -> set[str]:
        return {i for i, t in self.tests().items() if t["status"] == "passed"}


def grade(w: Work, text: str | bytes, *extra: str, env: dict | None = None,
          timeout: float = 400, dialect: bool = True, _retries: int = 3) -> Run:
    """`dlbn grade ch01 --graded` on ``text`` as the course's exercises.py, with JSON and
    Gradescope reports in the test's report folder; ``dialect=False``: the walls alone."""
    _written(w, text)
    json_path, gs_path = w.reports / "report.json", w.reports / "results.json"
    env = {**os.environ, "TMPDIR": str(w.tmp), SECRET_VAR: "1", **(env or {})}
    dlbn = DLBN if dialect else [sys.executable, "-c", NO_DIALECT]
    proc = subprocess.run(
        [*dlbn, "grade", "ch01", "--graded", "--device", "cpu", "--root", str(w.course),
         "--json", str(json_path), "--gradescope", str(gs_path), *extra],
        capture_output=True, text=True, env=env, timeout=timeout, cwd=w.root,
        stdin=subprocess.DEVNULL,
    )
    if proc.returncode == 2 and "out of date" in proc.stderr and _retries:
        _refresh_store(w)
        return grade(w, text, *extra, env=env, timeout=timeout, dialect=dialect,
                     _retries=_retries - 1)
    report, gs = (json.loads(p.read_text()) if p.is_file() and not p.is_symlink() else None
                  for p in (json_path, gs_path))
    return Run(proc.returncode, proc.stdout, proc.stderr, report, gs, json_path, gs_path)


IGNORED = re.compile(r"Exception ignored in: [^\n]*\nTraceback \(most recent call last\):\n"
                     r"(?:[ \t][^\n]*\n)*[^\s][^\n]*\n?")


def _without_ignored(stderr: str) -> str:
    """stderr without "Exception ignored" reports: logging's at-fork hook races with the
    parent's background torch import when kill_tree forks (noise, not a crash)."""
    return IGNORED.sub("", stderr)


def assert_report_intact(run: Run, *, at_most: float | Honest) -> None:
    """Both reports parse, are plain files the parent (root) wrote, agree with each other
    and with their per-check scores, and the score is at most ``at_most``."""
    assert run.rc in (0, 1), f"dlbn exited {run.rc}:\n{run.stdout[-3000:]}\n{run.stderr[-3000:]}"
    assert "Traceback" not in _without_ignored(run.stderr), run.stderr[-3000:]
    assert run.report is not None and run.gradescope is not None
    for path in (run.json_path, run.gradescope_path):
        st = os.lstat(path)
        assert stat.S_ISREG(st.st_mode) and st.st_uid == 0, path
    tests = run.report["tests"]  # the chapter's checks as the grader has them now
    ids = [t["id"] for t in tests]
    assert len(set(ids)) == len(ids) >= len(CHAPTER.checks) - 2
    assert all(i.startswith("ch01.") for i in ids)
    assert {c.id for c in CHAPTER.checks if c.task == 1} <= set(ids)
    assert run.report["score"] == sum(t["score"] for t in tests)
    assert run.report["max_score"] == sum(t["max_score"] for t in tests)
    for t in tests:
        assert t["score"] == (t["max_score"] if t["status"] == "passed" else 0.0), t
    assert run.gradescope["score"] == run.report["score"]
    assert sum(t["score"] for t in run.gradescope["tests"]) == run.report["score"]
    meta = run.report["meta"]
    assert meta.get("graded") is True
    if meta.get("protections"):  # the child reported its walls (it ran): walled in
        assert any(p.startswith("user: uid") for p in meta["protections"]), meta
    else:  # refused by the dialect (an integrity error), or a child that never got going
        assert run.score == 0 and run.report["import_error"], meta
    limit = at_most.resolve(run) if isinstance(at_most, Honest) else at_most
    assert run.score <= limit, (run.score, limit, sorted(run.passed()))
    for text in (run.json_path.read_text(), run.gradescope_path.read_text()):
        for secret in SOLUTION_TEXT:
            assert secret not in text, f"solution text in a report: {secret!r}"


@dataclasses.dataclass(frozen=True)
class Honest:
    """The legitimate score of a solution whose checks in ``skip`` are broken, read off the
    run's own list of checks (the chapter may gain checks while these tests run)."""

    skip: tuple[str, ...] = ()

    def resolve(self, run: Run) -> float:
        return sum(t["max_score"] for t in run.report["tests"] if t["id"] not in self.skip)


def honest(skip: tuple[str, ...] = ()) -> Honest:
    return Honest(tuple(skip))


def attack(
    w: Work, text: str | bytes, *, at_most: float | Honest, dialect: bool = True, **kw
) -> Run:
    """Grade an attack and check what every attack must leave intact."""
    before = Snapshot.take(_written(w, text))
    run = grade(w, text, dialect=dialect, **kw)
    assert_report_intact(run, at_most=at_most)
    assert not list(w.root.glob("PARENT-RAN-*")), "learner code ran in the parent"
    before.assert_unchanged(w)
    assert_nothing_left(w)
    return run


def both_layers(w: Work, text: str | bytes, *, at_most: float | Honest, **kw) -> Run:
    """The attack on the real `dlbn` (the dialect may refuse it), then on the walls alone;
    returns the second run, whose details the test checks."""
    attack(w, text, at_most=at_most, **kw)
    return attack(w, text, at_most=at_most, dialect=False, **kw)


def _written(w: Work, text: str | bytes) -> Work:
    target = w.course / "chapters" / SLUG / "exercises.py"
    if isinstance(text, bytes):
        target.write_bytes(text)
    else:
        target.write_text(text)
    return w


# ============================================================================ 1. the parent
def test_a_pickle_frame_at_import_is_an_integrity_error_and_never_unpickled(work: Work) -> None:
    marker = work.parent_marker("pickle")
    code = f'''
def _pickle_frame():
    import os, pickle, struct

    class Boom:
        def __reduce__(self):
            return (open, ({str(marker)!r}, "w"))

    fds = []
    for n in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{{n}}").startswith("pipe:"):
                fds.append(int(n))
        except OSError:  # the listing's own descriptor, gone
            pass
    assert fds, "no pipe found"
    body = pickle.dumps({{"type": "result", "output": Boom()}})
    for fd in fds:
        try:
            os.write(fd, struct.pack("<Q", len(body)) + body)
        except OSError:
            pass


_pickle_frame()
'''
    run = both_layers(work, at_end(STARTER, code), at_most=0)
    assert run.report["import_error"].startswith("integrity"), run.report["import_error"]
    assert "protocol" in run.report["import_error"]  # the wire's verdict, not the dialect's
    assert not marker.exists()


def test_reduce_in_an_error_message_and_a_pickle_frame_mid_check(work: Work) -> None:
    marker = work.parent_marker("reduce")
    text = at_top(SOLUTION, f'''
import os as _os
import pickle as _pickle
import struct as _struct


class _Evil(str):
    def __reduce__(self):
        return (open, ({str(marker)!r}, "w"))

    def __str__(self):
        return "evil: " + str.__str__(self)


class _EvilError(RuntimeError):
    def __reduce__(self):
        return (open, ({str(marker)!r}, "w"))
''')
    text = in_task(text, "ch01.1", '''
if tuple(x.shape) == (16, 5):  # ch01.1.train_2d only
    raise _EvilError(_Evil("a message whose class runs code when unpickled"))
''')
    text = in_task(text, "ch01.2", '''
if tuple(x.shape) == (12, 5):  # ch01.2.grad_2d only
    import json as _json, sys as _sys
    _fd = _json.loads(open(_sys.argv[1]).read())["fd"]
    _body = _pickle.dumps(_EvilError(_Evil("boom")))
    _os.write(_fd, _struct.pack("<Q", len(_body)) + _body)
''')
    run = both_layers(work, text, at_most=honest(skip=("ch01.1.train_2d", "ch01.2.grad_2d")))
    assert run.status("ch01.1.train_2d") == "error"
    assert "unpickled" in run.message("ch01.1.train_2d")
    assert run.status("ch01.2.grad_2d") == "error"
    assert run.message("ch01.2.grad_2d").startswith("integrity")
    assert "ch01.1.train_3d" in run.passed() and "ch01.2.grad_3d" in run.passed()
    assert not marker.exists()


# ============================================================================ 2. forged results
def test_forged_frames_with_torch_outputs_lose_the_from_scratch_check(work: Work) -> None:
    """The brief's case: frames with F.batch_norm's outputs for every check, then the
    process keeps running; the file names batch_norm, so the scan fails ch01.1.from_scratch."""
    code = "_f = torch.nn.functional.batch_norm  # what the forged outputs come from\n"
    code += FORGE.format(prelude=IMPORTS, ending="_time.sleep(600)")
    run = both_layers(work, at_end(STARTER, code), at_most=honest(skip=("ch01.1.from_scratch",)))
    assert run.status("ch01.1.from_scratch") == "failed"
    assert run.score < run.report["max_score"]


def test_forged_frames_importing_the_grader_score_nothing(work: Work) -> None:
    """The untouched starter forging every frame with the reference's outputs, found by
    importing grader's modules: the dialect refuses the file."""
    text = at_end(STARTER, FORGE.format(prelude=IMPORTS, ending="_os._exit(0)"))
    run = attack(work, text, at_most=0)
    assert run.report["import_error"].startswith("integrity")


def test_forged_frames_through_torch_score_nothing(work: Work) -> None:
    text = at_end(STARTER, FORGE.format(prelude=THROUGH_TORCH, ending="_os._exit(0)"))
    run = attack(work, text, at_most=0)
    assert run.score == 0


def test_garbage_oversized_and_misordered_frames_are_integrity_errors(work: Work) -> None:
    text = at_top(SOLUTION, '''
import json as _json
import os as _os
import struct as _struct
import sys as _sys


def _pipe():
    return _json.loads(open(_sys.argv[1]).read())["fd"]
''')
    text = in_task(text, "ch01.1", '''
if tuple(x.shape) == (16, 5):  # ch01.1.train_2d: garbage
    _os.write(_pipe(), _struct.pack("<Q", 24) + b"\\xff" * 24)
''')
    text = in_task(text, "ch01.2", '''
if tuple(x.shape) == (12, 5):  # ch01.2.grad_2d: a frame of 1 TiB announced
    _os.write(_pipe(), _struct.pack("<Q", 2**40) + b"{}")
''')
    text = in_task(text, "ch01.3", '''
if num_features == 3 and affine and track_running_stats:  # train_then_eval, autograd
    from grader.wire import encode_frame as _enc  # a result for another check
    _os.write(_pipe(), _enc({"type": "result", "id": "ch01.1.eval", "status": "ok",
                             "message": "", "seconds": 0.0, "stdout": "", "output": None}))
''')
    broken = ("ch01.1.train_2d", "ch01.2.grad_2d", "ch01.3.train_then_eval", "ch01.3.autograd")
    run = both_layers(work, text, at_most=honest(skip=broken))
    for check_id in broken:
        assert run.status(check_id) == "error", run.tests()[check_id]
        assert run.message(check_id).startswith("integrity"), run.message(check_id)
    assert "ch01.1.train_3d" in run.passed() and "ch01.2.grad_3d" in run.passed()


# ============================================================================ 3. the answers
STEAL = '''
def _steal():
    import json, os, subprocess, sys

    notes = []
    {finder}
    return None, notes


_text, _notes = _steal()
if _text:
    import os as _os

    _here = _os.path.dirname(_os.path.abspath(__file__))
    with open(_os.path.join(_here, "_stolen.py"), "w") as _f:
        _f.write(_text)
    from _stolen import BatchNorm, batch_norm_backward, batch_norm_forward  # noqa: F811
else:
    # what was read goes into the report (it must not carry the solution's text)
    raise RuntimeError("could not read the answers: " + " | ".join(_notes))
'''

TRY_READ = '''
    def read(path):
        try:
            with open(path) as f:
                return f.read()
        except OSError as exc:
            notes.append(f"{path}: {type(exc).__name__}")
        try:
            notes.append(f"{path}: {open(path, 'rb').read(300)!r}")  # text in a message
        except OSError:
            pass
        return None
'''


def test_solutions_and_store_of_the_course_are_out_of_reach(work: Work) -> None:
    """Found from DLBN_DATA and job.json, the course's solutions/ and .dlbn/expected cannot
    be read, and what the attempt puts in its message carries no solution text."""
    finder = TRY_READ + '''
    job = json.loads(open(sys.argv[1]).read())
    roots = {os.path.dirname(os.environ.get("DLBN_DATA", "/nonexistent")),
             os.path.dirname(job["env"].get("DLBN_DATA", "/nonexistent"))}
    for root in sorted(roots):
        store = os.path.join(root, ".dlbn", "expected")
        for name in ("manifest.json", os.path.join("ch01", f"seed-{job['seed']}.bin")):
            data = read(os.path.join(store, name))
            if data:
                notes.append(f"READ {name}: {len(data)} chars")
        try:
            notes.append(f"listed {os.listdir(store)}")
        except OSError as exc:
            notes.append(f"{store}: {type(exc).__name__}")
        text = read(os.path.join(root, "solutions", "ch01_batchnorm", "exercises.py"))
        if text:
            return text, notes
'''
    run = both_layers(work, at_end(STARTER, STEAL.format(finder=finder)), at_most=0)
    error = run.report["import_error"]
    assert "could not read the answers" in error, error
    assert "READ" not in error and "listed [" not in error, error
    assert "PermissionError" in error or "FileNotFoundError" in error, error


def _stolen_nothing(w: Work, text: str) -> None:
    """With the dialect and on the walls alone: either graded mode refused to run (a clean
    usage error, e.g. for exposed solutions) or the theft scored 0."""
    for dialect in (True, False):
        before = Snapshot.take(_written(w, text))
        run = grade(w, text, dialect=dialect)
        before.assert_unchanged(w)
        assert_nothing_left(w)
        assert not list(w.root.glob("PARENT-RAN-*"))
        if run.rc == 2:
            assert "Traceback" not in _without_ignored(run.stderr)
            continue
        assert_report_intact(run, at_most=0)


def test_solutions_beside_the_grader_package_are_out_of_reach(work: Work) -> None:
    """The grader is imported from the repository (an editable install), whose solutions/
    is world-readable: graded mode must hide it too, not only <root>/solutions."""
    finder = TRY_READ + '''
    import grader
    root = os.path.dirname(os.path.dirname(os.path.abspath(grader.__file__)))
    text = read(os.path.join(root, "solutions", "ch01_batchnorm", "exercises.py"))
    if text:
        return text, notes
'''
    _stolen_nothing(work, at_end(STARTER, STEAL.format(finder=finder)))


def test_solutions_in_the_git_history_are_out_of_reach(work: Work) -> None:
    """In a course checkout the history holds the solutions: `git show` as the learner."""
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@t", "-c", "init.defaultBranch=main"]
    subprocess.run([*git, "init", "-q", str(work.course)], check=True)
    subprocess.run([*git, "-C", str(work.course), "add", "solutions", "chapters"], check=True)
    subprocess.run([*git, "-C", str(work.course), "commit", "-qm", "course"], check=True)
    finder = '''
    root = os.path.dirname(os.environ["DLBN_DATA"])
    done = subprocess.run(["git", "-c", "safe.directory=*", "-C", root, "show",
                           "HEAD:solutions/ch01_batchnorm/exercises.py"],
                          capture_output=True, text=True)
    notes.append(f"git: {done.returncode} {done.stderr[:200]}")
    if done.returncode == 0:
        return done.stdout, notes
'''
    _stolen_nothing(work, at_end(STARTER, STEAL.format(finder=finder)))


def test_the_local_store_is_private_after_a_build(base: dict) -> None:
    """`dlbn autograder build` leaves <course>/.dlbn/expected's files readable by root only
    (before any chmod of ours). Its folders may be listed: file names are seed numbers,
    which the child's job.json gives away anyway."""
    course = base["course"]
    files = {rel: oct(mode) for rel, mode in base["built_modes"].items()
             if (course / rel).is_file() and mode & 0o077}
    assert not files
    assert any(rel.endswith(".bin") for rel in base["built_modes"])


# ============================================================================ 4. trusted code
# Written to pass the dialect: only torch, collections imported; torch.inspect, torch.sys.
PATCH_CALLS = """
import collections as _collections

_t = torch
_t.sys.modules["grader.probing"].CALLS = _collections.Counter()  # nobody increments it
"""


# A forward that damages the caller's x after computing y: only ch01.1.contract fails.
def _damaging_x() -> str:
    start = SOLUTION.index("# BEGIN SOLUTION ch01.1")
    last_return = SOLUTION.rfind("\n    return ", start, SOLUTION.index("# END SOLUTION", start))
    assert last_return > start
    damage = "\n    x.data.mul_(0.5)  # damages the caller's x"
    return SOLUTION[:last_return] + damage + SOLUTION[last_return:]


DAMAGES_X = _damaging_x()


def test_an_unspelled_and_unwrapped_torch_batch_norm_fails_from_scratch(work: Work) -> None:
    text = at_top(forward_via("_bn(x, gamma, beta, running_mean, running_var, training, "
                              "momentum, eps, False)"), '''
_t = torch
_name = [n for n in dir(_t) if n.startswith("batch") and n.endswith("norm")][0]
_bn = _t.inspect.getattr_static(_t, _name)
_params = _t.inspect.signature(_bn).parameters
if "_original" in _params:  # the child's counting wrapper keeps the real one here
    _bn = _params["_original"].default
''')
    run = attack(work, text, at_most=honest(skip=("ch01.1.from_scratch",)))
    assert run.status("ch01.1.from_scratch") != "passed"


def test_forged_api_outputs_earn_nothing(work: Work) -> None:
    text = at_end(DAMAGES_X, "torch.equal = lambda a, b: True  # every input 'unchanged'")
    run = attack(work, text, at_most=honest(skip=("ch01.1.contract",)))
    assert run.status("ch01.1.contract") != "passed"


def test_forged_api_outputs_through_the_checks_are_refused(work: Work) -> None:
    """object.__setattr__ on the frozen Check swaps the probe for one returning what the
    judge wants: the dialect refuses the file (dunder, grader import)."""
    text = at_end(DAMAGES_X, '''
def _forge_api():
    import grader.specs.ch01 as spec

    want = {"shape": True, "dtype": True, "device": True, "unchanged": True,
            "auto" + "grad": True, "grads": True}
    for check in spec.CHAPTER.checks:
        if check.id == "ch01.1.contract":
            object.__setattr__(check, "probe", lambda mod, ctx: dict(want))


_forge_api()
''')
    run = attack(work, text, at_most=honest(skip=("ch01.1.contract",)))
    assert run.status("ch01.1.contract") != "passed"


def _learner_can_read(path: str) -> bool:
    """Can the learner's user open ``path``? (a fork that drops to it)"""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - runs in the fork
        code = 1
        try:
            os.setgroups([])
            os.setresgid(LEARNER_GID, LEARNER_GID, LEARNER_GID)
            os.setresuid(LEARNER_UID, LEARNER_UID, LEARNER_UID)
            with open(path, "rb"):
                code = 0
        finally:
            os._exit(code)
    return os.waitpid(pid, 0)[1] == 0


def test_the_scan_reads_the_text_the_child_runs(work: Work) -> None:
    """A `# coding: utf-7` file: F.batch+AF8-norm is `F.batch + AF8 - norm` to a UTF-8
    reader and F.batch_norm to Python's import; the counter is replaced, so only a scan of
    the decoded text fails ch01.1.from_scratch."""
    text = at_top(forward_via(
        "nn.functional.batch_norm(x, running_mean, running_var, gamma, beta, training, "
        "momentum, eps)"), PATCH_CALLS)
    encoded = b"# -*- coding: utf-7 -*-\n" + text.encode("utf-7")
    encoded = encoded.replace(b"batch_norm", b"batch+AF8-norm")
    assert b"batch_norm" not in encoded
    import encodings

    codec = os.path.join(os.path.dirname(encodings.__file__), "utf_7.py")
    if _learner_can_read(codec):  # graded, as the learner
        run = attack(work, encoded, at_most=honest(skip=("ch01.1.from_scratch",)))
        assert run.status("ch01.1.from_scratch") != "passed"
        return
    # This machine's stdlib is out of the learner's reach (so its child cannot even decode
    # the file); the same scan runs in self-study mode, where the child can.
    from grader.engine import grade as grade_api

    path = work.root / "exercises.py"
    path.write_bytes(encoded)
    report = grade_api(chapter="ch01", root=work.course, source=path, device="cpu",
                       only=("ch01.1.from_scratch",))
    result = {r.id: r for r in report.results}["ch01.1.from_scratch"]
    assert not report.import_error
    assert not result.passed, result.message


def test_a_source_the_parent_cannot_parse_fails_closed(work: Work) -> None:
    """An expression the child compiles but the parent, on a deeper stack, cannot turn into
    an AST (RecursionError): no crash, and no pass for the scan either."""
    from grader.engine import Graded
    from grader.engine import grade as grade_api
    from grader.reference import ExpectedStore
    from grader.runner import Sandbox

    text = at_top(forward_via(
        "torch.nn.functional.batch_norm(x, running_mean, running_var, gamma, beta, training, "
        "momentum, eps)"), PATCH_CALLS)
    # 2900 terms: the child compiles it; the parent, called from a deep stack, cannot
    text = at_end(text, "def _deep(a):\n    return " + " + ".join(["a"] * 2900))
    path = work.root / "exercises.py"
    path.write_text(text)
    graded = Graded(store=ExpectedStore(work.course / ".dlbn" / "expected"),
                    sandbox=Sandbox(uid=LEARNER_UID, gid=LEARNER_GID))

    def deep(n: int):  # noqa: ANN202
        if n:
            return deep(n - 1)
        return grade_api(chapter="ch01", root=work.course, source=path, device="cpu",
                         graded=graded, only=("ch01.1.train_2d", "ch01.1.from_scratch"))

    report = deep(150)
    results = {r.id: r for r in report.results}
    if not report.import_error:  # not refused as a whole: the child did import the file
        assert results["ch01.1.train_2d"].passed
    assert not results["ch01.1.from_scratch"].passed
    assert report.score <= 1


# ============================================================================ 5. the report
@pytest.mark.slow
def test_the_report_path_cannot_be_written_and_a_daemon_is_killed(work: Work) -> None:
    """The learner reads the report's path from the parent's command line, tries to write it,
    and leaves a double-forked setsid daemon to rewrite it after dlbn exits."""
    sleep = 6
    daemon_marker = work.root / f"DAEMON-{work.mark}"
    code = f'''
def _report():
    import os

    notes = []
    argv = open(f"/proc/{{os.getppid()}}/cmdline", "rb").read().split(b"\\0")
    paths = [argv[i + 1].decode() for i, a in enumerate(argv[:-1])
             if a in (b"--json", b"--gradescope")]
    notes.append(f"paths {{len(paths)}}")
    for path in paths:
        for how in ("w", "a"):
            try:
                open(path, how).close()
                notes.append(f"WROTE {{path}}")
            except OSError as exc:
                notes.append(type(exc).__name__)
        try:
            os.symlink("/etc/passwd", path + ".tmp")
            notes.append("LINKED")
        except OSError as exc:
            notes.append(type(exc).__name__)
    script = "; ".join(
        [f"sleep {sleep}"]
        + [f"echo {work.mark} > '{{p}}'" for p in paths]
        + ["touch {daemon_marker}"]
    )
    if os.fork() == 0:  # the daemon: setsid, fork again, exec a shell carrying the marker
        os.setsid()
        if os.fork() == 0:
            os.execv("/bin/sh", ["sh-{work.mark}", "-c", script])
        os._exit(0)
    os.wait()
    raise RuntimeError("report: " + ", ".join(notes))


_report()
'''
    run = both_layers(work, at_end(STARTER, code), at_most=0)
    error = run.report["import_error"]
    assert "paths 2" in error and "WROTE" not in error and "LINKED" not in error, error
    saved = (run.json_path.read_bytes(), run.gradescope_path.read_bytes())
    time.sleep(sleep + 2)  # past the daemon's sleep
    assert (run.json_path.read_bytes(), run.gradescope_path.read_bytes()) == saved
    assert not daemon_marker.exists()
    assert_nothing_left(work, wait=0)


def _link_into_solutions(work: Work) -> tuple[Path, Path, bytes]:
    target = work.course / "solutions" / SLUG / "exercises.py"
    link = work.reports / "report.json"
    link.symlink_to(target)
    return link, target, target.read_bytes()


def test_a_report_symlinked_into_solutions_is_not_written_through(work: Work) -> None:
    link, target, before = _link_into_solutions(work)
    run = grade(work, SOLUTION, timeout=120)
    assert run.rc != 0
    assert target.read_bytes() == before
    assert link.is_symlink()
    assert not run.gradescope_path.exists()  # refused before grading: nothing written
    assert_nothing_left(work)


def test_a_report_symlinked_into_solutions_is_a_clean_usage_error(work: Work) -> None:
    _link_into_solutions(work)
    run = grade(work, SOLUTION, timeout=120)
    assert run.rc == 2
    assert "Traceback" not in _without_ignored(run.stderr)
    assert "symlink" in run.stderr + run.stdout


def test_a_child_killed_by_an_unnamed_signal_costs_one_check(work: Work) -> None:
    text = in_task(SOLUTION, "ch01.2", '''
if tuple(x.shape) == (12, 5):  # ch01.2.grad_2d only
    import os as _os
    _os.kill(_os.getpid(), 40)
''')
    run = both_layers(work, text, at_most=honest(skip=("ch01.2.grad_2d",)))
    assert run.status("ch01.2.grad_2d") == "error"
    assert "signal" in run.message("ch01.2.grad_2d")


# ============================================================================ 6. the course
@pytest.mark.slow
def test_the_course_cannot_be_poisoned_for_the_next_run(work: Work) -> None:
    """The learner tries to rewrite the solutions, the grader, the store and to kill the
    parent; the next run of the real solution is unaffected."""
    code = f'''
def _poison():
    import json, os, signal, sys

    import grader

    notes = []
    job = json.loads(open(sys.argv[1]).read())
    course = os.path.dirname(job["env"]["DLBN_DATA"])
    package = os.path.dirname(os.path.abspath(grader.__file__))
    targets = [
        os.path.join(course, "solutions", "ch01_batchnorm", "exercises.py"),
        os.path.join(course, ".dlbn", "expected", "manifest.json"),
        os.path.join(course, ".dlbn", "expected", "ch01", f"seed-{{job['seed']}}.bin"),
        os.path.join(course, "chapters", "ch01_batchnorm", "exercises.py"),
        os.path.join(package, "__init__.py"),
        os.path.join(package, "engine.py"),
        os.path.join(package, "evil_{work.mark}.py"),
        os.path.join(os.path.dirname(package), "solutions", "ch01_batchnorm", "exercises.py"),
    ]
    for path in targets:
        try:
            with open(path, "a") as f:
                f.write("\\n# {work.mark}\\n")
            notes.append(f"WROTE {{path}}")
        except OSError as exc:
            notes.append(type(exc).__name__)
        try:
            os.replace(path, path + ".gone")
            notes.append(f"MOVED {{path}}")
        except OSError as exc:
            notes.append(type(exc).__name__)
    for pid in (os.getppid(), 1):
        try:
            os.kill(pid, signal.SIGKILL)
            notes.append(f"KILLED {{pid}}")
        except OSError as exc:
            notes.append(type(exc).__name__)
    raise RuntimeError("poison: " + ", ".join(notes))


_poison()
'''
    first = both_layers(work, at_end(STARTER, code), at_most=0)
    error = first.report["import_error"]
    assert "poison:" in error and not re.search(r"WROTE|MOVED|KILLED", error), error
    second = attack(work, SOLUTION, at_most=honest())
    failing = {i: t["message"] for i, t in second.tests().items() if t["status"] != "passed"}
    assert second.score == second.report["max_score"], failing
    assert not second.report["import_error"]


# ============================================================================ 7. leaks, hangs
@pytest.fixture()
def listener() -> Iterator[tuple[int, list]]:
    """A TCP server on 127.0.0.1 in the test's network namespace; records connections."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    server.settimeout(0.2)
    seen: list = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, addr = server.accept()
            except (TimeoutError, OSError):
                continue
            seen.append(addr)
            conn.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[1], seen
    stop.set()
    thread.join(2)
    server.close()


@pytest.mark.slow
def test_orphans_pipes_forks_memory_network_and_environment(work: Work, listener) -> None:
    """One file, one attack per backward check (chosen by shape), an orphan at import:

    - grad_2d: 500 forks; beyond RLIMIT_NPROC they fail
    - grad_3d: 50 GB allocation -> memory
    - grad_4d: a TCP connection to the test's listener -> refused (own network namespace)
    - small_batch: the test's environment variable and the parent's environ -> not visible
    - no_gamma: closes the pipe and sleeps -> error, a fresh child for the rest
    """
    port, seen = listener
    text = at_top(SOLUTION, f'''
import os as _os
import time as _time


def _orphan():  # a grandchild that outlives its parent, sleeping 300 s
    if _os.fork() == 0:
        if _os.fork() == 0:
            _os.closerange(3, 4096)  # (holding the pipe, it would turn no_gamma into a timeout)
            _os.execv("/bin/sleep", ["{work.mark}-orphan", "300"])
        _os._exit(0)
    _os.wait()


_orphan()
''')
    text = in_task(text, "ch01.2", f'''
shape = tuple(x.shape)
if shape == (12, 5):  # grad_2d
    ok, failed, kids = 0, 0, []
    for _ in range(500):
        try:
            pid = _os.fork()
        except OSError:
            failed += 1
            continue
        if pid == 0:
            _time.sleep(2)
            _os._exit(0)
        ok += 1
        kids.append(pid)
    for pid in kids:
        _os.waitpid(pid, 0)
    raise RuntimeError(f"forks ok={{ok}} failed={{failed}}")
if shape == (6, 4, 9):  # grad_3d
    torch.empty(50 * 2**30, dtype=torch.uint8).fill_(1)
if shape == (3, 2, 4, 5):  # grad_4d
    import socket as _socket
    sock = _socket.socket()  # not create_connection: no name lookup, no idna codec
    sock.settimeout(3)
    try:
        sock.connect(("127.0.0.1", {port}))
        raise RuntimeError("net: CONNECTED")
    except OSError as exc:
        raise RuntimeError(f"net: blocked ({{type(exc).__name__}})") from None
if shape == (2, 3, 2):  # small_batch
    mine = "{SECRET_VAR}" in _os.environ
    try:
        theirs = b"{SECRET_VAR}" in open(f"/proc/{{_os.getppid()}}/environ", "rb").read()
    except OSError as exc:
        theirs = type(exc).__name__
    raise RuntimeError(f"env: mine={{mine}} parent={{theirs}}")
if shape == (5, 3):  # no_gamma
    import json as _json, sys as _sys
    _os.close(_json.loads(open(_sys.argv[1]).read())["fd"])
    _time.sleep(120)
''')
    # every match check of task 2 is broken, so graded mode gives its api check no points
    task2 = tuple(c.id for c in CHAPTER.checks if c.task == 2)
    run = both_layers(work, text, at_most=honest(skip=task2))
    forks = re.search(r"forks ok=(\d+) failed=(\d+)", run.message("ch01.2.grad_2d"))
    assert forks, run.message("ch01.2.grad_2d")
    assert int(forks[1]) < walls.Limits().processes and int(forks[2]) > 0
    assert run.status("ch01.2.grad_3d") == "memory", run.tests()["ch01.2.grad_3d"]
    assert "net: blocked" in run.message("ch01.2.grad_4d"), run.message("ch01.2.grad_4d")
    assert not seen
    assert "env: mine=False parent=PermissionError" in run.message("ch01.2.small_batch")
    assert run.status("ch01.2.no_gamma") == "error"
    assert "pipe" in run.message("ch01.2.no_gamma"), run.message("ch01.2.no_gamma")
    assert {"ch01.3.autograd", "ch01.1.train_2d", "ch01.1.from_scratch"} <= run.passed()
    assert run.score == honest(skip=task2).resolve(run)  # the honest parts all count
