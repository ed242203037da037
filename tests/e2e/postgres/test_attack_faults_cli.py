"""Faults an attack found (issue #9), kept as regression tests through the CLI."""

from __future__ import annotations

import secrets
from pathlib import Path

from tests.helpers import finish, start_cli


def test_a_run_enqueued_in_ten_batches_at_once_executes_once(
    repo: Path, tmp_path: Path, database_url: str
) -> None:
    ledger = tmp_path / "ledger"
    run_id = f"same-{secrets.token_hex(3)}"
    command = f'echo "$PARALLEL_RUNS_BATCH_ID" >> {ledger}; sleep 0.5'
    processes = [
        start_cli(
            "run",
            "--database-url",
            database_url,
            "--batch-id",
            f"race-{n}-{secrets.token_hex(3)}",
            "--run-ids",
            run_id,
            "--command",
            command,
            cwd=repo,
        )
        for n in range(10)
    ]
    outputs = [finish(process, timeout=120) for process in processes]
    for process, (out, err) in zip(processes, outputs, strict=True):
        assert process.returncode == 0, out + err
    assert len(ledger.read_text().splitlines()) == 1  # executed once; the other nine skipped it
    said = "".join(out + err for out, err in outputs)
    assert said.count("already succeeded") == 9
