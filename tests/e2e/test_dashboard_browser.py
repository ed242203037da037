"""The dashboard in a real headless Chromium (Debian's `chromium` and `chromium-driver`, driven by
Selenium) against real batches and the real `parallel-runs dashboard` process (issue #21).

`make test` installs the browser when it is missing. Without it these tests skip locally and fail in
CI (CI=true): there a skip would hide them.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import GIT_IDENTITY
from tests.dashboard_batches import HOSTILE_RUN, SCRIPT, Batch, make_project, run_batch
from tests.e2e.test_dashboard_cli import serve
from tests.helpers import cli, finish, git, outlives_the_test, start_cli, wait_for
from tests.integration.postgres.conftest import database_url, skip_locally_fail_in_ci

__all__ = ["database_url"]

pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("dashboard-browser")]

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "images" / "dashboard-batch.png"
LIVE_WITHIN = 30.0  # generous on a busy machine: the page polls every second


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (Path(CHROMIUM).exists() and Path(DRIVER).exists()):
        skip_locally_fail_in_ci(
            f"no {CHROMIUM} or {DRIVER}: `make test` installs chromium and chromium-driver"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,1000"):
        options.add_argument(argument)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def git_identity() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        for name, value in GIT_IDENTITY.items():
            patch.setenv(name, value)
        patch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
        yield


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory, git_identity: None) -> Batch:
    return run_batch(tmp_path_factory.mktemp("hostile"))


def dashboard(batch_or_repo: Batch | Path, *args: str) -> Iterator[str]:
    repo = batch_or_repo.repo if isinstance(batch_or_repo, Batch) else batch_or_repo
    place = ["--runs-dir", str(batch_or_repo.runs_dir)] if isinstance(batch_or_repo, Batch) else []
    process, url = serve(repo, *place, *args)
    outlives_the_test(process)  # type: ignore[arg-type]  # the module's tests share it; ended below
    try:
        yield url
    finally:
        process.send_signal(signal.SIGINT)  # type: ignore[attr-defined]
        finish(process)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def hostile_url(hostile: Batch) -> Iterator[str]:
    yield from dashboard(hostile)


def rows(driver: object) -> list[str]:
    """The run ids of the runs table as shown now (read in one script: the page may be swapping it)."""
    script = "return [...document.querySelectorAll('table.runs tbody tr')].map(r => r.dataset.runId)"
    found: list[str] = driver.execute_script(script)  # type: ignore[attr-defined]
    return found


def text_of(driver: object, selector: str) -> str:
    """The text of the first element matching `selector` now ('' when there is none)."""
    script = "const e = document.querySelector(arguments[0]); return e ? e.innerText : ''"
    found: str = driver.execute_script(script, selector)  # type: ignore[attr-defined]
    return found


def test_pages_render_and_the_filters_work(browser: object, hostile: Batch, hostile_url: str) -> None:
    driver = browser
    driver.get(hostile_url)  # type: ignore[attr-defined]
    driver.find_element("link text", hostile.batch_id).click()  # type: ignore[attr-defined]
    assert sorted(rows(driver)) == sorted(["ok-1", "ok-2", "bad-1", "reg-1", HOSTILE_RUN])
    counts = text_of(driver, "ul.counts")
    assert "succeeded 3" in counts
    assert "failed 1" in counts
    assert "regressed 1" in counts
    from selenium.webdriver.support.ui import Select

    Select(driver.find_element("id", "f-status")).select_by_value("failed")  # type: ignore[attr-defined]
    wait_for(lambda: rows(driver) == ["bad-1"], timeout=LIVE_WITHIN, what="the status filter")
    assert "status=failed" in driver.current_url  # type: ignore[attr-defined]
    driver.find_element("css selector", "a[href='?']").click()  # clear  # type: ignore[attr-defined]
    driver.find_element("id", "f-q").send_keys("ok-")  # type: ignore[attr-defined]
    driver.find_element("id", "f-apply").click()  # type: ignore[attr-defined]
    wait_for(lambda: rows(driver) == ["ok-1", "ok-2"], timeout=LIVE_WITHIN, what="the text filter")
    driver.find_element("css selector", "a[data-sort='run']").click()  # type: ignore[attr-defined]
    wait_for(lambda: rows(driver) == ["ok-2", "ok-1"], timeout=LIVE_WITHIN, what="sorting by run, descending")
    assert "order=desc" in driver.current_url  # type: ignore[attr-defined]
    assert "q=ok-" in driver.current_url  # type: ignore[attr-defined]
    driver.find_element("link text", "ok-1").click()  # type: ignore[attr-defined]
    wait_for(lambda: "hello from ok-1" in text_of(driver, "pre.log"), timeout=LIVE_WITHIN, what="the log")


def test_escaping_holds_in_the_dom(browser: object, hostile: Batch, hostile_url: str) -> None:
    from selenium.common.exceptions import NoAlertPresentException

    driver = browser
    pages = {
        f"{hostile_url}batches/{hostile.batch_id}": HOSTILE_RUN,
        driver_run_url(hostile_url, hostile): SCRIPT,
    }
    pages |= {f"{hostile_url}batches/{hostile.batch_id}/runs/{run}": SCRIPT for run in ("bad-1", "reg-1")}
    for page, shown in pages.items():
        driver.get(page)  # type: ignore[attr-defined]
        for log in driver.find_elements("css selector", "pre.log"):  # type: ignore[attr-defined]
            wait_for(
                lambda log=log: log.get_attribute("data-over") == "true", timeout=LIVE_WITHIN, what="log"
            )
        found = driver.execute_script(  # type: ignore[attr-defined]
            "return [document.querySelectorAll('img').length,"
            " document.querySelectorAll('script:not([src=\"/static/dashboard.js\"])').length,"
            " document.querySelectorAll('[onerror]').length, document.body.innerText]"
        )
        assert found[:3] == [0, 0, 0], page
        assert shown in found[3], page  # as text
        with pytest.raises(NoAlertPresentException):
            driver.switch_to.alert.text  # type: ignore[attr-defined]  # noqa: B018


def driver_run_url(url: str, batch: Batch) -> str:
    from urllib.parse import quote

    return f"{url}batches/{batch.batch_id}/runs/{quote(HOSTILE_RUN, safe='')}"


def is_running(api: str) -> bool:
    """True once the dashboard's API shows the batch running (it reads the store at most once a second)."""
    try:
        with urllib.request.urlopen(api, timeout=30) as response:  # noqa: S310 - our own loopback URL
            return bool(json.loads(response.read())["state"] == "running")
    except urllib.error.HTTPError as refused:
        refused.close()  # its response holds the connection
        return False  # not queued yet, or not seen yet


