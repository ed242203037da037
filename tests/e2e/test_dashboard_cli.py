"""`parallel-runs dashboard` as a user starts it: real processes, a real port, Ctrl-C (issue #21 item 1)."""

from __future__ import annotations

import json
import re
import signal
import socket
import urllib.request
from pathlib import Path

import pytest

from tests.helpers import cli, finish, start_cli


def serve(repo: Path, *args: str, env: dict[str, str] | None = None) -> tuple[object, str]:
    """Start the dashboard on a free port; its process and base URL once it listens."""
    process = start_cli("dashboard", "--port", "0", *args, cwd=repo, env=env)
    assert process.stdout is not None
    line = process.stdout.readline()
    found = re.search(r"at (http://\S+/) ", line)
    assert found, line + (process.stderr.read() if process.poll() is not None else "")  # type: ignore[union-attr]
    return process, found.group(1)


def test_it_serves_until_ctrl_c_then_stops_cleanly(repo: Path) -> None:
    process, url = serve(repo)
    with urllib.request.urlopen(f"{url}api/batches", timeout=30) as response:  # noqa: S310 - our own loopback URL
        assert json.loads(response.read()) == {"batches": [], "live": False, "version": ""}
    with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310
        assert "No batches found" in response.read().decode()
    process.send_signal(signal.SIGINT)  # type: ignore[attr-defined]
    out, err = finish(process)  # type: ignore[arg-type]
    assert process.returncode == 0, err  # type: ignore[attr-defined]
    assert "dashboard stopped" in out
    assert "Traceback" not in err


def test_another_loopback_address_it_accepts_without_a_token_is_served(repo: Path) -> None:
    # The command and the app agree on loopback: 127.0.0.2 needs no token, so its requests are served.
    process, url = serve(repo, "--host", "127.0.0.2")
    assert url.startswith("http://127.0.0.2:")
    with urllib.request.urlopen(f"{url}api/batches", timeout=30) as response:  # noqa: S310 - our own loopback URL
        assert response.status == 200
    process.send_signal(signal.SIGINT)  # type: ignore[attr-defined]
    finish(process)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ("--host", "0.0.0.0"),  # noqa: S104 - refused without a token
            "--host 0.0.0.0 is reachable from other machines: give --token",
        ),
        (("--host", "192.0.2.1", "--token", "short"), "--token has 5 characters, at least 16"),
        (("--allow-cancel",), "--allow-cancel needs --database-url"),
        (("--read-only", "--allow-cancel"), "not allowed with argument"),
        (("--port", "70000"), "--port 70000 is not a port"),
        (("--runs-dir", "/nonexistent/runs"), "runs dir /nonexistent/runs does not exist"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(repo: Path, args: tuple[str, ...], words: str) -> None:
    done = cli("dashboard", *args, cwd=repo, timeout=60)
    assert done.returncode == 2, done.stdout + done.stderr
    assert words in done.stderr
    assert "Traceback" not in done.stderr


def test_a_busy_port_is_one_line_and_exit_2(repo: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = cli("dashboard", "--port", str(port), cwd=repo, timeout=60)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_off_loopback_every_request_carries_the_token(repo: Path) -> None:
    """The token from the environment (kept out of the process list); no request gets in without it."""
    token = "a-token-of-24-characters"
    every = "0.0.0.0"  # noqa: S104 - every address, with the token
    process, url = serve(repo, "--host", every, env={"PARALLEL_RUNS_DASHBOARD_TOKEN": token})
    try:
        url = url.replace(every, "127.0.0.1")
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}api/batches", timeout=30)  # noqa: S310
        refused.value.close()  # its response holds the connection
        assert refused.value.code == 401
        asked = urllib.request.Request(f"{url}api/batches", headers={"Authorization": f"Bearer {token}"})  # noqa: S310
        with urllib.request.urlopen(asked, timeout=30) as response:  # noqa: S310
            assert response.status == 200
    finally:
        process.send_signal(signal.SIGINT)  # type: ignore[attr-defined]
        finish(process)  # type: ignore[arg-type]
    assert process.returncode == 0  # type: ignore[attr-defined]


def test_the_options_read_their_variables(repo: Path) -> None:
    env = {"PARALLEL_RUNS_DASHBOARD_ALLOW_CANCEL": "1", "PARALLEL_RUNS_DASHBOARD_PORT": "99999"}
    done = cli("dashboard", cwd=repo, env=env, timeout=60)
    assert done.returncode == 2
    assert "--port 99999 is not a port" in done.stderr
    done = cli("dashboard", cwd=repo, env={"PARALLEL_RUNS_DASHBOARD_ALLOW_CANCEL": "1"}, timeout=60)
    assert "--allow-cancel needs --database-url" in done.stderr
    done = cli("dashboard", cwd=repo, env={"PARALLEL_RUNS_DASHBOARD_HOST": "192.0.2.1"}, timeout=60)
    assert "--host 192.0.2.1 is reachable from other machines" in done.stderr
