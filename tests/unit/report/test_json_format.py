"""The report as JSON."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

from parallel_runs.core.model import Outcome
from parallel_runs.report import build_rows, render_json
from tests.unit.report.attempts import T0, record


def test_render_json_round_trips() -> None:
    rows = build_rows([record("r1", 1, Outcome.SUCCEEDED), record("r2", 1, Outcome.RUNNING)])
    document = json.loads(render_json(rows))
    assert document["counts"] == {"running": 1, "succeeded": 1}
    first, second = document["runs"]
    assert first["run_id"] == "r1"
    assert first["status"] == "succeeded"
    assert datetime.fromisoformat(first["started_at"]) == T0
    assert datetime.fromisoformat(first["finished_at"]) == T0 + timedelta(seconds=10)
    assert first["duration_seconds"] == 10.0
    assert (second["finished_at"], second["duration_seconds"], second["exit_code"]) == (None, None, None)
    assert render_json(rows) == render_json(rows)
    assert json.loads(render_json([])) == {"runs": [], "counts": {}}