WAITING_AGENT = """import pathlib, sys, time
run_id = sys.argv[1]
print("started", run_id, flush=True)
gate = pathlib.Path(sys.argv[2]) / run_id
while not gate.exists():
    time.sleep(0.1)
print("done", run_id)
"""


def start_waiting_batch(
    root: Path, *store: str, agent: str = WAITING_AGENT
) -> tuple[subprocess.Popen[str], Path, str]:
    """A `run` in its own process whose runs wait for a file each: the test decides when they end."""
    repo = make_project(root)
    (repo / "wait.py").write_text(agent)
    git(repo, "add", "-A")
    git(repo, "commit", "--quiet", "-m", "wait")
    gates = root / "gates"
    gates.mkdir()
    batch_id = f"live-{root.name[-6:]}"
    process = start_cli(
        "run",
        "--run-ids",
        "w-1,w-2",
        "--workers",
        "1",
        "--batch-id",
        batch_id,
        *store,
        "--command",
        f"{sys.executable} wait.py {{run_id}} {gates}",
        cwd=repo,
    )
    return process, gates, batch_id


@pytest.mark.parametrize("store", ["runs-dir", "postgresql"])
def test_a_run_finishing_elsewhere_shows_up_live(
    browser: object, tmp_path: Path, git_identity: None, request: pytest.FixtureRequest, store: str
) -> None:
    url_args = ["--database-url", request.getfixturevalue("database_url")] if store == "postgresql" else []
    process, gates, batch_id = start_waiting_batch(tmp_path, *url_args)
    repo = tmp_path / "project"
    driver = browser
    try:
        for url in dashboard(repo, *url_args):
            api = f"{url}api/batches/{batch_id}"
            wait_for(lambda api=api: is_running(api), timeout=120, what="the batch running")
            driver.get(f"{url}batches/{batch_id}")  # type: ignore[attr-defined]
            assert text_of(driver, "#batch-state") == "running"
            driver.execute_script("window.notReloaded = true")  # type: ignore[attr-defined]
            (gates / "w-1").touch()
            wait_for(
                lambda: text_of(driver, "tr[data-run-id='w-1'] .chip") == "succeeded",
                timeout=LIVE_WITHIN,
                what="w-1 shown succeeded",
            )
            assert driver.execute_script("return window.notReloaded") is True  # type: ignore[attr-defined]
            (gates / "w-2").touch()
            wait_for(
                lambda: text_of(driver, "#batch-state") == "ended",
                timeout=LIVE_WITHIN,
                what="the batch shown ended",
            )
            live = driver.find_element("id", "live").get_attribute("data-live")  # type: ignore[attr-defined]
            assert live == "false"  # it stopped polling
            assert driver.execute_script("return window.notReloaded") is True  # type: ignore[attr-defined]
    finally:
        for name in ("w-1", "w-2"):
            (gates / name).touch()
        finish(process, timeout=120)
    assert process.returncode == 0


