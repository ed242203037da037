"""A PgBouncer of the test's own, in transaction pooling, in front of a private cluster.

Debian's `pgbouncer` is installed when missing, as root through apt-get, as the Makefile does for
chromium; otherwise the scenario skips (and fails in CI). It runs as `postgres` (it refuses root),
with its config in a tmp dir and on a free port, and is stopped when the block ends.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from tests.chaos.support import wait_until
from tests.integration.postgres.conftest import skip_locally_fail_in_ci
from tests.integration.postgres.private_server import PrivateServer

__all__ = ["pgbouncer"]

_CONFIG = """\
[databases]
* = host=127.0.0.1 port={server_port}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = trust
auth_file = {home}/userlist.txt
pool_mode = transaction
default_pool_size = {pool_size}
max_db_connections = {pool_size}
max_client_conn = 1000
logfile = {home}/pgbouncer.log
pidfile = {home}/pgbouncer.pid
"""


def _installed() -> str:
    binary = shutil.which("pgbouncer") or "/usr/sbin/pgbouncer"
    if not Path(binary).is_file():
        if os.geteuid() != 0 or not shutil.which("apt-get"):
            skip_locally_fail_in_ci("no pgbouncer, and installing it needs root and apt-get")
        environ = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-q"], check=True, capture_output=True)
        install = ["apt-get", "install", "-y", "-q", "pgbouncer"]
        subprocess.run(install, check=True, capture_output=True, env=environ)
    return binary


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


@contextmanager
def pgbouncer(server: PrivateServer, *, pool_size: int) -> Iterator[str]:
    """The URL of the server's `postgres` database through a PgBouncer of at most `pool_size`
    server connections (transaction pooling)."""
    binary = _installed()
    home = Path(tempfile.mkdtemp(prefix="parallel-runs-pgbouncer-", dir="/dev/shm"))
    port = _free_port()
    (home / "pgbouncer.ini").write_text(
        _CONFIG.format(server_port=server.port, port=port, home=home, pool_size=pool_size)
    )
    (home / "userlist.txt").write_text('"postgres" ""\n')
    shutil.chown(home, "postgres", "postgres")
    log = (home / "out").open("w")
    process = subprocess.Popen(
        [binary, str(home / "pgbouncer.ini")], user="postgres", group="postgres", stdout=log, stderr=log
    )
    try:
        wait_until(lambda: _accepts(port) or process.poll() is not None, timeout=30, step=0.05)
        if not _accepts(port):
            raise AssertionError(f"pgbouncer did not start: {(home / 'pgbouncer.log').read_text()}")
        yield make_url(server.url).set(port=port).render_as_string(hide_password=False)
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()
        shutil.rmtree(home, ignore_errors=True)
