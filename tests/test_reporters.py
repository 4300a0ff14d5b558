"""Reporters and text cleaning, on hand-built reports (no grading, no torch)."""

from __future__ import annotations

import io
import json
import os
import stat
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from grader import reporters
from grader.model import ChapterReport, CheckResult, Status
from grader.reporters import ReportPathError, atomic_write, check_report_path
from grader.textsafe import clean_text

junitparser = pytest.importorskip("junitparser")
jsonschema = pytest.importorskip("jsonschema")

HOSTILE = (
    "boom \x1b[31mred\x1b[0m \x1b]0;owned\x07 nul\x00 vt\x0b del\x7f c1\x85 lone\ud800 "
    "pair\ud83d\ude00 nonchar\ufffe\uffff [red]markup[/] [link=file:///etc/passwd]x[/link] "
    "[bold unclosed \\"
)
UNTRUSTED_UID = 12345

# A minimal Jenkins-style JUnit schema: what CI servers and junitparser read.
JUNIT_XSD = """<?xml version="1.0" encoding="UTF-8"?>
<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" elementFormDefault="qualified">
  <xs:complexType name="result" mixed="true">
    <xs:attribute name="message" type="xs:string"/>
    <xs:attribute name="type" type="xs:string"/>
  </xs:complexType>
  <xs:element name="failure" type="result"/>
  <xs:element name="error" type="result"/>
  <xs:element name="skipped" type="result"/>
  <xs:element name="system-out" type="xs:string"/>
  <xs:element name="system-err" type="xs:string"/>
  <xs:element name="property">
    <xs:complexType>
      <xs:attribute name="name" type="xs:string" use="required"/>
      <xs:attribute name="value" type="xs:string" use="required"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="properties">
    <xs:complexType>
      <xs:sequence>
        <xs:element ref="property" minOccurs="0" maxOccurs="unbounded"/>
      </xs:sequence>
    </xs:complexType>
  </xs:element>
  <xs:element name="testcase">
    <xs:complexType>
      <xs:choice minOccurs="0" maxOccurs="unbounded">
        <xs:element ref="skipped"/>
        <xs:element ref="error"/>
        <xs:element ref="failure"/>
        <xs:element ref="system-out"/>
        <xs:element ref="system-err"/>
      </xs:choice>
      <xs:attribute name="name" type="xs:string" use="required"/>
      <xs:attribute name="classname" type="xs:string"/>
      <xs:attribute name="time" type="xs:decimal"/>
      <xs:attribute name="assertions" type="xs:string"/>
      <xs:attribute name="status" type="xs:string"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="testsuite">
    <xs:complexType>
      <xs:sequence>
        <xs:element ref="properties" minOccurs="0"/>
        <xs:element ref="testcase" minOccurs="0" maxOccurs="unbounded"/>
        <xs:element ref="system-out" minOccurs="0"/>
        <xs:element ref="system-err" minOccurs="0"/>
      </xs:sequence>
      <xs:attribute name="name" type="xs:string" use="required"/>
      <xs:attribute name="tests" type="xs:nonNegativeInteger" use="required"/>
      <xs:attribute name="failures" type="xs:nonNegativeInteger"/>
      <xs:attribute name="errors" type="xs:nonNegativeInteger"/>
      <xs:attribute name="skipped" type="xs:nonNegativeInteger"/>
      <xs:attribute name="disabled" type="xs:nonNegativeInteger"/>
      <xs:attribute name="time" type="xs:decimal"/>
      <xs:attribute name="timestamp" type="xs:string"/>
      <xs:attribute name="hostname" type="xs:string"/>
      <xs:attribute name="id" type="xs:string"/>
      <xs:attribute name="package" type="xs:string"/>
    </xs:complexType>
  </xs:element>
  <xs:element name="testsuites">
    <xs:complexType>
      <xs:sequence>
        <xs:element ref="testsuite" minOccurs="0" maxOccurs="unbounded"/>
      </xs:sequence>
      <xs:attribute name="name" type="xs:string"/>
      <xs:attribute name="time" type="xs:decimal"/>
      <xs:attribute name="tests" type="xs:nonNegativeInteger"/>
      <xs:attribute name="failures" type="xs:nonNegativeInteger"/>
      <xs:attribute name="errors" type="xs:nonNegativeInteger"/>
      <xs:attribute name="disabled" type="xs:nonNegativeInteger"/>
    </xs:complexType>
  </xs:element>
</xs:schema>
"""

