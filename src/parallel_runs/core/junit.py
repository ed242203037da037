"""Test reports (JUnit XML, pytest-json-report) → {test id: outcome}. Pure: bytes in, results out.

A test id is `classname::name` (just `name` when the classname is empty, as for pytest's
collection errors), so ids from both formats agree: pytest's node ids are mangled the way its
JUnit writer mangles them (`tests/test_a.py::TestC::test_x[1]` → `tests.test_a.TestC::test_x[1]`).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from enum import StrEnum
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_xml  # type: ignore[import-untyped]
from defusedxml import DefusedXmlException

from parallel_runs.errors import ParallelRunsError

__all__ = [
    "TestOutcome",
    "TestReportError",
    "case_id",
    "nodeid_to_case_id",
    "parse_junit_xml",
    "parse_pytest_json",
    "parse_report",
]


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


def _merge(pairs: Iterable[tuple[str, TestOutcome]]) -> dict[str, TestOutcome]:
    results: dict[str, TestOutcome] = {}
    for key, outcome in pairs:
        previous = results.get(key)
        if previous is None or _RANK[outcome] > _RANK[previous]:
            results[key] = outcome
    return results


def _local(tag: object) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _case_outcome(case: Element) -> TestOutcome:
    children = {_local(child.tag): child for child in case}
    if (error := children.get("error")) is not None:
        message = (error.get("message") or "").strip().lower()
        if not (case.get("classname") or "").strip() or message.startswith(_COLLECTION_FAILURE):
            return TestOutcome.COLLECTION_ERROR
        return TestOutcome.ERROR
    if "failure" in children:
        return TestOutcome.FAILED
    if "skipped" in children:
        return TestOutcome.SKIPPED
    return TestOutcome.PASSED


def parse_junit_xml(data: bytes) -> dict[str, TestOutcome]:
    """Parse JUnit XML with entities, external references and DTD tricks refused (defusedxml)."""
    try:
        root = safe_xml.fromstring(data, forbid_dtd=False, forbid_entities=True, forbid_external=True)
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
    cases = (element for element in root.iter() if _local(element.tag) == "testcase")
    return _merge(
        (case_id(case.get("classname") or "", case.get("name") or ""), _case_outcome(case)) for case in cases
    )


def _json_entries(document: Mapping[str, object]) -> Iterable[tuple[str, TestOutcome]]:
    tests, collectors = document.get("tests", []), document.get("collectors", [])
    if not isinstance(tests, list) or not isinstance(collectors, list):
        raise TestReportError("not a pytest-json-report report: 'tests'/'collectors' are not lists")
    for test in tests:
        nodeid, outcome = (test.get(key) if isinstance(test, dict) else None for key in ("nodeid", "outcome"))
        if not isinstance(nodeid, str) or outcome not in _JSON_OUTCOMES:
            raise TestReportError(f"not a pytest-json-report report: bad test entry {test!r:.200}")
        yield nodeid_to_case_id(nodeid), _JSON_OUTCOMES[str(outcome)]
    for collector in collectors:
        if not isinstance(collector, dict):
            raise TestReportError(f"not a pytest-json-report report: bad collector {collector!r:.200}")
        nodeid = collector.get("nodeid")
        if isinstance(nodeid, str) and nodeid and collector.get("outcome") not in (None, "passed"):
            yield nodeid_to_case_id(nodeid), TestOutcome.COLLECTION_ERROR


def parse_pytest_json(data: bytes) -> dict[str, TestOutcome]:
    """Parse a pytest-json-report document (tests, and collectors that failed)."""
    try:
        document = json.loads(data)
    except ValueError as exc:
        raise TestReportError(f"malformed pytest-json-report report: {exc}") from exc
    if not isinstance(document, dict) or ("tests" not in document and "collectors" not in document):
        raise TestReportError("not a pytest-json-report report: no 'tests' or 'collectors'")
    return _merge(_json_entries(document))


def parse_report(data: bytes) -> dict[str, TestOutcome]:
    """Parse either format, told apart by the first non-blank byte."""
    return parse_pytest_json(data) if data.lstrip()[:1] == b"{" else parse_junit_xml(data)
