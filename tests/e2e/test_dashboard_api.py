"""The dashboard's JSON API and pages over real batches, on both stores (issue #21, items 3 and 5).

Each store gets one real batch per module (`parallel-runs run` of a hostile agent: its run id, output,
error tail, a 1 MB line, its change and a test's failure message all carry markup), read through
Starlette's TestClient.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from parallel_runs.core.batch import BatchDefinition
from parallel_runs.core.command import CommandSpec
from parallel_runs.store import SharedStore
from tests.conftest import GIT_IDENTITY
from tests.dashboard_batches import HOSTILE_RUN, IMG, LONG_LINE, SCRIPT, Batch, client_of, run_batch
from tests.integration.postgres.conftest import database_url

__all__ = ["database_url"]  # the session's PostgreSQL database, for the postgresql batch

pytestmark = pytest.mark.xdist_group("dashboard")


@pytest.fixture(scope="module", params=["runs-dir", "postgresql"])
def batch(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Batch]:
    url = request.getfixturevalue("database_url") if request.param == "postgresql" else None
    with pytest.MonkeyPatch.context() as patch:
        for name, value in GIT_IDENTITY.items():
            patch.setenv(name, value)
        patch.setenv("GIT_CONFIG_GLOBAL", "/dev/null")
        yield run_batch(tmp_path_factory.mktemp(request.param), database_url=url)


def test_batches_lists_the_batch_with_its_counts_and_state(batch: Batch) -> None:
    with client_of(batch) as client:
        document = client.get("/api/batches").json()
    found = [b for b in document["batches"] if b["batch_id"] == batch.batch_id]
    assert len(found) == 1
    assert found[0]["counts"] == {"succeeded": 3, "failed": 1, "regressed": 1}
    assert found[0]["state"] == "ended"
    assert found[0]["live"] is False
    assert document["live"] is False or any(b["live"] for b in document["batches"])
    assert found[0]["hosts"] == [socket.gethostname()]  # as the batch page says, and the batches page


def run_ids(client: object, batch: Batch, query: str) -> list[str]:
    response = client.get(f"/api/batches/{batch.batch_id}/runs?{query}")  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text
    return [run["run_id"] for run in response.json()["runs"]]


def test_runs_filter_sort_and_page_on_the_server(batch: Batch) -> None:
    with client_of(batch) as client:
        assert run_ids(client, batch, "status=failed") == ["bad-1"]
        assert run_ids(client, batch, "status=regressed") == ["reg-1"]
        assert run_ids(client, batch, "q=OK-") == ["ok-1", "ok-2"]  # free text, any case
        assert run_ids(client, batch, "q=boom") == ["bad-1"]  # found in the error tail
        assert run_ids(client, batch, "") == sorted(run_ids(client, batch, ""))
        assert run_ids(client, batch, "order=desc") == sorted(run_ids(client, batch, ""), reverse=True)
        by_tests = run_ids(client, batch, "sort=tests&order=desc")
        assert by_tests[0] == "reg-1"  # the one new failure sorts first
        host = client.get(f"/api/batches/{batch.batch_id}").json()["hosts"][0]
        assert len(run_ids(client, batch, f"host={host}")) == 5
        assert run_ids(client, batch, "host=elsewhere") == []
        page = client.get(f"/api/batches/{batch.batch_id}/runs?per_page=2&page=3").json()
    assert (page["matched"], page["total"], page["pages"], len(page["runs"])) == (5, 5, 3, 1)


def test_a_run_has_its_attempts_tests_and_artifacts(batch: Batch) -> None:
    with client_of(batch) as client:
        run = client.get(f"/api/batches/{batch.batch_id}/runs/reg-1").json()
        (attempt,) = run["attempts"]
        assert attempt["status"] == "regressed"
        assert attempt["tests"]["new_failures"] == ["tests/test_calc.py::TestAdd::test_add"]
        assert SCRIPT in next(iter(attempt["tests"]["messages"].values()))
        names = {file["name"] for file in attempt["artifacts"]}
        assert {"changes.patch", "run.log", "result.json"} <= names
        patch = client.get(f"/batches/{batch.batch_id}/files/1?run=reg-1&name=changes.patch")
        assert patch.status_code == 200
        assert patch.headers["content-type"] == "application/octet-stream"
        assert b"-    return a + b" in patch.content
        missing = client.get(f"/batches/{batch.batch_id}/files/1?run=reg-1&name=../../etc/passwd")
        assert missing.status_code == 404


def test_a_log_is_read_in_pieces_to_its_end(batch: Batch) -> None:
    """bad-1 printed a 1 MB line: the log comes in pieces of at most 256 KiB, all of it, then `over`;
    each piece names where its part begins (`start`), which the next request hands back."""
    text, offset, cursor = "", 0, ""
    with client_of(batch) as client:
        for _ in range(20):
            url = f"/api/batches/{batch.batch_id}/logs/bad-1?attempt=1&offset={offset}{cursor}"
            piece = client.get(url).json()
            assert len(piece["text"]) <= 256 * 1024
            text, offset = text + piece["text"], piece["offset"]
            assert isinstance(piece["start"], int)
            cursor = f"&start={piece['start']}"
            if piece["over"]:
                break
        assert piece["over"]
    assert LONG_LINE in text
    assert SCRIPT in text
    assert "hello from bad-1" in text


@pytest.mark.parametrize(
    ("path", "status", "words"),
    [
        ("/api/batches/a%01b", 400, "invalid batch id"),
        ("/api/batches/{batch}/runs/" + "r" * 129, 400, "invalid run id"),
        ("/api/batches/{batch}/runs/a%E2%80%AEb", 400, "invalid run id"),  # a bidi override, as the CLI
        ("/api/batches/{batch}/runs?sort=evil", 400, "sort='evil' is not one of"),
        ("/api/batches/{batch}/runs?page=0", 400, "page='0' is not a number"),
        ("/api/batches/{batch}/logs/ok-1?attempt=x", 400, "attempt='x'"),
        ("/api/batches/no-such-batch", 404, "no such batch 'no-such-batch'"),
        ("/api/batches/{batch}/runs/no-such-run", 404, "no run 'no-such-run'"),
        ("/api/batches/{batch}/logs/ok-1?attempt=7&offset=0", 404, "no attempt 7"),
        ("/api/batches/{batch}/logs/ok-1?attempt=1&offset=0&start=-1", 400, "start='-1'"),
    ],
)
def test_bad_ids_and_parameters_are_one_line_errors(batch: Batch, path: str, status: int, words: str) -> None:
    with client_of(batch) as client:
        response = client.get(path.replace("{batch}", batch.batch_id))
    assert response.status_code == status
    assert words in response.json()["error"]
    assert "Traceback" not in response.text


def page_texts(client: object, batch: Batch) -> dict[str, str]:
    """Every page of the batch: the batches page, the batch page (and its live part), each run's page."""
    base = f"/batches/{batch.batch_id}"
    paths = ["/", base, f"{base}?fragment=1", f"{base}?q=%3Cscript%3E"]
    runs = client.get(f"/api/batches/{batch.batch_id}/runs").json()["runs"]  # type: ignore[attr-defined]
    paths += [f"{base}/runs/{run['run_id']}" for run in runs]
    texts = {}
    for path in paths:
        response = client.get(path)  # type: ignore[attr-defined]
        assert response.status_code == 200, (path, response.text[:500])
        assert response.headers["content-type"].startswith("text/html")
        texts[path] = response.text
    return texts


