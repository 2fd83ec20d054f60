"""MariaDB of the stack: its own datadir and socket, 127.0.0.1 and a free port, user mysql.

`mariadb-install-db` initialises the datadir (small redo log and system
tablespace: the tier's data is tiny); `mariadbd --no-defaults` runs in the
foreground as root, dropping to mysql itself, so its PID is the Popen's.
root logs in over the socket (unix_socket authentication); the Icinga
components use one user with a password over TCP.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from harness.graphs.process import Daemon, free_ports

USER = "mysql"
SMALL_FILES = ("--innodb-log-file-size=8M", "--innodb-data-file-path=ibdata1:4M:autoextend")
DB_USER, DB_PASSWORD = "checkvm", "checkvm-web"
TIMEOUT = 60


class MariaDB(Daemon):
    """mariadbd under `root`, with `sql()` as root over its socket."""

    name = "mariadbd"

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        [self.port] = free_ports(1)
        self.datadir = root / "data"
        self.run_dir = root / "run"
        self.socket = self.run_dir / "mysqld.sock"

    def prepare(self) -> None:
        for directory in (self.datadir, self.run_dir):
            directory.mkdir(parents=True, exist_ok=True)
            shutil.chown(directory, USER, USER)
        if not (self.datadir / "mysql").exists():
            subprocess.run(["mariadb-install-db", "--no-defaults", f"--user={USER}",
                            f"--datadir={self.datadir}", "--auth-root-authentication-method=socket",
                            "--skip-test-db", *SMALL_FILES],
                           capture_output=True, text=True, check=True, timeout=TIMEOUT)

    def command(self) -> list[str]:
        return ["/usr/sbin/mariadbd", "--no-defaults", f"--datadir={self.datadir}",
                f"--socket={self.socket}", f"--port={self.port}", "--bind-address=127.0.0.1",
                f"--user={USER}", f"--pid-file={self.run_dir / 'mysqld.pid'}", "--skip-log-bin",
                "--innodb-buffer-pool-size=32M", *SMALL_FILES,
                f"--log-error={self.root / 'mysqld.err'}"]

    def ready(self) -> bool:
        return self._client("", "SELECT 1", check=False).returncode == 0

    def ports(self) -> set[int]:
        return {self.port}

    def sql(self, database: str, query: str) -> list[tuple[str, ...]]:
        """The rows of `query` in `database` ('' for none), each a tuple of its columns."""
        output = self._client(database, query, check=True).stdout
        return [tuple(line.split("\t")) for line in output.splitlines()]

    def load(self, database: str, schema: Path) -> None:
        """Run the statements of a schema file in `database`."""
        with schema.open() as statements:
            subprocess.run([*self._client_command(database)], stdin=statements,
                           capture_output=True, text=True, check=True, timeout=TIMEOUT)

    def create_database(self, name: str, charset: str = "utf8mb4") -> None:
        """An empty database and the one user, who may do anything in it."""
        hosts = ("localhost", "127.0.0.1")
        statements = [f"CREATE USER IF NOT EXISTS '{DB_USER}'@'{host}' "
                      f"IDENTIFIED BY '{DB_PASSWORD}'" for host in hosts]
        statements.append(f"CREATE DATABASE IF NOT EXISTS {name} CHARACTER SET {charset}")
        statements.extend(f"GRANT ALL ON {name}.* TO '{DB_USER}'@'{host}'" for host in hosts)
        self.sql("", ";\n".join(statements))

    def _client_command(self, database: str) -> list[str]:
        return ["/usr/bin/mariadb", "--no-defaults", f"--socket={self.socket}", "--user=root",
                "-N", "-B", *([database] if database else [])]

    def _client(self, database: str, query: str, check: bool) -> subprocess.CompletedProcess:
        result = subprocess.run([*self._client_command(database), "-e", query],
                                capture_output=True, text=True, check=False, timeout=TIMEOUT)
        if check and result.returncode != 0:
            raise RuntimeError(f"mariadb {database}: {query[:200]}: {result.stderr.strip()}")
        return result