_VISIBILITY = {"enum": ["visible", "hidden", "after_due_date", "after_published"]}
# Gradescope's documented results.json fields (autograder specifications).
GRADESCOPE_SCHEMA = {
    "type": "object",
    "required": ["execution_time", "output", "tests", "visibility", "stdout_visibility"],
    "properties": {
        "score": {"type": "number"},
        "execution_time": {"type": "number", "minimum": 0},
        "output": {"type": "string"},
        "output_format": {"type": "string"},
        "test_output_format": {"type": "string"},
        "test_name_format": {"type": "string"},
        "visibility": _VISIBILITY,
        "stdout_visibility": _VISIBILITY,
        "extra_data": {"type": "object"},
        "leaderboard": {"type": "array"},
        "tests": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["score", "max_score", "status", "name", "number", "output"],
                "properties": {
                    "score": {"type": "number"},
                    "max_score": {"type": "number"},
                    "status": {"enum": ["passed", "failed"]},
                    "name": {"type": "string"},
                    "name_format": {"type": "string"},
                    "number": {"type": "string", "pattern": r"^\d+(\.\d+)*$"},
                    "output": {"type": "string"},
                    "output_format": {"type": "string"},
                    "tags": {"type": "array", "items": {"type": "string"}},
                    "visibility": _VISIBILITY,
                    "extra_data": {"type": "object"},
                    "execution_time": {"type": "number", "minimum": 0},
                },
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}


def result(
    id: str, status: Status, *, task: int = 1, message: str = "", hint: str = "",
    stdout: str = "", points: float = 1.0,
) -> CheckResult:
    return CheckResult(
        id=id, task=task, title=f"title of {id}", kind="match", status=status,
        score=points if status is Status.PASSED else 0.0, max_score=points,
        message=message, hint=hint, seconds=0.25, stdout=stdout,
    )


def chapter(chapter_id: str, *results: CheckResult, import_error: str = "") -> ChapterReport:
    return ChapterReport(
        chapter=chapter_id, title=f"{chapter_id} title", source=f"/course/{chapter_id}/ex.py",
        device="cpu", results=results, import_error=import_error, seconds=1.5,
    )


def passing() -> ChapterReport:
    return chapter(
        "ch01",
        result("ch01.1.a", Status.PASSED, stdout="loss 0.25\n"),
        result("ch01.1.b", Status.PASSED),
        result("ch01.1.c", Status.PASSED),
        result("ch01.2.a", Status.PASSED, task=2, points=2.0),
    )


def failing() -> ChapterReport:
    return chapter(
        "ch02",
        result("ch02.1.a", Status.PASSED),
        result("ch02.1.b", Status.FAILED, message="mean is off\nby 0.5", hint="axis 0",
               stdout="debug print\n"),
        result("ch02.2.a", Status.ERROR, task=2, message="ValueError: bad shape"),
        result("ch02.2.b", Status.TIMEOUT, task=2, message="ran past 20 s"),
    )


def not_started() -> ChapterReport:
    return chapter(
        "ch01",
        result("ch01.1.a", Status.NOT_STARTED, message="NotImplementedError: TODO 1.1"),
        result("ch01.1.b", Status.NOT_STARTED),
        result("ch01.2.a", Status.NOT_STARTED, task=2, stdout="started anyway\n"),
    )


IMPORT_ERROR = "SyntaxError: invalid syntax (exercises.py, line 3)\n    def f(:\n         ^"


def import_error() -> ChapterReport:
    return chapter(
        "ch03",
        result("ch03.1.a", Status.ERROR, message="could not import ex.py"),
        result("ch03.1.b", Status.NOT_STARTED),
        result("ch03.2.a", Status.ERROR, task=2, message="could not import ex.py"),
        import_error=IMPORT_ERROR,
    )


def hostile() -> ChapterReport:
    huge = HOSTILE + "x" * 2_000_000
    return chapter(
        "ch09",
        result("ch09.1.a", Status.FAILED, message=HOSTILE, hint=HOSTILE, stdout=huge),
        result("ch09.1.b", Status.PASSED, message=huge, stdout=HOSTILE),
        result("ch09.2.a", Status.NOT_STARTED, task=2, message=HOSTILE, stdout=HOSTILE),
        result("ch09.2.b", Status.MEMORY, task=2, message=huge),
    )


REPORTS = {
    "passing": passing, "failing": failing, "not_started": not_started,
    "import_error": import_error,
}


def write_all(reports: list[ChapterReport], out: Path) -> dict[str, Path]:
    paths = {"json": out / "r.json", "gradescope": out / "gs.json", "junit": out / "junit.xml"}
    reporters.write_json(reports, paths["json"])
    reporters.write_gradescope(reports, paths["gradescope"])
    reporters.write_junit(reports, paths["junit"])
    return paths


def validate_junit_schema(path: Path) -> None:
    etree = pytest.importorskip("lxml.etree")
    schema = etree.XMLSchema(etree.fromstring(JUNIT_XSD.encode()))
    doc = etree.parse(str(path))
    assert schema.validate(doc), schema.error_log


def junit_suite(path: Path):  # noqa: ANN201 - a junitparser TestSuite
    suites = list(junitparser.JUnitXml.fromfile(str(path)))
    assert len(suites) == 1
    return suites[0]


# --- JUnit ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(REPORTS))
def test_junit_parses_and_matches_the_schema(kind: str, tmp_path: Path) -> None:
    report = REPORTS[kind]()
    path = write_all([report], tmp_path)["junit"]
    suite = junit_suite(path)
    counts = report.counts()
    assert suite.tests == len(report.results)
    assert suite.failures == counts["failed"] + counts["not_started"]
    assert suite.errors == counts["error"] + counts["timeout"] + counts["memory"]
    assert suite.skipped == 0
    validate_junit_schema(path)


def test_junit_passing_has_no_problems_and_keeps_output(tmp_path: Path) -> None:
    suite = junit_suite(write_all([passing()], tmp_path)["junit"])
    cases = {case.name: case for case in suite}
    assert all(case.is_passed for case in cases.values())
    assert cases["ch01.1.a"].system_out == "loss 0.25\n"
    assert cases["ch01.1.b"].system_out is None
    assert cases["ch01.2.a"].classname == "ch01.2"


def test_junit_failing_reports_failures_and_errors(tmp_path: Path) -> None:
    suite = junit_suite(write_all([failing()], tmp_path)["junit"])
    cases = {case.name: case for case in suite}
    (failure,) = cases["ch02.1.b"].result
    assert isinstance(failure, junitparser.Failure)
    assert failure.message == "mean is off"  # the first line
    assert failure.text == "mean is off\nby 0.5\nhint: axis 0"
    assert cases["ch02.1.b"].system_out == "debug print\n"
    (error,) = cases["ch02.2.a"].result
    assert isinstance(error, junitparser.Error) and error.message.startswith("error: ")
    (timeout,) = cases["ch02.2.b"].result
    assert isinstance(timeout, junitparser.Error) and timeout.type == "timeout"


def test_junit_not_started_is_a_failure(tmp_path: Path) -> None:
    suite = junit_suite(write_all([not_started()], tmp_path)["junit"])
    assert suite.failures == 3 and suite.skipped == 0
    for case in suite:
        assert not case.is_skipped
        (failure,) = case.result
        assert isinstance(failure, junitparser.Failure)
        assert failure.message.startswith("not started")
    cases = {case.name: case for case in suite}
    assert cases["ch01.1.a"].result[0].message == "not started: NotImplementedError: TODO 1.1"
    assert cases["ch01.2.a"].system_out == "started anyway\n"


def test_junit_import_error_is_in_every_case(tmp_path: Path) -> None:
    suite = junit_suite(write_all([import_error()], tmp_path)["junit"])
    first_line = IMPORT_ERROR.splitlines()[0]
    for case in suite:
        (problem,) = case.result
        assert first_line in problem.message and "\n" not in problem.message
        assert problem.text == IMPORT_ERROR


def test_junit_totals_across_chapters(tmp_path: Path) -> None:
    path = write_all([passing(), failing(), not_started()], tmp_path)["junit"]
    root = ET.parse(path).getroot()
    assert [s.get("name") for s in root] == ["ch01", "ch02", "ch01"]
    assert root.get("tests") == "11" and root.get("failures") == "4"
    assert root.get("errors") == "2"
    validate_junit_schema(path)


@pytest.mark.parametrize("bad", ["\x1b[31m", "\x00", "\ud800", "\x0b", "\uffff", "]]>&<\""])
def test_junit_always_parses(bad: str) -> None:
    report = chapter("ch04", result("ch04.1.a", Status.FAILED, message=f"a{bad}b", stdout=bad))
    text = ET.tostring(reporters.to_junit([report]).getroot(), encoding="unicode")
    case = ET.fromstring(text).find("testsuite/testcase")
    assert case is not None and case.find("failure") is not None


# --- Gradescope -----------------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(REPORTS))
def test_gradescope_matches_the_schema(kind: str, tmp_path: Path) -> None:
    report = REPORTS[kind]()
    data = json.loads(write_all([report], tmp_path)["gradescope"].read_text(encoding="utf-8"))
    jsonschema.validate(data, GRADESCOPE_SCHEMA)
    assert data["visibility"] == "visible" and data["stdout_visibility"] == "hidden"
    assert len(data["tests"]) == len(report.results)
    for test, r in zip(data["tests"], report.results, strict=True):
        assert test["name"] == f"{r.id}: {r.title}"
        assert test["status"] == ("passed" if r.passed else "failed")
        assert test["execution_time"] == 0.25


def test_gradescope_numbers_are_chapter_task_check() -> None:
    data = reporters.to_gradescope([passing(), failing()])
    numbers = [t["number"] for t in data["tests"]]
    assert numbers == ["1.1.1", "1.1.2", "1.1.3", "1.2.1", "2.1.1", "2.1.2", "2.2.1", "2.2.2"]
    assert data["score"] == 6.0 and data["execution_time"] == 3.0


def test_gradescope_outputs() -> None:
    tests = reporters.to_gradescope([failing()])["tests"]
    assert tests[0]["output"] == ""
    assert tests[1]["output"] == "mean is off\nby 0.5\nHint: axis 0"
    broken = reporters.to_gradescope([import_error()])["tests"]
    assert all(t["output"] == f"Could not import your file:\n{IMPORT_ERROR}" for t in broken)


# --- JSON -----------------------------------------------------------------------------


def test_json_single_and_many(tmp_path: Path) -> None:
    one = json.loads(write_all([failing()], tmp_path)["json"].read_text(encoding="utf-8"))
    assert one["chapter"] == "ch02" and one["tests"][1]["message"] == "mean is off\nby 0.5"
    many = reporters.to_json([passing(), failing()])
    assert many["score"] == 6.0 and [c["chapter"] for c in many["chapters"]] == ["ch01", "ch02"]


# --- hostile text ---------------------------------------------------------------------


def test_render_survives_hostile_text() -> None:
    from rich.console import Console

    report = hostile()
    out = io.StringIO()
    console = Console(file=out, width=100, color_system=None, force_terminal=False)
    for verbose in (False, True):
        reporters.render(report, console, verbose=verbose, tasks={1: HOSTILE, 2: "[red]t"})
    broken = chapter("ch09", *report.results, import_error=HOSTILE * 3)
    reporters.render(broken, console, verbose=True)
    text = out.getvalue()
    assert "\x1b" not in text and "\x00" not in text and "\ud800" not in text
    assert "[red]markup[/]" in text  # shown as typed, not read as markup
    assert len(text) < 200_000  # huge output is cut


def test_render_in_a_terminal_with_colors() -> None:
    from rich.console import Console

    out = io.StringIO()
    console = Console(file=out, width=80, force_terminal=True, color_system="truecolor")
    reporters.render(hostile(), console, verbose=True)
    assert "owned" not in out.getvalue()  # the learner's OSC title sequence is gone


def test_writers_survive_hostile_text(tmp_path: Path) -> None:
    reports = [hostile(), chapter("ch08", *hostile().results, import_error=HOSTILE)]
    paths = write_all(reports, tmp_path)
    for kind in ("json", "gradescope"):
        raw = paths[kind].read_bytes()
        data = json.loads(raw.decode("utf-8"))
        assert b"\\u001b" not in raw and b"\\ud800" not in raw and b"\\u0000" not in raw
        assert len(raw) < 2_000_000  # huge strings are cut
    jsonschema.validate(json.loads(paths["gradescope"].read_text()), GRADESCOPE_SCHEMA)
    assert "[red]markup[/]" in data["tests"][0]["output"]
    root = ET.parse(paths["junit"]).getroot()
    assert root.get("tests") == "8" and root.get("failures") == "4"
    validate_junit_schema(paths["junit"])


def test_hostile_str_subclass_is_reported() -> None:
    class Evil(str):
        def __str__(self) -> str:
            raise RuntimeError("no")

        def __reduce__(self) -> tuple:
            raise RuntimeError("no")

    report = chapter("ch05", result("ch05.1.a", Status.FAILED, message=Evil("evil\ud800")))
    data = reporters.to_gradescope([report])
    assert data["tests"][0]["output"] == "evil\ufffd"
    assert type(reporters.to_json([report])["tests"][0]["message"]) is str
    ET.fromstring(ET.tostring(reporters.to_junit([report]).getroot()))


# --- clean_text -----------------------------------------------------------------------


def test_clean_text_removes_what_reporters_cannot_write() -> None:
    assert clean_text("a\x1b[1;31mb\x1b[0m\x1b]8;;http://x\x1b\\c\x1b]8;;\x1b\\d") == "abcd"
    assert clean_text("\x00\x07\x0b\x0c\x7f\x85\x9b2Jx\ufffe\uffff") == "x"
    assert clean_text("keep\ttab\nnewline\r\nand\rcr") == "keep\ttab\nnewline\nand\ncr"
    assert clean_text("lone\udfff\ud800 pair\ud83d\ude00") == "lone\ufffd\ufffd pair\U0001f600"
    assert clean_text("[red]x[/] ünïcode ✔") == "[red]x[/] ünïcode ✔"
    assert clean_text(None) == "" and clean_text(3) == "3" and clean_text(b"\xffok") == "\ufffdok"


def test_clean_text_limit() -> None:
    assert clean_text("abcdef", 6) == "abcdef"
    assert clean_text("abcdefgh", 6) == "abcdef ... (2 more characters)"
    assert clean_text("abcdefg", 6) == "abcdef ... (1 more character)"
    assert clean_text("\x00" * 10_000 + "abc", 2) == "ab ... (1 more character)"
    big = clean_text("y" * 10_000_000, 10)
    assert big == "yyyyyyyyyy ... (9999990 more characters)"
    split = clean_text(("x" * 1000 + "\x1b[31m") * 20, 10_000)
    assert "[" not in split and "\x1b" not in split


def test_clean_text_never_raises_on_odd_objects() -> None:
    class NoStr:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert clean_text(NoStr()).startswith("<") and "NoStr" in clean_text(NoStr())


# --- atomic_write ---------------------------------------------------------------------


def test_atomic_write_writes_and_replaces(tmp_path: Path) -> None:
    path = tmp_path / "out.json"
    atomic_write(path, "old ✔\n")
    assert path.read_text(encoding="utf-8") == "old ✔\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o644
    path.chmod(0o600)
    inode = path.stat().st_ino
    atomic_write(path, "new\n")
    assert path.read_text(encoding="utf-8") == "new\n"
    assert path.stat().st_ino != inode  # a new file renamed over the old one
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["out.json"]  # no temp file left behind


def test_atomic_write_never_shows_a_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.json"
    path.write_text("old\n")
    seen = []
    real_replace = os.replace

    def spy(src: str, dst: str | Path) -> None:
        seen.append((Path(dst).read_text(), Path(src).read_text()))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    atomic_write(path, "new\n")
    assert seen == [("old\n", "new\n")]


def test_atomic_write_cleans_up_after_a_failure(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "out.json"
    path.write_text("old\n")

    def broken(src: str, dst: str) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(OSError, match="disk full"):
        atomic_write(path, "new\n")
    assert path.read_text() == "old\n" and os.listdir(tmp_path) == ["out.json"]


def test_atomic_write_refuses_symlinks_and_special_files(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    link = tmp_path / "link.json"
    link.symlink_to(victim)
    with pytest.raises(ReportPathError, match="symlink"):
        atomic_write(link, "x")
    dangling = tmp_path / "dangling.json"
    dangling.symlink_to(tmp_path / "nowhere")
    with pytest.raises(ReportPathError, match="symlink"):
        atomic_write(dangling, "x")
    (tmp_path / "dir.json").mkdir()
    with pytest.raises(ReportPathError, match="not a regular file"):
        atomic_write(tmp_path / "dir.json", "x")
    with pytest.raises(ReportPathError, match="does not exist"):
        atomic_write(tmp_path / "missing" / "r.json", "x")
    assert victim.read_text() == "precious\n" and not (tmp_path / "nowhere").exists()
    assert sorted(os.listdir(tmp_path)) == ["dangling.json", "dir.json", "link.json", "victim"]


def test_writers_refuse_a_symlink(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    for i, write in enumerate(
        (reporters.write_json, reporters.write_gradescope, reporters.write_junit)
    ):
        link = tmp_path / f"link{i}"
        link.symlink_to(victim)
        with pytest.raises(ReportPathError):
            write([passing()], link)
    assert victim.read_text() == "precious\n"


# --- check_report_path ----------------------------------------------------------------


def make_dir(path: Path, mode: int, uid: int | None = None, gid: int | None = None) -> Path:
    path.mkdir()
    path.chmod(mode)
    if uid is not None or gid is not None:
        os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
    return path


needs_root = pytest.mark.skipif(
    not hasattr(os, "geteuid") or os.geteuid() != 0, reason="chown needs root"
)


def test_check_report_path_accepts_a_safe_directory(tmp_path: Path) -> None:
    safe = make_dir(tmp_path / "safe", 0o755)
    assert check_report_path(safe / "r.json", UNTRUSTED_UID) == (safe / "r.json").resolve()
    (safe / "r.json").write_text("{}")
    assert check_report_path(safe / "r.json", UNTRUSTED_UID) == (safe / "r.json").resolve()
    open_dir = make_dir(tmp_path / "open", 0o777)
    assert check_report_path(open_dir / "r.json", None) == open_dir / "r.json"


@needs_root
def test_check_report_path_refuses_a_directory_the_learner_owns(tmp_path: Path) -> None:
    theirs = make_dir(tmp_path / "theirs", 0o755, uid=UNTRUSTED_UID)
    with pytest.raises(ReportPathError, match="owned by uid 12345"):
        check_report_path(theirs / "r.json", UNTRUSTED_UID)
    below = make_dir(theirs / "below", 0o755, uid=0)
    with pytest.raises(ReportPathError, match="owned by uid 12345"):
        check_report_path(below / "r.json", UNTRUSTED_UID)  # it could swap `below`


@needs_root
def test_check_report_path_refuses_a_file_the_learner_owns(tmp_path: Path) -> None:
    safe = make_dir(tmp_path / "safe", 0o755)
    (safe / "r.json").write_text("{}")
    os.chown(safe / "r.json", UNTRUSTED_UID, -1)
    with pytest.raises(ReportPathError, match="owned by uid 12345"):
        check_report_path(safe / "r.json", UNTRUSTED_UID)


def test_check_report_path_refuses_writable_directories(tmp_path: Path) -> None:
    for name, mode in (("world", 0o777), ("sticky", 0o1777)):
        with pytest.raises(ReportPathError, match="writable by uid"):
            check_report_path(make_dir(tmp_path / name, mode) / "r.json", UNTRUSTED_UID)
    group = make_dir(tmp_path / "group", 0o775)
    gid = group.stat().st_gid
    assert check_report_path(group / "r.json", UNTRUSTED_UID)  # not one of its groups
    with pytest.raises(ReportPathError, match="writable by uid"):
        check_report_path(group / "r.json", UNTRUSTED_UID, untrusted_gids=[gid])
    inner = make_dir(tmp_path / "world" / "inner", 0o755)
    with pytest.raises(ReportPathError, match="writable by uid"):
        check_report_path(inner / "r.json", UNTRUSTED_UID)  # it could rename `inner`
    under_sticky = make_dir(tmp_path / "sticky" / "inner", 0o755)
    assert check_report_path(under_sticky / "r.json", UNTRUSTED_UID)


@needs_root
def test_check_report_path_refuses_a_group_the_learner_is_in(tmp_path: Path) -> None:
    group = make_dir(tmp_path / "group", 0o775, gid=UNTRUSTED_UID)
    with pytest.raises(ReportPathError, match="writable by uid"):
        check_report_path(group / "r.json", UNTRUSTED_UID)  # unknown uid: its own gid


def test_check_report_path_refuses_symlinks_and_bad_names(tmp_path: Path) -> None:
    (tmp_path / "victim").write_text("x")
    (tmp_path / "link.json").symlink_to(tmp_path / "victim")
    with pytest.raises(ReportPathError, match="symlink"):
        check_report_path(tmp_path / "link.json", None)
    with pytest.raises(ReportPathError, match="does not exist"):
        check_report_path(tmp_path / "missing" / "r.json", None)
    with pytest.raises(ReportPathError, match="not a file name"):
        check_report_path(tmp_path / "..", None)
    real = make_dir(tmp_path / "real", 0o755)
    (tmp_path / "alias").symlink_to(real)
    assert check_report_path(tmp_path / "alias" / "r.json", UNTRUSTED_UID) == real / "r.json"