def test_what_a_run_wrote_is_escaped_on_every_page(batch: Batch) -> None:
    with client_of(batch) as client:
        texts = page_texts(client, batch)
    everything = "\n".join(texts.values())
    for hostile in (SCRIPT, IMG, HOSTILE_RUN, "<b>boom</b>"):
        assert hostile not in everything
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in everything  # shown, as text
    assert "x&#34;&gt;&lt;img/src=x/onerror=alert(3)&gt;" in everything  # the run id
    reg = texts[f"/batches/{batch.batch_id}/runs/reg-1"]
    assert '<span class="d-add">+    return a - b</span>' in reg  # the change, as a diff
    assert "tests/test_calc.py::TestAdd::test_add" in reg
    # Only our own scripts: no <script> element but the one the base template loads.
    assert {m for text in texts.values() for m in re.findall(r"<script[^>]*>", text)} <= {
        '<script src="/static/dashboard.js" defer>'
    }


def test_no_known_secret_leaves_in_any_response(batch: Batch) -> None:
    """The dashboard hides what it knows is secret (its URL's password, tokens) even where a run wrote it."""
    secret = "hello from"  # every run printed it: as if it were a password the dashboard knows
    with client_of(batch, secrets_known=(secret,)) as client:
        texts = page_texts(client, batch)
        texts["api"] = client.get(f"/api/batches/{batch.batch_id}/logs/ok-1?attempt=1&offset=0").text
        texts["run"] = client.get(f"/api/batches/{batch.batch_id}/runs/bad-1").text
    for path, text in texts.items():
        assert secret not in text, path
    assert "***" in texts["api"]


