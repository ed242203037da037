"""A PostgreSQL cluster of the test's own in /dev/shm, which it may stop and start at will: the
shared server on 127.0.0.1:5432 serves other tests meanwhile and is never stopped."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from parallel_runs.store import upgrade
from tests.integration.postgres.conftest import skip_locally_fail_in_ci

_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"))


class PrivateServer:
    """One throwaway cluster: its URL, and pg_ctl start/stop."""

    def __init__(self, data: Path, port: int) -> None:
        self.data, self.port = data, port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/postgres"

    def _pg_ctl(self, *args: str) -> None:
        options = f"-p {self.port} -k {self.data} -c listen_addresses=127.0.0.1"
        command = [
            str(_BIN[-1] / "pg_ctl"),
            "-D",
            str(self.data),
            "-o",
            options,
            "-w",
            "-l",
            str(self.data / "log"),
        ]
        subprocess.run(["runuser", "-u", "postgres", "--", *command, *args], check=True, capture_output=True)

    def start(self) -> None:
        """Start the server and wait until it accepts connections."""
        self._pg_ctl("start")

    def stop(self, mode: str = "immediate") -> None:
        """Stop it: at once by default (as a crash or a failover would: no client is waited for), or
        `fast` (as an administrator's restart: sessions are ended, the server shuts down cleanly)."""
        self._pg_ctl("-m", mode, "stop")

    def restart(self) -> None:
        """Restart it as an administrator would (`pg_ctl restart`: clients are disconnected)."""
        self._pg_ctl("restart")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def private_server() -> Iterator[PrivateServer]:
    """A fresh, migrated cluster (as root, with the PostgreSQL server binaries); removed afterwards."""
    if os.geteuid() != 0 or not _BIN or shutil.which("runuser") is None:
        skip_locally_fail_in_ci("a private PostgreSQL cluster needs root and the server binaries")
    data = Path(tempfile.mkdtemp(prefix="parallel-runs-test-pg-", dir="/dev/shm"))
    shutil.chown(data, "postgres", "postgres")
    server = PrivateServer(data, _free_port())
    try:
        initdb = [str(_BIN[-1] / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres"]
        subprocess.run(["runuser", "-u", "postgres", "--", *initdb], check=True, capture_output=True)
        server.start()
        upgrade(server.url)
        yield server
    finally:
        subprocess.run(
            [
                "runuser",
                "-u",
                "postgres",
                "--",
                str(_BIN[-1] / "pg_ctl"),
                "-D",
                str(data),
                "-m",
                "immediate",
                "stop",
            ],
            capture_output=True,
            check=False,
        )
        shutil.rmtree(data, ignore_errors=True)
