"""Test report parsing: JUnit XML (hardened with defusedxml) and pytest-json-report."""

from __future__ import annotations

import json
import time

import pytest

from parallel_runs.core.junit import (
    MESSAGE_CHARS,
    MESSAGE_LINES,
    Failure,
    ParsedReport,
    TestOutcome,
    TestReportError,
    case_id,
    failure_message,
    merge_reports,
    nodeid_to_case_id,
    parse_junit_xml,
    parse_pytest_json,
    parse_report,
    read_junit_xml,
    read_pytest_json,
)
from parallel_runs.gate import selection_plugin

# What pytest 8/9 writes (xunit2), trimmed: see tests/integration/test_baseline.py for the real thing.
PYTEST_JUNIT = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites name="pytest tests"><testsuite name="pytest" errors="1" failures="2" skipped="2" tests="8">
<testcase classname="tests.test_a" name="test_ok"/>
<testcase classname="tests.test_a" name="test_fail"><failure message="assert 0">E</failure></testcase>
<testcase classname="tests.test_a" name="test_setup">
  <error message="failed on setup with &quot;RuntimeError: boom&quot;">trace</error></testcase>
<testcase classname="tests.test_a" name="test_skip"><skipped type="pytest.skip" message="no"/></testcase>
<testcase classname="tests.test_a" name="test_xfail"><skipped type="pytest.xfail" message=""/></testcase>
<testcase classname="tests.test_a.TestC" name="test_p[a b]"><system-out>hi</system-out></testcase>
<testcase classname="tests.test_a" name="test_fail_td"><failure message="assert 0">E</failure></testcase>
<testcase classname="tests.test_a" name="test_fail_td"><error message="failed on teardown"/></testcase>
</testsuite></testsuites>"""

COLLECTION_ERROR_JUNIT = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="0" skipped="0" tests="1">
<testcase classname="" name="tests.sub.test_bad" time="0.000">
<error message="collection failure">SyntaxError: invalid syntax</error></testcase>
</testsuite></testsuites>"""

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<testsuites><testsuite name="bomb"><testcase classname="x" name="&lol9;"/></testsuite></testsuites>"""

XXE = b"""<?xml version="1.0"?>
<!DOCTYPE r [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<testsuite><testcase classname="x" name="&secret;"/></testsuite>"""


def test_pytest_junit_outcomes() -> None:
    assert parse_junit_xml(PYTEST_JUNIT) == {
        "tests.test_a::test_ok": TestOutcome.PASSED,
        "tests.test_a::test_fail": TestOutcome.FAILED,
        "tests.test_a::test_setup": TestOutcome.ERROR,
        "tests.test_a::test_skip": TestOutcome.SKIPPED,
        "tests.test_a::test_xfail": TestOutcome.SKIPPED,
        "tests.test_a.TestC::test_p[a b]": TestOutcome.PASSED,
        "tests.test_a::test_fail_td": TestOutcome.FAILED,  # reported twice: the worst report wins
    }


def test_collection_error_is_distinguished_from_a_setup_error() -> None:
    assert parse_junit_xml(COLLECTION_ERROR_JUNIT) == {"tests.sub.test_bad": TestOutcome.COLLECTION_ERROR}
    assert TestOutcome.ERROR.is_failing
    assert not TestOutcome.COLLECTION_ERROR.is_failing


def test_collection_failure_message_counts_even_with_a_classname() -> None:
    xml = b'<testsuite><testcase classname="pkg" name="m"><error message="collection failure"/></testcase>'
    xml += b"</testsuite>"
    assert parse_junit_xml(xml) == {"pkg::m": TestOutcome.COLLECTION_ERROR}


def test_single_testsuite_root_and_namespaces() -> None:
    xml = b'<testsuite xmlns="urn:x"><testcase classname="a" name="b"><failure/></testcase></testsuite>'
    assert parse_junit_xml(xml) == {"a::b": TestOutcome.FAILED}


def test_entity_expansion_bomb_is_rejected_quickly() -> None:
    started = time.monotonic()
    with pytest.raises(TestReportError, match="entity-expansion bomb"):
        parse_junit_xml(BILLION_LAUGHS)
    assert time.monotonic() - started < 20  # a bomb expanded would take minutes and gigabytes


def test_external_entities_are_refused() -> None:
    with pytest.raises(TestReportError, match="untrusted"):
        parse_junit_xml(XXE)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "malformed"),
        (b"<testsuite><testcase>", "malformed"),
        (b"<html><body/></html>", "not a JUnit XML report"),
    ],
)
def test_unusable_xml_is_an_error(data: bytes, message: str) -> None:
    with pytest.raises(TestReportError, match=message):
        parse_junit_xml(data)


def test_pytest_json_report_uses_the_same_ids() -> None:
    document = {
        "tests": [
            {"nodeid": "tests/test_a.py::test_ok", "outcome": "passed"},
            {"nodeid": "tests/test_a.py::test_fail", "outcome": "failed"},
            {"nodeid": "tests/test_a.py::test_setup", "outcome": "error"},
            {"nodeid": "tests/test_a.py::TestC::test_p[a b]", "outcome": "xpassed"},
            {"nodeid": "tests/test_a.py::test_xfail", "outcome": "xfailed"},
        ],
        "collectors": [
            {"nodeid": "", "outcome": "passed"},
            {"nodeid": "tests/sub/test_bad.py", "outcome": "failed", "longrepr": "SyntaxError"},
        ],
    }
    assert parse_pytest_json(json.dumps(document).encode()) == {
        "tests.test_a::test_ok": TestOutcome.PASSED,
        "tests.test_a::test_fail": TestOutcome.FAILED,
        "tests.test_a::test_setup": TestOutcome.ERROR,
        "tests.test_a.TestC::test_p[a b]": TestOutcome.PASSED,
        "tests.test_a::test_xfail": TestOutcome.SKIPPED,
        "tests.sub.test_bad": TestOutcome.COLLECTION_ERROR,
    }


@pytest.mark.parametrize(
    "data",
    [
        b"{",
        b"[]",
        b'{"summary": {}}',
        b'{"tests": [{"nodeid": 3}]}',
        b'{"tests": [{"nodeid": "a", "outcome": "odd"}]}',
    ],
)
def test_unusable_json_is_an_error(data: bytes) -> None:
    with pytest.raises(TestReportError):
        parse_pytest_json(data)


def test_parse_report_tells_the_formats_apart() -> None:
    assert parse_report(b'  {"tests": [], "collectors": []}') == {}
    assert parse_report(COLLECTION_ERROR_JUNIT) == {"tests.sub.test_bad": TestOutcome.COLLECTION_ERROR}


@pytest.mark.parametrize(
    ("nodeid", "expected"),
    [
        ("tests/test_a.py::test_x", "tests.test_a::test_x"),
        ("tests/test_a.py::TestC::test_x[1-a::b]", "tests.test_a.TestC::test_x[1-a::b]"),
        ("test_top.py::test_y", "test_top::test_y"),
        ("tests/sub/test_bad.py", "tests.sub.test_bad"),
    ],
)
def test_nodeids_map_like_pytests_junit_writer(nodeid: str, expected: str) -> None:
    assert nodeid_to_case_id(nodeid) == expected
    assert selection_plugin._case_id(nodeid) == expected


def test_case_id_without_classname_is_the_name() -> None:
    assert case_id("", " mod ") == "mod"
    assert case_id("a.B", "c") == "a.B::c"


# What pytest writes with junit_family=xunit1 (parallel-runs asks for it): each case names its file.
XUNIT1_JUNIT = b"""<?xml version="1.0" encoding="utf-8"?>
<testsuites><testsuite name="pytest" errors="1" failures="2" tests="4">
<testcase classname="tests.test_a" name="test_a" file="tests/test_a.py" line="1">
<failure message="AssertionError: one is not two&#10;assert 1 == 2">long traceback</failure></testcase>
<testcase classname="tests.test_a.TestC.TestD" name="test_p[a.b c]" file="tests/test_a.py" line="5">
<failure message="assert 0">trace</failure></testcase>
<testcase classname="tests.test_a" name="test_ok" file="tests/test_a.py" line="9"/>
<testcase classname="" name="tests.sub.test_bad" file="tests/sub/test_bad.py">
<error message="collection failure">ImportError while importing test module '/x/tests/sub/test_bad.py'.
Traceback:
tests/sub/test_bad.py:1: in &lt;module&gt;
    import nope
E   ModuleNotFoundError: No module named 'nope'</error></testcase>
</testsuite></testsuites>"""


def test_failures_are_named_by_pytest_node_ids_when_the_report_names_the_file() -> None:
    report = read_junit_xml(XUNIT1_JUNIT)
    assert report.outcomes["tests.test_a.TestC.TestD::test_p[a.b c]"] is TestOutcome.FAILED
    assert report.failures == {
        "tests.test_a::test_a": Failure(
            "tests/test_a.py::test_a", "AssertionError: one is not two\nassert 1 == 2"
        ),
        "tests.test_a.TestC.TestD::test_p[a.b c]": Failure(
            "tests/test_a.py::TestC::TestD::test_p[a.b c]", "assert 0"
        ),
        "tests.sub.test_bad": Failure("tests/sub/test_bad.py", "ModuleNotFoundError: No module named 'nope'"),
    }


def test_without_the_file_a_failure_keeps_the_classname_form() -> None:
    report = read_junit_xml(PYTEST_JUNIT)
    assert report.failures["tests.test_a::test_fail"] == Failure("tests.test_a::test_fail", "assert 0")
    assert report.failures["tests.test_a::test_setup"].message == 'failed on setup with "RuntimeError: boom"'
    assert set(report.failures) == {
        "tests.test_a::test_fail",
        "tests.test_a::test_setup",
        "tests.test_a::test_fail_td",
    }
    # A report that names a file the classname does not match (a --junit-prefix): the classname form.
    odd = (
        b'<testsuite><testcase classname="pre.x" name="t" file="tests/x.py"><failure/></testcase></testsuite>'
    )
    assert read_junit_xml(odd).failures == {"pre.x::t": Failure("pre.x::t", "")}


def test_a_failure_message_keeps_its_first_lines_capped() -> None:
    assert failure_message("line\n" * 50, "") == "\n".join(["line"] * MESSAGE_LINES)
    assert len(failure_message("x" * 5000, "")) == MESSAGE_CHARS
    assert failure_message("", "Traceback\n  File x\nValueError: bad") == "ValueError: bad"
    assert failure_message("collection failure", "") == "collection failure"


def test_pytest_json_report_failures_carry_node_ids_and_messages() -> None:
    document = {
        "tests": [
            {"nodeid": "tests/t.py::test_x", "outcome": "failed", "call": {"crash": {"message": "assert 0"}}},
            {"nodeid": "tests/t.py::test_ok", "outcome": "passed"},
        ],
        "collectors": [{"nodeid": "tests/bad.py", "outcome": "failed", "longrepr": "E   SyntaxError: oops"}],
    }
    report = read_pytest_json(json.dumps(document).encode())
    assert report.failures == {
        "tests.t::test_x": Failure("tests/t.py::test_x", "assert 0"),
        "tests.bad": Failure("tests/bad.py", "SyntaxError: oops"),
    }


def test_merged_reports_keep_each_tests_worst_outcome_and_its_failure() -> None:
    first = ParsedReport(
        {"a::b": TestOutcome.PASSED, "a::c": TestOutcome.FAILED}, {"a::c": Failure("c", "m")}
    )
    second = ParsedReport({"a::b": TestOutcome.FAILED}, {"a::b": Failure("b", "why")})
    merged = merge_reports([first, second])
    assert merged.outcomes == {"a::b": TestOutcome.FAILED, "a::c": TestOutcome.FAILED}
    assert merged.failures == {"a::b": Failure("b", "why"), "a::c": Failure("c", "m")}
