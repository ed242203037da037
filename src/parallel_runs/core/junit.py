"""Test reports (JUnit XML, pytest-json-report) → {test id: outcome}. Pure: bytes in, results out.

A test id is `classname::name` (just `name` when the classname is empty, as for pytest's
collection errors), so ids from both formats agree: pytest's node ids are mangled the way its
JUnit writer mangles them (`tests/test_a.py::TestC::test_x[1]` → `tests.test_a.TestC::test_x[1]`).
Ids are what baselines are compared by. What people read is a failing test's `Failure`: its name
as the runner gives it (a pytest node id, when the report names the file) and the first lines of
its message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml  # type: ignore[import-untyped]
from defusedxml import DefusedXmlException

from parallel_runs.errors import ParallelRunsError

__all__ = [
    "Failure",
    "ParsedReport",
    "TestOutcome",
    "TestReportError",
    "case_id",
    "failure_message",
    "merge_reports",
    "nodeid_to_case_id",
    "parse_junit_xml",
    "parse_pytest_json",
    "parse_report",
    "read_junit_xml",
    "read_pytest_json",
]

MESSAGE_LINES = 5  # a failure's message keeps its first lines ...
MESSAGE_CHARS = 500  # ... and at most this many characters


class TestReportError(ParallelRunsError):
    """A test report that cannot be trusted: malformed, hostile (entity bomb) or of an unknown shape."""

    __test__ = False  # not a pytest test class


class TestOutcome(StrEnum):
    """How one test (or one collector) ended."""

    __test__ = False  # not a pytest test class

    PASSED = "passed"
    FAILED = "failed"
    ERROR = "error"  # setup or teardown error
    SKIPPED = "skipped"
    COLLECTION_ERROR = "collection_error"  # the module (or collector) could not be collected

    @property
    def is_failing(self) -> bool:
        """Failed or errored in setup/teardown: a test that can be newly failing and retried."""
        return self in (TestOutcome.FAILED, TestOutcome.ERROR)


# When one id is reported twice (pytest writes a failing test with a teardown error as two
# testcases), the worst report wins.
_RANK = {
    TestOutcome.SKIPPED: 0,
    TestOutcome.PASSED: 1,
    TestOutcome.ERROR: 2,
    TestOutcome.FAILED: 3,
    TestOutcome.COLLECTION_ERROR: 4,
}
_COLLECTION_FAILURE = "collection failure"  # the message pytest's JUnit writer gives collection errors
_JSON_OUTCOMES = {
    "passed": TestOutcome.PASSED,
    "xpassed": TestOutcome.PASSED,  # non-strict; a strict xpass is reported as "failed"
    "failed": TestOutcome.FAILED,
    "error": TestOutcome.ERROR,
    "skipped": TestOutcome.SKIPPED,
    "xfailed": TestOutcome.SKIPPED,  # pytest's JUnit writer calls an xfail a skip, too
}


@dataclass(frozen=True, slots=True)
class Failure:
    """A failing test as people read it: the runner's name for it, and why it failed."""

    name: str  # a pytest node id (`tests/test_a.py::TestC::test_x`) when the report names the file
    message: str = ""  # the first lines of the failure's message, capped


@dataclass(frozen=True, slots=True)
class ParsedReport:
    """One report (or several merged): each test's outcome, and the failing ones' details."""

    outcomes: dict[str, TestOutcome]
    failures: dict[str, Failure] = field(default_factory=dict)  # failing ids only


def case_id(classname: str, name: str) -> str:
    """The normalized id of one test case."""
    classname, name = classname.strip(), name.strip()
    return f"{classname}::{name}" if classname else name


def nodeid_to_case_id(nodeid: str) -> str:
    """A pytest node id as its JUnit writer names it (same rules as `mangle_test_address`)."""
    path, bracket, params = nodeid.partition("[")
    names = path.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + params
    return case_id(".".join(names[:-1]), names[-1])


def _is_worse(outcome: TestOutcome, previous: TestOutcome | None) -> bool:
    return previous is None or _RANK[outcome] > _RANK[previous]


def merge_reports(reports: Iterable[ParsedReport]) -> ParsedReport:
    """Several reports of one test phase as one; an id reported twice keeps its worst outcome."""
    merged = ParsedReport({})
    for report in reports:
        for key, outcome in report.outcomes.items():
            if _is_worse(outcome, merged.outcomes.get(key)):
                merged.outcomes[key] = outcome
                if key in report.failures:
                    merged.failures[key] = report.failures[key]
    return merged


def _cap(text: str) -> str:
    lines = [line.rstrip() for line in text.strip().splitlines() if line.strip()][:MESSAGE_LINES]
    capped = "\n".join(lines)
    return capped if len(capped) <= MESSAGE_CHARS else capped[: MESSAGE_CHARS - 1] + "\u2026"


def failure_message(message: str, text: str) -> str:
    """Why a test failed, from a report's `message` and its longer text (a traceback), capped.

    pytest's own message for a collection error says only "collection failure"; its `E   ` lines
    (`ModuleNotFoundError: No module named 'x'`) say why, and so does a traceback's last line.
    """
    message = message.strip()
    if message and not message.lower().startswith(_COLLECTION_FAILURE):
        return _cap(message)
    lines = [line for line in text.splitlines() if line.strip()]
    errors = [line[1:].strip() for line in lines if line.startswith("E ")]
    return _cap("\n".join(errors[-MESSAGE_LINES:]) if errors else "\n".join(lines[-1:]) or message)


