"""The reports of one test phase: ours (at $PARALLEL_RUNS_JUNIT, $PARALLEL_RUNS_JSON_REPORT) and the
files the command writes where it likes (`--test-report GLOB`, `pytest --junitxml=report.xml`).

The command's own files live in the worktree, where a stale one may lie (the run's command may
have run the tests itself). They are never deleted: a file counts when this phase wrote it, which
is told by comparing each match's (inode, size, mtime) before and after the phase.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from parallel_runs.core.junit import (
    ParsedReport,
    TestOutcome,
    TestReportError,
    merge_reports,
    read_junit_xml,
    read_pytest_json,
)

__all__ = ["MAX_REPORT_BYTES", "Stamps", "read_report", "read_reports", "stamp", "written_since"]

MAX_REPORT_BYTES = 256 * 1024 * 1024  # a report larger than this is refused, not read into memory

Stamps = dict[Path, tuple[int, int, int]]  # report file -> (inode, size, mtime in ns)


def read_report(path: Path, parse: Callable[[bytes], dict[str, TestOutcome]]) -> dict[str, TestOutcome]:
    """Parse a report file; TestReportError when it is larger than MAX_REPORT_BYTES (never read then)."""
    return _parsed(path, lambda data: ParsedReport(parse(data))).outcomes


def _parsed(path: Path, parse: Callable[[bytes], ParsedReport]) -> ParsedReport:
    size = path.stat().st_size
    if size > MAX_REPORT_BYTES:
        raise TestReportError(f"report {path} is {size} bytes, more than the {MAX_REPORT_BYTES} allowed")
    return parse(path.read_bytes())


def _matches(cwd: Path, globs: Iterable[str]) -> Iterable[Path]:
    for glob in globs:
        for path in cwd.glob(glob):
            if path.is_file():
                yield path


def stamp(cwd: Path, globs: Sequence[str]) -> Stamps:
    """What the command's own report files look like before a phase."""
    stamps: Stamps = {}
    for path in _matches(cwd, globs):
        info = path.stat()
        stamps[path] = (info.st_ino, info.st_size, info.st_mtime_ns)
    return stamps


def written_since(cwd: Path, globs: Sequence[str], before: Stamps) -> list[Path]:
    """The command's own report files this phase wrote (new, or changed since `before`)."""
    found = []
    for path in dict.fromkeys(_matches(cwd, globs)):
        info = path.stat()
        if before.get(path) != (info.st_ino, info.st_size, info.st_mtime_ns):
            found.append(path)
    return sorted(found)


def read_reports(paths: Sequence[Path]) -> tuple[ParsedReport, str]:
    """Every report of a phase merged, and their formats (`junit`, `pytest-json`, `junit+pytest-json`)."""
    parsed, kinds = [], []
    for path in paths:
        is_json = path.suffix == ".json"
        try:
            parsed.append(_parsed(path, read_pytest_json if is_json else read_junit_xml))
        except TestReportError as exc:
            raise TestReportError(f"{os.fspath(path)}: {exc}") from exc
        kinds.append("pytest-json" if is_json else "junit")
    return merge_reports(parsed), "+".join(dict.fromkeys(kinds))
