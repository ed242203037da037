"""A running attempt's log followed live in a real headless Chromium (issue #21): each piece after
the first is asked from where the attempt's part begins, and the page shows each one once, without a
reload. The browser, the dashboard process and the batches are test_dashboard_browser.py's."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.test_dashboard_browser import (
    LIVE_WITHIN,
    browser,
    dashboard,
    git_identity,
    is_running,
    start_waiting_batch,
    text_of,
)
from tests.helpers import finish, wait_for

__all__ = ["browser", "git_identity"]  # the fixtures this module uses

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dashboard-browser")]

# Prints a line, waits for its gate, prints the next: the test decides when the output grows.
STEPPING_AGENT = """import pathlib, sys, time
run_id, gates = sys.argv[1], pathlib.Path(sys.argv[2])
for step in ("first", "second"):
    print(step, run_id, flush=True)
    while not (gates / run_id).with_suffix("." + step).exists():
        time.sleep(0.1)
"""


def test_a_running_attempts_log_is_followed_live(browser: object, tmp_path: Path, git_identity: None) -> None:
    process, gates, batch_id = start_waiting_batch(tmp_path, agent=STEPPING_AGENT)
    driver = browser
    try:
        for url in dashboard(tmp_path / "project"):
            api = f"{url}api/batches/{batch_id}"
            wait_for(lambda api=api: is_running(api), timeout=120, what="the batch running")
            driver.get(f"{url}batches/{batch_id}/runs/w-1")  # type: ignore[attr-defined]
            wait_for(
                lambda: "first w-1" in text_of(driver, "pre.log"), timeout=LIVE_WITHIN, what="its output"
            )
            driver.execute_script("window.notReloaded = true")  # type: ignore[attr-defined]
            (gates / "w-1.first").touch()
            wait_for(
                lambda: "second w-1" in text_of(driver, "pre.log"), timeout=LIVE_WITHIN, what="more output"
            )
            assert driver.execute_script("return window.notReloaded") is True  # type: ignore[attr-defined]
            log = driver.find_element("css selector", "pre.log")  # type: ignore[attr-defined]
            assert log.get_attribute("data-over") != "true"  # it still runs: still followed
            assert text_of(driver, "pre.log").count("first w-1") == 1  # each piece once
            asked = driver.execute_script(  # type: ignore[attr-defined]
                "return performance.getEntriesByType('resource').map(e => e.name)"
            )
            pieces = [name for name in asked if "/logs/" in name]
            assert "start=" not in pieces[0]  # the first piece finds the part
            assert all("start=" in name for name in pieces[1:]), pieces  # the next ones read from it
    finally:
        for name in ("w-1.first", "w-1.second", "w-2.first", "w-2.second"):
            (gates / name).touch()
        finish(process, timeout=120)
    assert process.returncode == 0
