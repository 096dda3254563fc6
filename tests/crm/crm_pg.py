"""A throwaway PostgreSQL 15 server for the CRM store tests (one per test session).

Runs initdb/pg_ctl from /usr/lib/postgresql/15/bin as user `postgres` (we may be
root) in a temp dir, listening on 127.0.0.1 on a free port; each test gets a
fresh database. Skips loudly when the binaries are missing."""
from __future__ import annotations

import atexit
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

PG_BIN = Path(os.environ.get("IVR_PG_BIN", "/usr/lib/postgresql/15/bin"))
_server: "PgServer | None" = None
_db_counter = itertools.count(1)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PgServer:
    """start=False: initdb only; the port is chosen (free now) but nothing listens on it
    until start(). halt() stops it keeping its data (an outage); stop() removes it all."""

    def __init__(self, fsync: bool = False, start: bool = True) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="crm-pg-"))
        self.port = _free_port()
        self.fsync = fsync
        self.running = False
        self._as = []
        if os.geteuid() == 0:            # postgres refuses to run as root
            shutil.chown(self.dir, "postgres", "postgres")
            self._as = ["runuser", "-u", "postgres", "--"]
        data = self.dir / "data"
        self._run(PG_BIN / "initdb", "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync")
        self.data = data
        if start:
            self.start()

    def start(self) -> None:
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-l", self.dir / "log", "-w", "-t", "60", "-o",
                  f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                  f"-c fsync={'on' if self.fsync else 'off'}", "start")
        self.running = True

    def halt(self) -> None:
        """The server goes down (fast shutdown: sessions are cut); start() brings it back."""
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "fast", "-w", "stop")
        self.running = False

    def _run(self, *args: object) -> None:
        cmd = self._as + [str(a) for a in args]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        if res.returncode:
            log = (self.dir / "log").read_text() if (self.dir / "log").exists() else ""
            raise RuntimeError(f"{' '.join(cmd)} failed ({res.returncode}):\n{res.stdout}{res.stderr}{log}")

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def new_database(self) -> str:
        import psycopg
        name = f"crm_test_{os.getpid()}_{next(_db_counter)}"
        with psycopg.connect(self.url(), autocommit=True) as c:
            c.execute(f"CREATE DATABASE {name}")
        return self.url(name)

    def require_password(self, user: str, password: str) -> None:
        """A role that must give its password (scram); the others stay trusted."""
        import psycopg
        with psycopg.connect(self.url(), autocommit=True) as c:
            c.execute(f"CREATE ROLE {user} LOGIN PASSWORD '{password}'")
        hba = self.data / "pg_hba.conf"
        hba.write_text(f"host all {user} 127.0.0.1/32 scram-sha-256\n" + hba.read_text())
        self._run(PG_BIN / "pg_ctl", "-D", self.data, "reload")
        deadline = time.monotonic() + 10           # the reload is asynchronous
        while time.monotonic() < deadline:
            try:
                psycopg.connect(self.url(user=user), connect_timeout=2).close()
            except psycopg.OperationalError:
                return                             # a password is asked for now
            time.sleep(0.1)
        raise RuntimeError(f"pg_hba.conf reload did not take effect in {self.dir}")

    def stop(self) -> None:
        try:
            if self.running:
                self._run(PG_BIN / "pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
                self.running = False
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def pg_server() -> PgServer:
    """Start the shared server on first use (stopped at interpreter exit)."""
    global _server
    missing = [b for b in ("initdb", "pg_ctl", "postgres") if not (PG_BIN / b).exists()]
    if missing:
        pytest.skip(f"!!! PostgreSQL 15 binaries missing ({', '.join(missing)} in {PG_BIN}): the CRM "
                    "PostgreSQL tests did NOT run. Install them: apt-get install -y postgresql")
    if _server is None:
        _server = PgServer()
        atexit.register(_server.stop)
    return _server


@pytest.fixture(params=["sqlite", "postgresql"])
def crm_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, empty CRM store URL on each backend."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/crm/crm.db"
    return pg_server().new_database()
