"""What every Icinga 2 daemon of the tests shares: the Icinga tier's and the cluster's.

`icinga2 daemon` runs in the foreground, in a session of its own, as the
tests' user (ICINGA2_USER/GROUP), with every directory it writes under one
root through the -D constants (Dirs), its API on 127.0.0.1 only, and is
stopped by PID (and what is left of its session). Subclasses say how the
config is written, how the API's certificate is trusted and when the API
counts as up.
"""

from __future__ import annotations

import base64
import contextlib
import grp
import json
import os
import pwd
import secrets
import ssl
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable, Optional

from harness.polling import poll

from .environment import TOOLS, daemon_environment, stop_session

ICINGA2 = TOOLS["icinga2"]
STOP_TIMEOUT = 20
# The tests' own API requests, which the log records and a reader does not need.
API_NOISE = ("HttpServerConnection", "(no client certificate)")


def run_as_me() -> dict[str, str]:
    """ICINGA2_USER/GROUP: the daemon keeps the tests' user instead of nagios."""
    return {"ICINGA2_USER": pwd.getpwuid(os.getuid()).pw_name,
            "ICINGA2_GROUP": grp.getgrgid(os.getgid()).gr_name}


class Dirs:
    """The daemon's writable directories, all under `root`."""

    # ConfigDir too: the daemon loads every directory of ConfigDir/zones.d.
    NAMES = {"DataDir": "lib", "CacheDir": "cache", "LogDir": "log",
             "SpoolDir": "spool", "InitRunDir": "run", "ConfigDir": "etc"}

    def __init__(self, root: Path) -> None:
        self.root = root
        for name in self.NAMES.values():
            (root / name).mkdir(parents=True, exist_ok=True)

    def path(self, constant: str) -> Path:
        return self.root / self.NAMES[constant]

    def defines(self) -> list[str]:
        return [f"-D{constant}={self.path(constant)}" for constant in self.NAMES]


def open_api(port: int, credentials: tuple[str, str], path: str, body: Optional[dict],
             context: ssl.SSLContext, timeout: float):
    """The open HTTP response of a path of the API on 127.0.0.1:`port` (POST with a
    body), as the API user `credentials` (name, password); `timeout` bounds each read."""
    token = base64.b64encode(":".join(credentials).encode()).decode()
    request = urllib.request.Request(
        f"https://127.0.0.1:{port}{path}",
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Accept": "application/json", "Authorization": f"Basic {token}"},
        method="POST" if body is not None else "GET")
    return urllib.request.urlopen(request, context=context, timeout=timeout)


def output_tail(path: Path, lines: int = 30) -> str:
    """The last lines a daemon wrote to its output file."""
    text = path.read_text(errors="replace")
    return "\n".join(text.splitlines()[-lines:])


def api_checker_and_log(api_user: str, password: str) -> str:
    """Config text every node of the tiers holds: its API user, the checker and a
    log file in its LogDir."""
    return f"""\
object ApiUser "{api_user}" {{
	password = "{password}"
	permissions = [ "*" ]
}}
object CheckerComponent "checker" {{ }}
object FileLogger "main-log" {{
	severity = "information"
	path = LogDir + "/icinga2.log"
}}
"""


class IcingaDaemon:
    """One `icinga2 daemon` under `root`, its API on 127.0.0.1:`api_port` for `api_user`."""

    api_user = "check-vm-test"
    api_poll_interval = 0.2

    def __init__(self, root: Path, name: str, api_port: int) -> None:
        self.root = root
        self.name = name
        self.api_port = api_port
        self.dirs = Dirs(root)
        self._password = secrets.token_hex(16)
        self._process: Optional[subprocess.Popen] = None

    @property
    def log_path(self) -> Path:
        return self.dirs.path("LogDir") / "icinga2.log"

    @property
    def pid(self) -> int:
        assert self._process is not None, f"{self.name} is not running"
        return self._process.pid

    def running(self) -> bool:
        """Started and not exited."""
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """SIGTERM to the daemon's PID, SIGKILL to what is left of its session."""
        process, self._process = self._process, None
        if process is not None:
            stop_session(process, STOP_TIMEOUT)

    def api(self, path: str, body: Optional[dict] = None) -> dict:
        """GET (or, with a body, POST) an API path; the decoded JSON answer."""
        with self.open_api(path, body, timeout=15) as response:
            return json.load(response)

    def open_api(self, path: str, body: Optional[dict], timeout: float):
        """The open HTTP response of an API path (POST with a body), for streams
        such as /v1/events; `timeout` bounds each read."""
        return open_api(self.api_port, (self.api_user, self._password), path, body,
                        self.tls_context(), timeout)

    def tls_context(self) -> ssl.SSLContext:
        """How the API's certificate is trusted."""
        raise NotImplementedError

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def log_tail(self, lines: int = 25) -> str:
        """The log's last lines, without the tests' own API requests."""
        kept = [line for line in self.log_text().splitlines()
                if not any(noise in line for noise in API_NOISE)]
        return "\n".join(kept[-lines:])

    def environment(self) -> dict[str, str]:
        return {**daemon_environment(), **run_as_me()}

    def spawn(self, command: list[str], api_up: Callable[[], bool], timeout: float) -> None:
        """Start `command` with its output in daemon.out; wait until `api_up()`."""
        with (self.root / "daemon.out").open("a") as output:
            self._process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT,
                                             start_new_session=True, env=self.environment())
        self.wait_for_api(api_up, timeout)

    def wait_for_api(self, api_up: Callable[[], bool], timeout: float) -> None:
        """Until `api_up()` is true; RuntimeError if the daemon exits or the time is up."""
        def up_or_exited() -> bool:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name}: icinga2 exited with "
                                   f"{self._process.returncode}:\n{self.output_tail()}")
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError, KeyError):
                return api_up()
            return False
        if not poll(up_or_exited, timeout, self.api_poll_interval):
            raise RuntimeError(f"{self.name}: the API did not answer within {timeout} s:\n"
                               + self.output_tail())

    def output_tail(self) -> str:
        return output_tail(self.root / "daemon.out")
