"""Running Icinga 2 for tests: config validation and a private foreground daemon.

Everything the daemon reads besides its config and writes (state, cache, logs,
PID file, API certificates) lives under one temporary directory, through the
-D constants DataDir, CacheDir, LogDir, SpoolDir, InitRunDir and ConfigDir.
It runs as the user running the tests (ICINGA2_USER/ICINGA2_GROUP), so the
checks can write their state where the test says. The API listens on
127.0.0.1 only; the node is its own endpoint, so services with
`command_endpoint = <this node>` run locally, as on a hypervisor's agent.
"""

from __future__ import annotations

import base64
import contextlib
import grp
import json
import os
import pwd
import secrets
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Optional

from harness.paths import CHECKS, ICINGA_CONF

from .environment import TOOLS, daemon_environment, stop_session

ICINGA2 = TOOLS["icinga2"]
STOP_TIMEOUT = 20


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


def validate(config: Path, root: Path) -> subprocess.CompletedProcess:
    """`icinga2 daemon -C -c CONFIG`, with its cache and state under `root`."""
    command = [ICINGA2, "daemon", "-C", "-c", str(config), *Dirs(root).defines()]
    return subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={**daemon_environment(), **run_as_me()}, check=False)


def errors_of(result: subprocess.CompletedProcess) -> str:
    """The critical lines of a validation, with the lines that locate them."""
    lines = (result.stdout + result.stderr).splitlines()
    wanted = [line for line in lines if "critical/" in line or line.startswith(("Location", "/"))]
    return "\n".join(wanted[-40:])


def compiled_objects(root: Path) -> dict[tuple[str, str], dict]:
    """The objects the last validation under `root` compiled: (type, name) -> attributes.

    Read from the debug object file (CacheDir/icinga2.debug), a sequence of
    netstrings of JSON records.
    """
    data = (Dirs(root).path("CacheDir") / "icinga2.debug").read_bytes()
    objects, position = {}, 0
    while position < len(data):
        colon = data.index(b":", position)
        end = colon + 1 + int(data[position:colon])
        record = json.loads(data[colon + 1:end])
        properties = record["properties"]
        objects[record["type"], properties.get("__name", record["name"])] = properties
        position = end + 1  # the netstring's trailing comma
    return objects


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def make_certificate(node: str, certs: Path) -> None:
    """A self-signed certificate for `node`, which is also its own CA."""
    certs.mkdir(parents=True, exist_ok=True)
    key, cert = certs / f"{node}.key", certs / f"{node}.crt"
    if shutil.which("openssl"):
        command = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
                   "-subj", f"/CN={node}", "-days", "2", "-keyout", str(key), "-out", str(cert)]
        env = None
    else:  # slower (a 4096-bit key), but always there
        command = [ICINGA2, "pki", "new-cert", "--cn", node, "--key", str(key),
                   "--cert", str(cert)]
        env = {**os.environ, **run_as_me()}
    subprocess.run(command, capture_output=True, check=True, timeout=120, env=env)
    shutil.copyfile(cert, certs / "ca.crt")


def influxdb_writer(port: int) -> str:
    """An InfluxdbWriter into InfluxDB on 127.0.0.1:port (database "icinga2"),
    with thresholds and one metadata point per check result."""
    return f"""\
object InfluxdbWriter "influxdb" {{
	host = "127.0.0.1"
	port = "{port}"
	flush_interval = 1s
	enable_send_thresholds = true
	enable_send_metadata = true
}}
"""


def graphite_writer(port: int) -> str:
    """A GraphiteWriter into carbon's plaintext receiver on 127.0.0.1:port, with
    thresholds (`.warn`, `.crit`, `.min`, `.max` beside each `.value`)."""
    return f"""\
object GraphiteWriter "graphite" {{
	host = "127.0.0.1"
	port = "{port}"
	enable_send_thresholds = true
}}
"""


