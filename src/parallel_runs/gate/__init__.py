"""The test gate: did a run break tests that passed at its base commit?"""

from __future__ import annotations

from parallel_runs.gate.baseline import TestEvaluation, TestStatus, evaluate_tests
from parallel_runs.gate.delta import Severity
from parallel_runs.gate.seed_baseline import TestBaselineTracker

__all__ = ["Severity", "TestBaselineTracker", "TestEvaluation", "TestStatus", "evaluate_tests"]
