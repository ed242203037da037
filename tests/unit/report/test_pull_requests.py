"""Each run's pull request (recorded by the action, issue #21) in every report format: a column only
when some run has one, a link where the format has links, and never a link that is not http(s)."""

from __future__ import annotations

import json
from dataclasses import replace

from parallel_runs.core.model import Outcome, PullRequest
from parallel_runs.core.runs_query import page_of
from parallel_runs.report import build_rows, render_html, render_json, render_markdown, render_table_text
from parallel_runs.report.templating import render_template
from parallel_runs.report.views import Query, batch_context, snapshot_state
from tests.unit.report.attempts import T0, record

URL = "https://github.example/o/r/pull/7"
PULLED = replace(record("fixed", 1, Outcome.SUCCEEDED), pull_request=PullRequest(7, URL))
ROWS = build_rows([PULLED, record("broke", 1, Outcome.FAILED)])


def test_the_table_and_markdown_show_the_pull_request_column_only_when_a_run_has_one() -> None:
    table = render_table_text(ROWS, width=200)
    assert "\u2503 PR \u2503" in table, table  # the header
    assert "\u2502 #7 \u2502" in table, table
    assert "\u2502 -  \u2502" in table, table
    markdown = render_markdown(ROWS, title="t")
    assert "| pull request |" in markdown
    assert f"[#7]({URL})" in markdown
    without = build_rows([record("broke", 1, Outcome.FAILED)])
    assert "PR" not in render_table_text(without, width=200)
    assert "pull request" not in render_markdown(without, title="t")


def test_json_gives_the_number_and_url() -> None:
    runs = {run["run_id"]: run for run in json.loads(render_json(ROWS))["runs"]}
    assert runs["fixed"]["pull_request"] == {"number": 7, "url": URL}
    assert runs["broke"]["pull_request"] is None


def test_the_static_html_names_the_pull_request_without_a_url() -> None:
    page = render_html(ROWS, title="t", now=T0)
    assert "<th>pull request</th>" in page
    assert '<td class="pull">#7</td>' in page
    assert "http" not in page.replace("http-equiv", "")


def test_the_live_batch_page_links_an_http_address_only() -> None:
    hostile = replace(PULLED, run_id="evil", slug="evil", pull_request=PullRequest(8, "javascript:alert(1)"))
    rows = build_rows([PULLED, hostile])
    query = Query()
    context = batch_context(page_of(rows, query.runs()), query, snapshot_state(rows), timeline=rows, now=T0)
    page = render_template("_batch_live.html", live_server=True, quote=lambda text, safe="": text, **context)
    assert f'<a class="pull" href="{URL}" rel="noopener noreferrer">#7</a>' in page
    assert '<td class="pull">#8</td>' in page
    assert "javascript:" not in page
