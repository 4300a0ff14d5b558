"""The walls' building blocks: killing what a child left, the graded lock, exposure."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from grader import sandbox

linux = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


@linux
def test_kill_tree_ends_a_daemon_that_left_the_process_group(tmp_path) -> None:  # noqa: ANN001
    token = "test" + os.urandom(6).hex()
    pid_file = tmp_path / "pid"
    daemon = (
        "import os, sys, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    if os.fork() == 0:\n"
        f"        open({str(pid_file)!r}, 'w').write(str(os.getpid()))\n"
        "        time.sleep(300)\n"
        "    os._exit(0)\n"
        "os._exit(0)\n"
    )
    env = {**os.environ, sandbox.TOKEN_VAR: token}
    subprocess.run([sys.executable, "-c", daemon], env=env, check=True)
    for _ in range(100):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.05)
    pid = int(pid_file.read_text())
    assert alive(pid)
    assert sandbox.kill_tree(token) >= 1
    for _ in range(50):
        if not alive(pid):
            break
        time.sleep(0.05)
    assert not alive(pid)
    assert sandbox.kill_tree(token) == 0


def test_graded_lock_is_exclusive(tmp_path) -> None:  # noqa: ANN001
    path = str(tmp_path / "lock")
    with sandbox.GradedLock(path):
        probe = subprocess.run(
            [sys.executable, "-c",
             f"import fcntl, os; fd = os.open({path!r}, os.O_RDWR)\n"
             "try:\n    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)\n    print('free')\n"
             "except BlockingIOError:\n    print('held')"],
            capture_output=True, text=True,
        )
    assert probe.stdout.strip() == "held"


def test_readable_by_learner_reads_files_not_listings(tmp_path) -> None:  # noqa: ANN001
    (tmp_path / "a").mkdir()
    secret = tmp_path / "a" / "secret"
    secret.write_text("x")
    assert sandbox.readable_by_learner(str(tmp_path))
    if os.geteuid() != 0:  # root reads anything; the learner's user is tested in test_tamper
        secret.chmod(0)
        assert not sandbox.readable_by_learner(str(tmp_path))


@linux
@pytest.mark.skipif(os.geteuid() != 0, reason="dropping to the learner's user needs root")
def test_enter_drops_to_the_learner_and_cannot_come_back() -> None:
    code = (
        "import json, os\n"
        "from grader import sandbox\n"
        "uid, gid = sandbox.learner_account()\n"
        "active = sandbox.enter({'uid': uid, 'gid': gid, 'network_off': True})\n"
        "try:\n    os.setuid(0)\n    back = True\nexcept PermissionError:\n    back = False\n"
        "print(json.dumps([os.getuid(), uid, back, active]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    import json

    now, uid, back, active = json.loads(out.stdout)
    assert now == uid != 0 and not back
    assert any(a.startswith("user:") for a in active)


def test_readable_by_follows_every_folder_above() -> None:
    import shutil
    import tempfile

    uid, gid = 54321, 54321  # nobody that owns these files
    top = tempfile.mkdtemp(dir="/tmp" if os.path.isdir("/tmp") else None)
    try:
        os.chmod(top, 0o755)
        inner = os.path.join(top, "open", "pkg")
        os.makedirs(inner)
        module = os.path.join(inner, "mod.py")
        with open(module, "w") as f:
            f.write("x = 1\n")
        for folder in (os.path.join(top, "open"), inner):
            os.chmod(folder, 0o755)
        os.chmod(module, 0o644)
        if not sandbox.readable_by(top, uid, gid):
            pytest.skip("the temp folder's parents are closed to other users here")
        assert sandbox.readable_by(module, uid, gid)
        os.chmod(os.path.join(top, "open"), 0o700)  # like a 0700 /root above a Python
        assert not sandbox.readable_by(module, uid, gid)
        os.chmod(os.path.join(top, "open"), 0o755)
        os.chmod(module, 0o600)
        assert not sandbox.readable_by(module, uid, gid)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_preload_skips_what_the_learner_can_import(monkeypatch) -> None:  # noqa: ANN001
    seen = []
    monkeypatch.setattr(sandbox, "readable_by", lambda path, uid, gid, cache=None: True)
    monkeypatch.setattr("importlib.import_module", lambda name: seen.append(name))
    assert sandbox.preload(["json", "colorsys", "email.mime"], 54321, 54321) == 0
    assert seen == []
    monkeypatch.setattr(sandbox, "readable_by", lambda path, uid, gid, cache=None: False)
    names = [n for n in ("colorsys", "email.mime") if n not in sys.modules]
    assert sandbox.preload(names, 54321, 54321) == len(names) and seen == names


@pytest.mark.skipif(not sys.platform.startswith("linux") or os.geteuid() != 0,
                    reason="dropping to the learner's user needs root on Linux")
def test_the_learner_can_read_the_python_it_runs_on() -> None:
    """torch.func reads stdlib sources (inspect.getsource) at run time: after the walls go
    up, the learner's user must still see them, even under a closed folder (0700 /root)."""
    account = sandbox.learner_account()
    assert account is not None
    code = ("import enum, inspect, sys\nfrom grader import sandbox\n"
            f"active = sandbox.enter({{'uid': {account[0]}, 'gid': {account[1]}}})\n"
            "assert __import__('os').getuid() != 0\n"
            "inspect.getsource(enum.Enum._generate_next_value_)\nprint(active)\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
