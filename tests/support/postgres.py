"""A PostgreSQL cluster of a test's own: initdb into a temporary directory, served on a free loopback port.
A test may stop and start it (a database outage) without touching any other server, least of all the
system one on 5432."""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
from pathlib import Path

from broker.mosquitto import free_port, wait_for_port


def postgres_bindir() -> Path | None:
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    initdb = shutil.which("initdb") or (bins[-1] if bins else None)
    return Path(initdb).resolve().parent if initdb else None


class PgCluster:
    """``PgCluster(workdir).init().start()``; ``dsn`` is the server URL (no database)."""

    def __init__(self, workdir: Path, bindir: Path | None = None) -> None:
        found = bindir or postgres_bindir()
        if found is None:
            raise FileNotFoundError("initdb not found (apt-get install postgresql)")
        self.bindir = found
        self.workdir = workdir
        self.data = workdir / "pgdata"
        self.port = free_port()
        # PostgreSQL refuses to run as root: as root, run its tools as the ``postgres`` account.
        self._as_pg = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}"

    def _run(self, *args: str) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([*self._as_pg, *args], check=True, capture_output=True)

    def init(self) -> PgCluster:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self._as_pg:
            shutil.chown(self.workdir, "postgres")
        self._run(str(self.bindir / "initdb"), "-D", str(self.data), "-A", "trust", "-U", "postgres")
        return self

    def start(self, timeout: float = 30.0) -> PgCluster:
        self._run(str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l", str(self.workdir / "pg.log"), "-w",
                  "-t", str(int(timeout)), "start",
                  "-o", f"-p {self.port} -k {self.workdir} -c listen_addresses=127.0.0.1")
        wait_for_port("127.0.0.1", self.port, timeout=timeout)
        return self

    def stop(self, mode: str = "fast") -> None:
        """``fast``: clients are disconnected, clean shutdown; ``immediate``: a crash (recovery on start)."""
        subprocess.run([*self._as_pg, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                        "stop"], check=False, capture_output=True)

    def log(self) -> str:
        path = self.workdir / "pg.log"
        return path.read_text(errors="replace") if path.exists() else ""
