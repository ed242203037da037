"""Small helpers for tests (not fixtures)."""

from __future__ import annotations

import ctypes
import importlib.util
import io
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from pathlib import Path

from parallel_runs import cli as cli_module

# What the pytest processes a test starts are given (tests/conftest.py `lean_child_pytest`): none of
# the plugins this venv has for our own tests or the dashboard's libraries (hypothesis, anyio), which
# the projects never use and which cost a child pytest 0.45 s of its 0.8 s of CPU.
LEAN_PYTEST_ADDOPTS = "-p no:hypothesispytest -p no:anyio"


BENCH = Path(__file__).resolve().parents[1] / "bench"


def read_by_make_bench(script: str, output: str) -> None:
    """Every figure `make bench`'s table (bench/all.py) reads from bench/`script` is in its output."""
    spec = importlib.util.spec_from_file_location("bench_all", BENCH / "all.py")
    assert spec is not None
    assert spec.loader is not None
    table = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(table)
    assert table.unread(script, output) == [], f"make bench cannot read these from {script}:\n{output}"


def git(repo: Path, *args: str) -> str:
    """Run git in `repo` and return its stripped stdout."""
    done = subprocess.run(["git", *args], cwd=repo, check=True, capture_output=True, text=True)
    return done.stdout.strip()


def clone(repo: Path, name: str) -> Path:
    """A clone of `repo` beside it, as actions/checkout would make on another runner."""
    target = repo.parent / name
    git(repo.parent, "clone", "--quiet", str(repo), str(target))
    return target


def run_cli(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `python -m parallel_runs ARGS` as a real subprocess and capture its output."""
    return subprocess.run(
        [sys.executable, "-m", "parallel_runs", *args],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def cli(
    *args: str,
    cwd: Path,
    env: dict[str, str] | None = None,
    timeout: float = 120,
    stdin: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """`run_cli`'s in-process twin: `parallel_runs.cli.main(ARGS)` with its output captured.

    For what the process itself does not show (not signals, kills, start-up, nor locks and leases
    held across processes): it spares an interpreter start-up per call. The working directory,
    the environment, signal handlers and the child-subreaper flag are put back afterwards.
    `timeout` is run_cli's; here the test's own pytest-timeout bounds the call.
    """
    del timeout
    out, err = _stream(), _stream()
    with _in_process(cwd=cwd, env=env or {}, stdin=stdin or "", stderr=err), redirect_stdout(out):
        try:
            code = cli_module.main(list(args))
        except SystemExit as exc:  # --help and --version exit as argparse does
            code = exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 1
    return subprocess.CompletedProcess(["parallel-runs", *args], code, _text(out), _text(err))


def _stream(data: bytes = b"") -> io.TextIOWrapper:
    """A text stream with a `.buffer`, as sys.stdout has (`logs` and `artifacts get` write bytes)."""
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8", write_through=True)


def _text(stream: io.TextIOWrapper) -> str:
    stream.flush()
    raw = stream.buffer
    assert isinstance(raw, io.BytesIO)
    return raw.getvalue().decode()


_PR_SET_CHILD_SUBREAPER, _PR_GET_CHILD_SUBREAPER = 36, 37
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD)


@contextmanager
def _in_process(*, cwd: Path, env: dict[str, str], stdin: str, stderr: io.TextIOWrapper) -> Iterator[None]:
    """What a fresh `parallel-runs` process would have had: cwd, environment, stdin, log handler."""
    saved_env, saved_cwd, saved_stdin = dict(os.environ), Path.cwd(), sys.stdin
    saved_signals = {sig: signal.getsignal(sig) for sig in _SIGNALS}
    libc = ctypes.CDLL(None, use_errno=True)
    reaper = ctypes.c_int(0)
    libc.prctl(_PR_GET_CHILD_SUBREAPER, ctypes.byref(reaper), 0, 0, 0)
    # main's logging.basicConfig is a no-op under pytest (its capture handler is on the root logger).
    handler = logging.StreamHandler(stderr)
    handler.setFormatter(logging.Formatter(f"{cli_module.PROG}: %(message)s"))
    handler.setLevel(logging.WARNING)
    root = logging.getLogger()
    saved_level = root.level
    os.environ.update(env)
    os.chdir(cwd)
    sys.stdin = _stream(stdin.encode())
    root.addHandler(handler)
    root.setLevel(logging.WARNING)
    try:
        with redirect_stderr(stderr):
            yield
    finally:
        root.removeHandler(handler)
        root.setLevel(saved_level)
        sys.stdin = saved_stdin
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)
        for sig, previous in saved_signals.items():
            signal.signal(sig, previous)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, reaper.value, 0, 0, 0)


# The processes start_cli started in the current test: a test that fails before it waits for one
# leaves it to `reap_started` (tests/conftest.py), not to the next test on the worker, which would
# otherwise fail on the ResourceWarning of its garbage-collected Popen.
STARTED: list[subprocess.Popen[str]] = []


def reap_started() -> None:
    """Kill what start_cli started and is still running, and wait for all of it (pipes closed)."""
    while STARTED:
        process = STARTED.pop()
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=60)


def outlives_the_test(process: subprocess.Popen[str]) -> subprocess.Popen[str]:
    """A process a wider-scoped fixture started and ends itself: not reaped when the test ends."""
    STARTED.remove(process)
    return process


def start_cli(*args: str, cwd: Path, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start `python -m parallel_runs ARGS` in the background (stdout/stderr captured)."""
    process = subprocess.Popen(
        [sys.executable, "-m", "parallel_runs", *args],
        cwd=cwd,
        # SIGABRT (see `finish`) then prints every thread's stack to stderr.
        env={**os.environ, "PYTHONFAULTHANDLER": "1", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    STARTED.append(process)
    return process


def finish(process: subprocess.Popen[str], *, timeout: float = 60) -> tuple[str, str]:
    """`process.communicate()`; past `timeout`, fail the test with the stacks of its threads."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)  # a start_cli process dumps its threads' stacks
        out, err = process.communicate()
        raise AssertionError(f"still running after {timeout}s:\n{out}\n{err}") from None


def wait_for(predicate: Callable[[], bool], *, timeout: float = 120, what: str = "condition") -> None:
    """Poll `predicate` until true; fail the test after `timeout` seconds (ample on a machine with
    several times more work than cores: it bounds a failing test, it does not measure speed)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}{what_started_said()}")
        time.sleep(0.05)


def what_started_said() -> str:
    """The exit codes and output of the test's start_cli processes, the running ones after SIGABRT
    (their threads' stacks): why a wait timed out, rather than only that it did."""
    said = []
    for process in STARTED:
        if process.poll() is None:
            process.send_signal(signal.SIGABRT)
        try:
            out, err = process.communicate(timeout=30)  # "" for output a `finish` read already
        except subprocess.TimeoutExpired:  # stuck even past SIGABRT
            out, err = "", ""
        said.append(f"\n--- process {process.pid}: exit {process.returncode}\n{out}\n{err}")
    return "".join(said)


def processes_with(marker: str) -> list[int]:
    """Pids of live (non-zombie) processes whose command line contains `marker`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if marker in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


@contextmanager
def live_python(script: str, *args: str, ready: str) -> Iterator[subprocess.Popen[str]]:
    """`python -c script ARGS` once it printed `ready`, alive until its stdin closes; then it must exit 0."""
    process = subprocess.Popen(
        [sys.executable, "-c", script, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == ready
        yield process
    finally:
        process.communicate(input="", timeout=30)
    assert process.returncode == 0
