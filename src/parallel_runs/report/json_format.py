"""The report as JSON: `{"runs": [...], "counts": {status: n}}` (named so as not to shadow `json`)."""

from __future__ import annotations

import json
from collections.abc import Sequence

from parallel_runs.report.rows import RunRow, summarize

__all__ = ["render_json"]


def render_json(rows: Sequence[RunRow]) -> str:
    """Stable JSON: `{"runs": [...], "counts": {status: n}}`."""
    counts = {status.value: count for status, count in summarize(rows).items()}
    document = {"runs": [row.to_json() for row in rows], "counts": counts}
    return json.dumps(document, indent=2, ensure_ascii=False)
