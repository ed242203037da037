"""What an agent needs, through the action (issue #20 item 2): `env` and `run-secrets` reach every run,
a secret that is not named reaches none, no secret value is in anything the runner keeps, and
`setup` runs once per leg before the batch; when it fails, no run starts. In the step harness,
plan → 2 legs → report on a new, empty database."""

from __future__ import annotations

import json
import secrets
from collections import Counter
from collections.abc import Callable
from pathlib import Path

from sqlalchemy.engine import make_url

from parallel_runs.core.urls import without_password
from tests.action_flow import Workflow, table_rows
from tests.action_harness import ActionResult
from tests.helpers import clone

IDS = ("t-1", "t-2", "t-3", "t-4")
NAMED = "sk-agent-" + secrets.token_hex(12)  # the agent's API key, named in run-secrets
UNNAMED = "sk-other-" + secrets.token_hex(12)  # another of the caller's secrets
TOKEN = "ghs_" + secrets.token_hex(16)
PASSWORD = "pw-" + secrets.token_hex(
    8
)  # the store's (the test server's trust auth ignores it)  # what toJSON(secrets) holds as github_token
# What `secrets: inherit` hands the reusable workflow, which gives the legs toJSON(secrets).
CALLER_SECRETS = json.dumps({"AGENT_API_KEY": NAMED, "OTHER_SECRET": UNNAMED, "github_token": TOKEN})


def environments(ledger: Path) -> dict[str, dict[str, str]]:
    """run id -> the environment its command had (written NUL-separated by `env -0`)."""
    found = {}
    for path in ledger.glob("*.env"):
        pairs = [item.split("=", 1) for item in path.read_text().split("\0") if "=" in item]
        found[path.stem] = dict(pairs)
    return found


def captured(results: list[ActionResult]) -> dict[str, str]:
    """Everything the harness captured of each step: log (mask commands aside), outputs, summary."""
    texts = {}
    for number, result in enumerate(results):
        texts[f"job {number} log"] = result.visible_log
        texts[f"job {number} outputs"] = json.dumps(result.outputs)
        texts[f"job {number} summary"] = result.summary
        for step in result.steps:
            texts[f"job {number} step {step.id} outputs"] = json.dumps(step.outputs)
    return texts


def test_env_and_named_secrets_reach_every_run_and_no_secret_leaks(
    make_repo: Callable[..., Path], tmp_path: Path, scratch_database: Callable[[], str]
) -> None:
    repo = make_repo()
    ledger = tmp_path / "ledger"
    ledger.mkdir()
    workflow = Workflow(tmp_path / "workflow")
    first, second = clone(repo, "clone-a"), clone(repo, "clone-b")
    inputs = {
        "run-ids": ",".join(IDS),
        "command": 'env -0 > "$LEDGER/$PARALLEL_RUNS_RUN_ID.env"; echo done > out.txt',
        "database-url": make_url(scratch_database())
        .set(password=PASSWORD)
        .render_as_string(hide_password=False),
        "batch-id": f"agents-{secrets.token_hex(3)}",
    }
    plan = workflow.job(first, "plan").run(inputs | {"mode": "plan", "max-jobs": "2"})
    assert plan.ok, plan.log
    leg_inputs = inputs | {
        "env": f"# where the runs write\nLEDGER={ledger}\nMODEL=claude-x=1\n",
        "run-secrets": "AGENT_API_KEY",
        "secrets": CALLER_SECRETS,
        "setup": f'echo "setup in $PWD, key $AGENT_API_KEY, model $MODEL"\necho "$PWD" >> "{ledger}/setups"\n'
        f'echo "$PARALLEL_RUNS_DATABASE_URL" >> "{ledger}/setup-urls"',
    }
    legs = workflow.legs([first, second], leg_inputs, plan)
    for leg in legs:
        assert leg.ok, leg.log
        assert NAMED in leg.masks  # ::add-mask:: before anything prints it
        # The setup's output, redacted, in its own group, before the batch.
        setup_line = next(line for line in leg.visible_log.splitlines() if line.startswith("setup in "))
        assert setup_line.endswith(", key ***, model claude-x=1")
        assert leg.visible_log.index("::group::setup") < leg.visible_log.index(setup_line)
    # Once per leg, in its checkout.
    assert Counter((ledger / "setups").read_text().split()) == Counter([str(first), str(second)])
    # The setup has what a run has: the store's URL without its password.
    urls = (ledger / "setup-urls").read_text().split()
    assert urls == [without_password(inputs["database-url"])] * 2
    assert all(make_url(url).password is None for url in urls)
    report = workflow.job(tmp_path, "report").run(
        {"mode": "report", "batch-id": inputs["batch-id"]} | {"database-url": inputs["database-url"]}
    )
    assert report.ok, report.log
    assert table_rows(report.summary) == [(run_id, "succeeded") for run_id in IDS]

    seen = environments(ledger)
    assert sorted(seen) == sorted(IDS)  # every run, once each (a second write would not show; the
    for run_id, env in seen.items():  # report's table says each succeeded at its first attempt)
        assert env["AGENT_API_KEY"] == NAMED, run_id
        assert env["MODEL"] == "claude-x=1", run_id
        raw = (ledger / f"{run_id}.env").read_text()
        for value in (UNNAMED, TOKEN, CALLER_SECRETS):
            assert value not in raw, run_id
        assert "PARALLEL_RUNS_ACTION_SECRETS" not in env, run_id

    texts = captured([plan, *legs, report])
    texts |= {
        str(path): path.read_bytes().decode("utf-8", "replace")
        for root in (workflow.artifacts, first, second, workflow.root)
        for path in root.rglob("*")
        if path.is_file() and ".git" not in path.parts and not path.name.startswith("_step_")
    }
    assert any("run.log" in name for name in texts)  # the runs' own files were searched
    for name, text in texts.items():
        for value in (NAMED, UNNAMED, TOKEN, PASSWORD):
            assert value not in text, name


def test_a_failed_setup_fails_the_leg_before_any_run_starts(repo: Path, tmp_path: Path) -> None:
    ledger = tmp_path / "ledger"
    workflow = Workflow(tmp_path / "workflow")
    leg = workflow.job(repo, "run").run(
        {
            "mode": "run",
            "run-ids": "a,b",
            "command": f"echo $PARALLEL_RUNS_RUN_ID >> {ledger}",
            "setup": "echo installing the agent\nnpm-that-is-not-there install -g agent\necho unreachable",
        }
    )
    main = leg.step("main")
    assert main.outcome == "failure", leg.log
    assert main.returncode == 1
    assert "installing the agent" in main.stdout
    assert "unreachable" not in main.stdout
    [error] = [line for line in main.stdout.splitlines() if line.startswith("::error title=setup::")]
    assert "setup exited 127; no run was started" in error
    assert "npm-that-is-not-there" in error  # its last lines say why
    assert not ledger.exists()  # no run started
    assert (leg.outputs["run-count"], leg.outputs["status"]) == ("0", "failure")
    assert not list((repo / ".autonomous_runs").glob("*/result.json"))