def test_a_token_is_required_on_every_request(batch: Batch) -> None:
    token = "t" * 24
    with client_of(batch, token=token) as client:
        assert client.get("/api/batches").status_code == 401
        assert client.get("/static/dashboard.css").status_code == 401
        assert client.get("/", headers={"Authorization": f"Bearer {'x' * 24}"}).status_code == 401
        assert client.get("/api/batches", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert client.get(f"/?token={token}").status_code == 200  # sets the cookie the browser sends
        assert client.get("/api/batches").status_code == 200
        assert token not in client.get("/").text


def test_a_page_asked_for_another_host_is_refused(batch: Batch) -> None:
    """Bound to loopback, a request naming another host (a DNS-rebinding page) gets nothing."""
    with client_of(batch) as client:
        assert client.get("/api/batches", headers={"Host": "evil.example"}).status_code == 400
        assert client.get("/api/batches", headers={"Host": "localhost:8765"}).status_code == 200


def queued_batch(database_url: str, tmp_path: Path) -> tuple[SharedStore, Batch]:
    """A batch queued in the shared store that nobody works yet."""
    store = SharedStore.connect(database_url, spool_dir=tmp_path / "spool")
    definition = BatchDefinition(
        batch_id=f"queued-{tmp_path.name[-8:]}",
        run_ids=("q-1", "q-2"),
        command=CommandSpec(argv=("true",)),
        base_sha="a" * 40,
    )
    store.enqueue(definition)
    return store, Batch(definition.batch_id, tmp_path, tmp_path / "runs", database_url)


def csrf_of(page: str) -> str | None:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    return found.group(1) if found else None


def test_cancel_needs_allow_cancel_and_the_csrf_token(database_url: str, tmp_path: Path) -> None:
    store, batch = queued_batch(database_url, tmp_path)
    cancel = f"/batches/{batch.batch_id}/cancel"
    with store:
        with client_of(batch) as client:  # read-only: no button, and the POST is refused
            assert csrf_of(client.get(f"/batches/{batch.batch_id}").text) is None
            assert client.post(cancel, data={"csrf": "x"}).status_code == 403
        with client_of(batch, allow_cancel=True) as client:
            page = client.get(f"/batches/{batch.batch_id}").text
            token = csrf_of(page)
            assert token is not None
            assert 'id="cancel"' in page
            assert client.post(cancel, data={}).status_code == 403
            assert client.post(cancel, data={"csrf": token[:-1] + "x"}).status_code == 403
            assert client.get(f"/api/batches/{batch.batch_id}").json()["state"] == "queued"
            done = client.post(cancel, data={"csrf": token}, follow_redirects=False)
            assert done.status_code == 303
            after = client.get(f"/api/batches/{batch.batch_id}").json()
        assert after["counts"] == {"not_started": 2}
        assert after["state"] == "ended"
        assert store.is_batch_finished(batch.batch_id)