def base_config(node: str, api_port: int, password: str, writers: str, zones_dir: Path,
                plugin_dir: Path = CHECKS) -> str:
    """A standalone node: API on loopback, checker, log file, the metric `writers`
    (config text), the shipped commands.conf and templates.conf with the plugins in
    `plugin_dir`, and `zones_dir` as zone "master"."""
    return f"""\
const CheckVmPluginDir = "{plugin_dir}"
const NodeName = "{node}"

object Endpoint NodeName {{ }}
object Zone "master" {{ endpoints = [ NodeName ] }}
object ApiListener "api" {{
	bind_host = "127.0.0.1"
	bind_port = "{api_port}"
}}
object ApiUser "check-vm-test" {{
	password = "{password}"
	permissions = [ "*" ]
}}
object CheckerComponent "checker" {{ }}
object FileLogger "main-log" {{
	severity = "information"
	path = LogDir + "/icinga2.log"
}}
{writers}
include <itl>
include "{ICINGA_CONF / 'commands.conf'}"
include "{ICINGA_CONF / 'templates.conf'}"
include_zones "check_vm", "{zones_dir}"
"""


class Daemon:
    """`icinga2 daemon` in the foreground, stopped by PID (and its process group)."""

    def __init__(self, root: Path, writers: str, node: str = "check-vm-test-node",
                 plugin_dir: Path = CHECKS) -> None:
        self.root = root
        self.node = node
        self.dirs = Dirs(root)
        self.zones = root / "zones.d"
        (self.zones / "master").mkdir(parents=True, exist_ok=True)
        self.api_port = free_port()
        self._password = secrets.token_hex(16)
        self._writers = writers
        self._plugin_dir = plugin_dir
        self._process: Optional[subprocess.Popen] = None

    @property
    def log_path(self) -> Path:
        return self.dirs.path("LogDir") / "icinga2.log"

    def add_config(self, name: str, text: str) -> None:
        """A file of zone "master" (hosts, services), before start()."""
        (self.zones / "master" / name).write_text(text)

    def start(self, timeout: float = 60) -> None:
        """Write the config and certificate, start, wait until the API answers."""
        make_certificate(self.node, self.dirs.path("DataDir") / "certs")
        config = self.root / "icinga2.conf"
        config.write_text(base_config(self.node, self.api_port, self._password,
                                      self._writers, self.zones, self._plugin_dir))
        stdout = (self.root / "daemon.out").open("w")
        self._process = subprocess.Popen(
            [ICINGA2, "daemon", "-c", str(config), *self.dirs.defines()],
            stdout=stdout, stderr=subprocess.STDOUT, start_new_session=True,
            env={**daemon_environment(), **run_as_me()})
        stdout.close()
        self._wait_for_api(timeout)

    def stop(self) -> None:
        """SIGTERM to the umbrella process (it stops the worker), then SIGKILL to any rest."""
        process, self._process = self._process, None
        if process is not None:
            stop_session(process, STOP_TIMEOUT)

    def api(self, path: str, body: Optional[dict] = None) -> dict:
        """GET (or, with a body, POST) an API path; the decoded JSON answer."""
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # our own self-signed certificate
        with open_api(self.api_port, ("check-vm-test", self._password), path, body, context,
                      timeout=15) as response:
            return json.load(response)

    def objects(self, kind: str, *attrs: str) -> dict[str, dict]:
        """Attributes of every Host or Service, by full name (host!service)."""
        query = "&".join(f"attrs={attr}" for attr in attrs)
        answer = self.api(f"/v1/objects/{kind.lower()}s?{query}")
        return {result["name"]: result["attrs"] for result in answer["results"]}

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def _wait_for_api(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"icinga2 exited with {self._process.returncode}:\n"
                                   + self._output_tail())
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError):
                self.api("/v1/status/IcingaApplication")
                return
            time.sleep(0.2)
        raise RuntimeError(f"icinga2's API did not answer within {timeout} s:\n"
                           + self._output_tail())

    def _output_tail(self) -> str:
        return output_tail(self.root / "daemon.out")


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
