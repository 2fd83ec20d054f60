"""`icingacli director ...` against the stack's Icinga Web 2 configuration.

Every command runs as the Director daemon's Debian user, `_director` with the
group icingaweb2 (what icingaweb2-module-director.service runs as), with
ICINGAWEB_CONFIGDIR set, from /. The daemon that runs the Director's jobs,
`icingacli director daemon run`, runs the same way in the foreground, in a
session of its own, and is stopped by PID.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Callable, Optional

from harness.graphs.process import clean_environment
from harness.icinga.environment import stop_session

USER, GROUP = "_director", "icingaweb2"
ICINGACLI = "/usr/bin/icingacli"
TIMEOUT = 300
STOP_TIMEOUT = 15
# `importsource list` and `syncrule list`: "  12 | name" rows under a header.
LISTED = re.compile(r"^\s*(\d+) \| (.+)$")
JOBS_QUERY = "SELECT job_name, id FROM director_job"


def as_director(command: list[str]) -> list[str]:
    return ["setpriv", f"--reuid={USER}", f"--regid={GROUP}", "--clear-groups", *command]


def listed_ids(output: str) -> dict[str, int]:
    """name -> id of a Director list command's table."""
    return {match[2].strip(): int(match[1])
            for match in map(LISTED.match, output.splitlines()) if match}


class DirectorCli:
    """The Director's CLI with `config_dir`; `sql(database, query)` reads its database."""

    def __init__(self, config_dir: Path, log_dir: Path,
                 sql: Callable[[str, str], list[tuple[str, ...]]]) -> None:
        self.config_dir = config_dir
        self.log_dir = log_dir
        self._sql = sql
        self._daemon: Optional[subprocess.Popen] = None
        self.sessions: set[int] = set()  # of every daemon started, to find what is left

    def environment(self) -> dict[str, str]:
        return clean_environment(ICINGAWEB_CONFIGDIR=str(self.config_dir))

    def command(self, *args: str) -> list[str]:
        return as_director([ICINGACLI, "director", *args])

    def run(self, *args: str, stdin: Optional[str] = None,
            check: bool = True) -> subprocess.CompletedProcess:
        """`icingacli director ARGS` (with `stdin`); with `check`, a non-zero exit
        raises AssertionError holding the command's output."""
        result = subprocess.run(self.command(*args), input=stdin, capture_output=True,
                                text=True, timeout=TIMEOUT, cwd="/", env=self.environment(),
                                check=False)
        if check and result.returncode != 0:
            raise AssertionError(f"icingacli director {' '.join(args)}: exit "
                                 f"{result.returncode}\n{result.stdout}{result.stderr}")
        return result

    def ids(self, kind: str) -> dict[str, int]:
        """name -> id of every "importsource", "syncrule" or "job"."""
        if kind == "job":
            return {name: int(number) for name, number in self._sql("director", JOBS_QUERY)}
        if kind not in ("importsource", "syncrule"):
            raise ValueError(f"no list of {kind!r} in the Director's CLI")
        return listed_ids(self.run(kind, "list").stdout)

    @property
    def daemon_log(self) -> Path:
        return self.log_dir / "director-daemon.out"

    def start_daemon(self) -> int:
        """`icingacli director daemon run` in the background; its PID."""
        if self._daemon is None or self._daemon.poll() is not None:
            with self.daemon_log.open("ab") as output:
                self._daemon = subprocess.Popen(
                    self.command("daemon", "run"), stdin=subprocess.DEVNULL, stdout=output,
                    stderr=subprocess.STDOUT, cwd="/", env=self.environment(),
                    start_new_session=True)
            self.sessions.add(self._daemon.pid)
        return self._daemon.pid

    def stop_daemon(self) -> None:
        daemon, self._daemon = self._daemon, None
        if daemon is not None:
            stop_session(daemon, STOP_TIMEOUT)