def test_cancel_is_offered_only_when_allowed(
    browser: object, tmp_path: Path, git_identity: None, database_url: str
) -> None:
    repo = make_project(tmp_path)
    batch_id = f"cancel-{tmp_path.name[-6:]}"
    planned = cli(
        "plan",
        "--database-url",
        database_url,
        "--batch-id",
        batch_id,
        "--run-ids",
        "c-1,c-2,c-3",
        "--command",
        "true",
        cwd=repo,
    )
    assert planned.returncode == 0, planned.stderr
    driver = browser
    for url in dashboard(repo, "--database-url", database_url):
        driver.get(f"{url}batches/{batch_id}")  # type: ignore[attr-defined]
        assert driver.find_elements("id", "cancel") == []  # type: ignore[attr-defined]
    for url in dashboard(repo, "--database-url", database_url, "--allow-cancel"):
        driver.get(f"{url}batches/{batch_id}")  # type: ignore[attr-defined]
        driver.find_element("id", "cancel").click()  # type: ignore[attr-defined]
        wait_for(lambda: "cancelled=1" in driver.current_url, timeout=LIVE_WITHIN, what="the cancel")  # type: ignore[attr-defined]
        assert "not_started 3" in text_of(driver, "ul.counts")
        assert text_of(driver, "#batch-state") == "ended"
        assert driver.find_elements("id", "cancel") == []  # type: ignore[attr-defined]


def test_the_readme_screenshot_of_a_real_batch_page(
    browser: object, tmp_path_factory: pytest.TempPathFactory, git_identity: None
) -> None:
    """Taken here from a real batch; PARALLEL_RUNS_UPDATE_SCREENSHOT=1 writes it to docs/images/."""
    batch = run_batch(
        tmp_path_factory.mktemp("shot"), run_ids=("exp-1", "exp-2", "exp-3", "exp-4", "bad-1", "reg-1")
    )
    target = (
        SCREENSHOT if os.environ.get("PARALLEL_RUNS_UPDATE_SCREENSHOT") == "1" else batch.repo / "shot.png"
    )
    driver = browser
    for url in dashboard(batch):
        driver.get(f"{url}batches/{batch.batch_id}")  # type: ignore[attr-defined]
        driver.set_window_size(1280, 900)  # type: ignore[attr-defined]
        time.sleep(0.2)
        target.parent.mkdir(parents=True, exist_ok=True)
        assert driver.save_screenshot(str(target))  # type: ignore[attr-defined]
    data = target.read_bytes()
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert len(data) > 20_000
    assert shutil.which("true")
