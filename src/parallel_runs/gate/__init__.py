"""The test gate: did a run break tests that passed at its base commit?"""

from __future__ import annotations

from parallel_runs.gate.baseline import TestEvaluation, TestStatus, evaluate_tests
from parallel_runs.gate.delta import Severity
from parallel_runs.gate.preflight import baseline_log_of, check_baseline
from parallel_runs.gate.seed_baseline import TestBaselineTracker
from parallel_runs.gate.sources import checkout_warnings

__all__ = [
    "Severity",
    "TestBaselineTracker",
    "TestEvaluation",
    "TestStatus",
    "baseline_log_of",
    "check_baseline",
    "checkout_warnings",
    "evaluate_tests",
]
