"""A real PostgreSQL server for tests: initdb in a temp folder, 127.0.0.1 on a free port, a user with a password.

The server binaries come from PATH or /usr/lib/postgresql/<version>/bin; where they are missing and we
are root, Debian's `postgresql` package is installed with apt-get. initdb refuses to run as root, so
as root the server runs as the unprivileged user `nobody`. Tests that need it take the `postgres`
fixture (a session server) and `pg_db` (a fresh database on it, owned by the password user).
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from os_packages import apt_install

USER = "inat"
SUPERUSER = "pgadmin"


def find_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl (PATH first, then the newest Debian/Ubuntu install)."""
    found = shutil.which("initdb")
    if found and shutil.which("pg_ctl"):
        return Path(os.path.realpath(found)).parent
    versions = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"),
                      key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0)
    return Path(versions[-1]).parent if versions else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class PgServer:
    """One throw-away cluster: ``url(db)`` carries the password, ``url(db, password=False)`` does not."""

    bin_dir: Path
    root: Path
    port: int
    password: str

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    def _run(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        """Run a server binary as the cluster's owner (``nobody`` when we are root)."""
        kwargs = {}
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            kwargs = {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}
        done = subprocess.run([str(self.bin_dir / args[0]), *args[1:]], capture_output=True, text=True,
                              timeout=timeout, cwd=self.root, **kwargs)
        if done.returncode != 0:
            log = (self.root / "server.log").read_text()[-2000:] if (self.root / "server.log").exists() else ""
            raise RuntimeError(f"{args[0]} failed ({done.returncode}): {done.stdout}{done.stderr}\n{log}")
        return done

    def init(self) -> None:
        pwfile = self.root / "superuser.pw"
        pwfile.write_text(secrets.token_hex(16) + "\n")
        if os.geteuid() == 0:
            nobody = pwd.getpwnam("nobody")
            for path in (self.root, pwfile):
                os.chown(path, nobody.pw_uid, nobody.pw_gid)
        self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "-E", "UTF8", "--auth-local=trust",
                  "--auth-host=scram-sha-256", f"--pwfile={pwfile}", "--no-instructions")
        pwfile.unlink()

    def start(self) -> None:
        opts = f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root}"
        self._run("pg_ctl", "-D", str(self.data_dir), "-l", str(self.root / "server.log"), "-w", "-t", "60",
                  "-o", opts, "start", timeout=90)

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "stop", timeout=90)

    def restart(self, down_s: float) -> None:
        """Stop the server (every connection is cut), stay down ``down_s`` seconds, start it again."""
        self.stop()
        time.sleep(down_s)
        self.start()

    def admin(self, sql: str) -> None:
        """Run SQL as the superuser over the Unix socket (trusted: no password)."""
        import psycopg

        with psycopg.connect(host=str(self.root), port=self.port, user=SUPERUSER, dbname="postgres",
                             autocommit=True) as conn:
            conn.execute(sql)

    def create_database(self) -> str:
        name = f"t_{secrets.token_hex(4)}"
        self.admin(f'CREATE DATABASE "{name}" OWNER "{USER}"')
        return name

    def url(self, database: str, password: bool = True) -> str:
        creds = f"{USER}:{self.password}" if password else USER
        return f"postgresql://{creds}@127.0.0.1:{self.port}/{database}"

    def pgpass_line(self, database: str) -> str:
        return f"127.0.0.1:{self.port}:{database}:{USER}:{self.password}\n"


@pytest.fixture(scope="session")
def postgres():
    """A running PostgreSQL server with user ``inat`` WITH PASSWORD (random); installed when missing."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        reason = apt_install("postgresql", "--no-install-recommends")
        bin_dir = find_bin_dir()
        if bin_dir is None:
            pytest.skip(f"PostgreSQL server unavailable: {reason or 'initdb not found after install'}")
    root = Path(tempfile.mkdtemp(prefix="inat-cnn-pg-"))  # not under pytest's root-only tmp: nobody owns it
    server = PgServer(bin_dir, root, _free_port(), password="pw-" + secrets.token_hex(12))
    try:
        server.init()
        server.start()
        server.admin(f"CREATE USER \"{USER}\" WITH PASSWORD '{server.password}'")
        yield server
    finally:
        try:
            server.stop()
        except (RuntimeError, subprocess.TimeoutExpired):
            pass
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_db(postgres) -> str:
    """A fresh database on the session server, owned by the password user; its name."""
    return postgres.create_database()