def _runner_name(classname: str, name: str, file: str) -> str:
    """The node id pytest would accept, when the report names the file (junit_family=xunit1)."""
    key = case_id(classname, name)
    file, classname = file.strip().replace("\\", "/"), classname.strip()
    if not file or file.startswith(("/", "../")):
        return key
    module = re.sub(r"\.py$", "", file).replace("/", ".")
    if not classname:  # a collection error: its name is the module's, its node id the file
        return file if name.strip() == module else key
    if classname == module:
        return f"{file}::{name.strip()}"
    if classname.startswith(module + "."):
        return "::".join([file, *classname[len(module) + 1 :].split("."), name.strip()])
    return key


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _case_outcome(case: Element) -> tuple[TestOutcome, Element | None]:
    """How a <testcase> ended, and the element saying why it failed (if it did)."""
    children = {_local(child.tag): child for child in case}
    if (error := children.get("error")) is not None:
        message = (error.get("message") or "").strip().lower()
        if not (case.get("classname") or "").strip() or message.startswith(_COLLECTION_FAILURE):
            return TestOutcome.COLLECTION_ERROR, error
        return TestOutcome.ERROR, error
    if (failure := children.get("failure")) is not None:
        return TestOutcome.FAILED, failure
    if "skipped" in children:
        return TestOutcome.SKIPPED, None
    return TestOutcome.PASSED, None


def _junit_root(data: bytes) -> Element:
    try:
        root: Element = safe_xml.fromstring(
            data, forbid_dtd=False, forbid_entities=True, forbid_external=True
        )
    except DefusedXmlException as exc:
        reason = f"{type(exc).__name__}: {exc}"
        raise TestReportError(
            f"refused an untrusted JUnit XML report ({reason}): entity declarations (an entity-expansion "
            "bomb) and external references are not allowed"
        ) from exc
    except ParseError as exc:
        raise TestReportError(f"malformed JUnit XML report: {exc}") from exc
    if _local(root.tag) not in ("testsuites", "testsuite"):
        raise TestReportError(f"not a JUnit XML report: the root element is <{_local(root.tag)}>")
    return root


def read_junit_xml(data: bytes) -> ParsedReport:
    """Parse JUnit XML with entities, external references and DTD tricks refused (defusedxml)."""
    reports = []
    for case in _junit_root(data).iter():
        if _local(case.tag) != "testcase":
            continue
        classname, name = case.get("classname") or "", case.get("name") or ""
        key = case_id(classname, name)
        outcome, why = _case_outcome(case)
        failures: dict[str, Failure] = {}
        if why is not None:
            runner_name = _runner_name(classname, name, case.get("file") or "")
            failures[key] = Failure(runner_name, failure_message(why.get("message") or "", why.text or ""))
        reports.append(ParsedReport({key: outcome}, failures))
    return merge_reports(reports)


def parse_junit_xml(data: bytes) -> dict[str, TestOutcome]:
    """Each test's outcome in a JUnit XML report (see read_junit_xml)."""
    return read_junit_xml(data).outcomes


def _json_message(entry: Mapping[str, object]) -> str:
    """The message of a failing pytest-json-report test (its crash line) or collector (its longrepr)."""
    for stage in ("setup", "call", "teardown"):
        details = entry.get(stage)
        crash = details.get("crash") if isinstance(details, dict) else None
        if isinstance(crash, dict) and crash.get("message"):
            return failure_message(str(crash["message"]), "")
    longrepr = entry.get("longrepr")
    return failure_message("", longrepr) if isinstance(longrepr, str) else ""


def _json_entries(document: Mapping[str, object]) -> Iterable[ParsedReport]:
    tests, collectors = document.get("tests", []), document.get("collectors", [])
    if not isinstance(tests, list) or not isinstance(collectors, list):
        raise TestReportError("not a pytest-json-report report: 'tests'/'collectors' are not lists")
    for test in tests:
        nodeid, outcome = (test.get(key) if isinstance(test, dict) else None for key in ("nodeid", "outcome"))
        if not isinstance(test, dict) or not isinstance(nodeid, str) or outcome not in _JSON_OUTCOMES:
            raise TestReportError(f"not a pytest-json-report report: bad test entry {test!r:.200}")
        key, result = nodeid_to_case_id(nodeid), _JSON_OUTCOMES[str(outcome)]
        failures = {key: Failure(nodeid, _json_message(test))} if result.is_failing else {}
        yield ParsedReport({key: result}, failures)
    for collector in collectors:
        if not isinstance(collector, dict):
            raise TestReportError(f"not a pytest-json-report report: bad collector {collector!r:.200}")
        nodeid = collector.get("nodeid")
        if isinstance(nodeid, str) and nodeid and collector.get("outcome") not in (None, "passed"):
            key = nodeid_to_case_id(nodeid)
            failure = Failure(nodeid, _json_message(collector))
            yield ParsedReport({key: TestOutcome.COLLECTION_ERROR}, {key: failure})


def read_pytest_json(data: bytes) -> ParsedReport:
    """Parse a pytest-json-report document (tests, and collectors that failed)."""
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise TestReportError(f"malformed pytest-json-report report: {exc}") from exc
    if not isinstance(document, dict) or ("tests" not in document and "collectors" not in document):
        raise TestReportError("not a pytest-json-report report: no 'tests' or 'collectors'")
    return merge_reports(_json_entries(document))


def parse_pytest_json(data: bytes) -> dict[str, TestOutcome]:
    """Each test's outcome in a pytest-json-report document (see read_pytest_json)."""
    return read_pytest_json(data).outcomes


def parse_report(data: bytes) -> dict[str, TestOutcome]:
    """Parse either format, told apart by the first non-blank byte."""
    return parse_pytest_json(data) if data.lstrip()[:1] == b"{" else parse_junit_xml(data)
