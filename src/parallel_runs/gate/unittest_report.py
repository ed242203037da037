"""`python -m unittest ...` as usual, also writing each test's outcome as JUnit XML to $PARALLEL_RUNS_JUNIT.

unittest has no plugin hook and writes no report, so a test phase whose command runs
`python -m unittest ARGS` runs `python <plugins>/parallel_runs_unittest.py ARGS` instead:
parallel-runs copies this file beside the phase's reports. The command line, output, exit code and
import path (the working directory first, as `-m` puts it) are unittest's own. The test command
may run in another interpreter, where parallel_runs is not installed: this module imports nothing
but the standard library.
"""

from __future__ import annotations

import os
import sys
import traceback
import unittest
from pathlib import Path
from types import TracebackType
from typing import Any
from xml.etree import ElementTree as ET

__all__ = ["JUNIT_ENV", "main"]

JUNIT_ENV = "PARALLEL_RUNS_JUNIT"
_ErrInfo = tuple[type[BaseException], BaseException, TracebackType] | tuple[None, None, None]


def _where(test: Any) -> tuple[str, str, str]:
    """(classname, name, file) of a test as pytest's xunit1 JUnit writer names them."""
    if type(test).__name__ == "_FailedTest":  # a module that failed to import: a collection error
        return "", str(getattr(test, "_testMethodName", test.id())), ""
    classname, _, name = test.id().rpartition(".")
    module = sys.modules.get(type(test).__module__)
    file = getattr(module, "__file__", None) or ""
    try:
        file = str(Path(file).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        file = ""
    return classname, name, file


class _Recording(unittest.TextTestResult):
    """unittest's own result, which also notes each outcome for the report."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.cases: list[tuple[Any, str, str]] = []  # (test, outcome tag or "", details)

    def _note(self, test: Any, tag: str, err: _ErrInfo | None = None) -> None:
        details = (
            "".join(traceback.format_exception(err[1])) if err is not None and err[1] is not None else ""
        )
        self.cases.append((test, tag, details))

    def addSuccess(self, test: unittest.TestCase) -> None:
        super().addSuccess(test)
        self._note(test, "")

    def addFailure(self, test: unittest.TestCase, err: _ErrInfo) -> None:
        super().addFailure(test, err)
        self._note(test, "failure", err)

    def addError(self, test: unittest.TestCase, err: _ErrInfo) -> None:
        super().addError(test, err)
        self._note(test, "error" if type(test).__name__ != "_FailedTest" else "collection", err)

    def addSkip(self, test: unittest.TestCase, reason: str) -> None:
        super().addSkip(test, reason)
        self.cases.append((test, "skipped", reason))

    def addExpectedFailure(self, test: unittest.TestCase, err: _ErrInfo) -> None:
        super().addExpectedFailure(test, err)
        self._note(test, "")

    def addUnexpectedSuccess(self, test: unittest.TestCase) -> None:
        super().addUnexpectedSuccess(test)
        self.cases.append((test, "failure", "unexpected success"))

    def addSubTest(self, test: unittest.TestCase, subtest: unittest.TestCase, err: _ErrInfo | None) -> None:
        super().addSubTest(test, subtest, err)
        if err is not None:  # reported as its test's failure: node ids name tests, not subtests
            failed = err[0] is not None and issubclass(err[0], test.failureException)
            self._note(test, "failure" if failed else "error", err)


class _Runner(unittest.TextTestRunner):
    resultclass = _Recording


def _write(path: str, cases: list[tuple[Any, str, str]]) -> None:
    suite = ET.Element("testsuite", name="unittest", tests=str(len(cases)))
    for test, tag, details in cases:
        classname, name, file = _where(test)
        case = ET.SubElement(suite, "testcase", classname=classname, name=name, file=file)
        if tag == "collection":
            ET.SubElement(case, "error", message="collection failure").text = details
        elif tag:
            first = details.strip().splitlines()[-1] if details.strip() else tag
            ET.SubElement(case, tag, message=first).text = details
    ET.ElementTree(suite).write(path, encoding="utf-8", xml_declaration=True)


def main() -> None:
    """Run unittest's command line, then write the report."""
    if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
        sys.path[0] = os.getcwd()  # as `python -m unittest` has it, not this file's directory
    sys.argv[0] = "python -m unittest"
    program = unittest.main(module=None, testRunner=_Runner, exit=False)
    result = program.result
    if path := os.environ.get(JUNIT_ENV):
        _write(path, result.cases if isinstance(result, _Recording) else [])
    if result.testsRun == 0 and not result.skipped and sys.version_info >= (3, 12):
        sys.exit(5)  # unittest's own "no tests ran" since 3.12
    sys.exit(not result.wasSuccessful())


if __name__ == "__main__":
    main()
