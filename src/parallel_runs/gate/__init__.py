"""The test gate: did a run break tests that passed at its base commit?"""

from __future__ import annotations

from parallel_runs.gate.delta import Severity
from parallel_runs.gate.evaluation import TestEvaluation, TestStatus, evaluate_tests
from parallel_runs.gate.preflight import baseline_log_of, check_baseline
from parallel_runs.gate.sources import ImportMapping, import_mapping

__all__ = [
    "ImportMapping",
    "Severity",
    "TestEvaluation",
    "TestStatus",
    "baseline_log_of",
    "check_baseline",
    "evaluate_tests",
    "import_mapping",
]
