"""One Icinga 2 node of the cluster: its own directories, API port and process.

Like the icinga tier's Daemon: `icinga2 daemon` in the foreground, in its own
session, as the tests' user (ICINGA2_USER/GROUP), every directory under one
root through the -D constants, the API on 127.0.0.1 only, stopped by PID.
The node's icinga2.conf holds what /etc/icinga2 holds on a packaged node
(constants, zones.conf, the API feature, the ITL includes with
<plugins-contrib>, where the package's CheckCommands are); ConfigDir/zones.d
holds the cluster config an operator puts on the master.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from harness.icinga.environment import daemon_environment, stop_session
from harness.icinga.icinga2 import ICINGA2, Dirs, open_api, output_tail, run_as_me

STOP_TIMEOUT = 20
API_USER = "check-vm-cluster"
API_NOISE = ("HttpServerConnection", "(no client certificate)")


def node_config(node: str, port: int, password: str, zones: str, state_dir: Path) -> str:
    """icinga2.conf of a node: what Debian's constants.conf, zones.conf, the api
    feature (accepting config and commands from the parent) and icinga2.conf hold."""
    return f"""\
const PluginDir = "/usr/lib/nagios/plugins"
const PluginContribDir = "/usr/lib/nagios/plugins"
const ManubulonPluginDir = "/usr/lib/nagios/plugins"
const NodeName = "{node}"
const ZoneName = NodeName

{zones}
object ApiListener "api" {{
	bind_host = "127.0.0.1"
	bind_port = "{port}"
	accept_config = true
	accept_commands = true
}}
object ApiUser "{API_USER}" {{
	password = "{password}"
	permissions = [ "*" ]
}}
object CheckerComponent "checker" {{ }}
object FileLogger "main-log" {{
	severity = "information"
	path = LogDir + "/icinga2.log"
}}
object IcingaApplication "app" {{
	vars.vm_state_dir = "{state_dir}"
}}

include <itl>
include <plugins>
include <plugins-contrib>
"""


class ClusterNode:
    """A node: `name` is its NodeName, endpoint and (for agents) zone name."""

    def __init__(self, root: Path, name: str, port: int) -> None:
        self.root = root
        self.name = name
        self.port = port
        self.dirs = Dirs(root)
        self.zones_d = self.dirs.path("ConfigDir") / "zones.d"
        self._password = secrets.token_hex(16)
        self._process: Optional[subprocess.Popen] = None

    @property
    def data_dir(self) -> Path:
        return self.dirs.path("DataDir")

    @property
    def pid(self) -> int:
        assert self._process is not None, f"{self.name} is not running"
        return self._process.pid

    def running(self) -> bool:
        """Started and not exited."""
        return self._process is not None and self._process.poll() is None

    @property
    def log_path(self) -> Path:
        return self.dirs.path("LogDir") / "icinga2.log"

    def write_config(self, zones: str, state_dir: Path) -> Path:
        config = self.root / "icinga2.conf"
        config.write_text(node_config(self.name, self.port, self._password, zones, state_dir))
        return config

    def add_zone_file(self, zone: str, name: str, text: str) -> Path:
        """A file of ConfigDir/zones.d/ZONE (the master's cluster config)."""
        path = self.zones_d / zone / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        return path

    def validate(self) -> subprocess.CompletedProcess:
        """`icinga2 daemon -C` of the node's config as it is now."""
        return subprocess.run(self._command("-C"), capture_output=True, text=True,
                              timeout=120, env=self._environment(), check=False)

    def start(self, timeout: float = 60) -> None:
        """Start the daemon and wait until its API answers."""
        output = (self.root / "daemon.out").open("a")
        self._process = subprocess.Popen(self._launcher() + self._command(), stdout=output,
                                         stderr=subprocess.STDOUT, start_new_session=True,
                                         env=self._environment())
        output.close()
        self._wait_for_api(timeout, after=0)

    def stop(self) -> None:
        """SIGTERM to the daemon's PID, SIGKILL to what is left of its session."""
        process, self._process = self._process, None
        if process is not None:
            stop_session(process, STOP_TIMEOUT)

    def reload(self, timeout: float = 60) -> None:
        """SIGHUP, as `systemctl reload icinga2` sends: wait for the new worker's API."""
        before = self.program_start()
        os.kill(self.pid, signal.SIGHUP)
        self._wait_for_api(timeout, after=before)

    def program_start(self) -> float:
        status = self.api("/v1/status/IcingaApplication")
        return status["results"][0]["status"]["icingaapplication"]["app"]["program_start"]

    def api(self, path: str, body: Optional[dict] = None) -> dict:
        """GET (or, with a body, POST) an API path; the decoded JSON answer."""
        with self.open_api(path, body, timeout=15) as response:
            return json.load(response)

    def open_api(self, path: str, body: Optional[dict], timeout: float):
        """The open HTTP response of an API path (POST with a body), for streams
        such as /v1/events; `timeout` bounds each read."""
        context = ssl.create_default_context(
            cafile=str(self.data_dir / "certs" / "ca.crt"))
        context.check_hostname = False  # the CN is the node name, not 127.0.0.1
        return open_api(self.port, (API_USER, self._password), path, body, context, timeout)

    def objects(self, kind: str, *attrs: str, joins: tuple[str, ...] = ()) -> dict[str, dict]:
        """Attributes (and joined host attributes) of every Host or Service, by name."""
        query = "&".join([*(f"attrs={a}" for a in attrs), *(f"joins={j}" for j in joins)])
        answer = self.api(f"/v1/objects/{kind.lower()}s?{query}")
        return {r["name"]: {**r["attrs"], "joins": r.get("joins", {})}
                for r in answer["results"]}

    def log_tail(self, lines: int = 25) -> str:
        """The log's last lines, without the tests' own API requests."""
        with contextlib.suppress(OSError):
            text = self.log_path.read_text(errors="replace").splitlines()
            kept = [line for line in text if not any(noise in line for noise in API_NOISE)]
            return "\n".join(kept[-lines:])
        return ""

    def _command(self, *extra: str) -> list[str]:
        # ZonesDir is derived from ConfigDir before -D is read: name it too.
        return [ICINGA2, "daemon", *extra, "-c", str(self.root / "icinga2.conf"),
                *self.dirs.defines(), f"-DZonesDir={self.zones_d}"]

    def _launcher(self) -> list[str]:
        """What the daemon's command line is prefixed with when it starts (nothing)."""
        return []

    def _environment(self) -> dict[str, str]:
        return {**daemon_environment(), **run_as_me()}

    def _wait_for_api(self, timeout: float, after: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"{self.name}: icinga2 exited with "
                                   f"{self._process.returncode}:\n{self._output_tail()}")
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError, KeyError):
                if self.program_start() > after:
                    return
            time.sleep(0.3)
        raise RuntimeError(f"{self.name}: the API did not answer within {timeout} s:\n"
                           + self._output_tail())

    def _output_tail(self) -> str:
        return output_tail(self.root / "daemon.out")
