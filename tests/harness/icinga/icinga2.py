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

import json
import os
import shutil
import socket
import ssl
import subprocess
from pathlib import Path

from harness.paths import CHECKS, ICINGA_CONF

from .daemon import ICINGA2, Dirs, IcingaDaemon, api_checker_and_log, run_as_me
from .environment import daemon_environment


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


def zoned_configuration(root: Path, generated: dict[str, str],
                        satellite_files: tuple[str, ...] = ("example-hosts-per-vm.conf",),
                        ) -> Path:
    """A main config as an operator installs check_vm: commands.conf and
    templates.conf in the global zone, `satellite_files` of icinga2-conf/ and
    `generated` (file name -> text) in the satellite zone, the parent of the
    hypervisors' agent zones (example-zones.conf)."""
    zones = root / "zones.d"
    for zone, names in (("global-templates", ("commands.conf", "templates.conf")),
                        ("satellite", satellite_files)):
        (zones / zone).mkdir(parents=True)
        for name in names:
            (zones / zone / name).symlink_to(ICINGA_CONF / name)
    for name, text in generated.items():
        (zones / "satellite" / name).write_text(text, encoding="utf-8")
    config = root / "icinga2.conf"
    config.write_text(f'const CheckVmPluginDir = "{CHECKS}"\n'
                      "include <itl>\n"
                      f'include "{ICINGA_CONF / "example-zones.conf"}"\n'
                      f'include_zones "check_vm", "{zones}"\n')
    return config


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
                plugin_dir: Path = CHECKS, templates: Path = ICINGA_CONF / "templates.conf") -> str:
    """A standalone node: API on loopback, checker, log file, the metric `writers`
    (config text), the shipped commands.conf and `templates` (the shipped
    templates.conf) with the plugins in `plugin_dir`, and `zones_dir` as zone "master"."""
    return f"""\
const CheckVmPluginDir = "{plugin_dir}"
const NodeName = "{node}"

object Endpoint NodeName {{ }}
object Zone "master" {{ endpoints = [ NodeName ] }}
object ApiListener "api" {{
	bind_host = "127.0.0.1"
	bind_port = "{api_port}"
}}
{api_checker_and_log(IcingaDaemon.api_user, password)}{writers}
include <itl>
include "{ICINGA_CONF / 'commands.conf'}"
include "{templates}"
include_zones "check_vm", "{zones_dir}"
"""


class Daemon(IcingaDaemon):
    """A standalone node: its own endpoint and zone "master", with metric `writers`."""

    def __init__(self, root: Path, writers: str, node: str = "check-vm-test-node",
                 plugin_dir: Path = CHECKS,
                 templates: Path = ICINGA_CONF / "templates.conf") -> None:
        super().__init__(root, node, free_port())
        self.zones = root / "zones.d"
        (self.zones / "master").mkdir(parents=True, exist_ok=True)
        self._writers = writers
        self._plugin_dir = plugin_dir
        self._templates = templates

    def add_config(self, name: str, text: str) -> None:
        """A file of zone "master" (hosts, services), before start()."""
        (self.zones / "master" / name).write_text(text)

    def start(self, timeout: float = 60) -> None:
        """Write the config and certificate, start, wait until the API answers."""
        make_certificate(self.name, self.dirs.path("DataDir") / "certs")
        config = self.root / "icinga2.conf"
        config.write_text(base_config(self.name, self.api_port, self._password,
                                      self._writers, self.zones, self._plugin_dir,
                                      self._templates))
        self.spawn([ICINGA2, "daemon", "-c", str(config), *self.dirs.defines()],
                   self._api_answers, timeout)

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE  # our own self-signed certificate
        return context

    def objects(self, kind: str, *attrs: str) -> dict[str, dict]:
        """Attributes of every Host or Service, by full name (host!service)."""
        query = "&".join(f"attrs={attr}" for attr in attrs)
        answer = self.api(f"/v1/objects/{kind.lower()}s?{query}")
        return {result["name"]: result["attrs"] for result in answer["results"]}

    def _api_answers(self) -> bool:
        self.api("/v1/status/IcingaApplication")
        return True
