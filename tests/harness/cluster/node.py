"""One Icinga 2 node of the cluster: its own directories, API port and process.

An IcingaDaemon (harness.icinga.daemon), like the Icinga tier's standalone one.
The node's icinga2.conf holds what /etc/icinga2 holds on a packaged node
(constants, zones.conf, the API feature, the ITL includes with
<plugins-contrib>, where the package's CheckCommands are); ConfigDir/zones.d
holds the cluster config an operator puts on the master.
"""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
from pathlib import Path

from harness.icinga.daemon import ICINGA2, IcingaDaemon, api_checker_and_log

API_USER = "check-vm-cluster"


def node_config(node: str, port: int, password: str, zones: str, state_dir: Path,
                extra: str = "") -> str:
    """icinga2.conf of a node: what Debian's constants.conf, zones.conf, the api
    feature (accepting config and commands from the parent) and icinga2.conf hold,
    with `extra` before the includes."""
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
{api_checker_and_log(API_USER, password)}object IcingaApplication "app" {{
	vars.vm_state_dir = "{state_dir}"
}}
{extra}
include <itl>
include <plugins>
include <plugins-contrib>
"""


class ClusterNode(IcingaDaemon):
    """A node: `name` is its NodeName, endpoint and (for agents) zone name."""

    api_user = API_USER
    api_poll_interval = 0.3

    def __init__(self, root: Path, name: str, port: int) -> None:
        super().__init__(root, name, port)
        self.zones_d = self.dirs.path("ConfigDir") / "zones.d"

    @property
    def data_dir(self) -> Path:
        return self.dirs.path("DataDir")

    def write_config(self, zones: str, state_dir: Path) -> Path:
        config = self.root / "icinga2.conf"
        config.write_text(node_config(self.name, self.api_port, self._password, zones, state_dir))
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
                              timeout=120, env=self.environment(), check=False)

    def start(self, timeout: float = 60) -> None:
        """Start the daemon and wait until its API answers."""
        self.spawn(self._launcher() + self._command(), self._started_after(0), timeout)

    def reload(self, timeout: float = 60) -> None:
        """SIGHUP, as `systemctl reload icinga2` sends: wait for the new worker's API."""
        before = self.program_start()
        os.kill(self.pid, signal.SIGHUP)
        self.wait_for_api(self._started_after(before), timeout)

    def program_start(self) -> float:
        status = self.api("/v1/status/IcingaApplication")
        return status["results"][0]["status"]["icingaapplication"]["app"]["program_start"]

    def tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(
            cafile=str(self.data_dir / "certs" / "ca.crt"))
        context.check_hostname = False  # the CN is the node name, not 127.0.0.1
        return context

    def objects(self, kind: str, *attrs: str, joins: tuple[str, ...] = ()) -> dict[str, dict]:
        """Attributes (and joined host attributes) of every Host or Service, by name."""
        query = "&".join([*(f"attrs={a}" for a in attrs), *(f"joins={j}" for j in joins)])
        answer = self.api(f"/v1/objects/{kind.lower()}s?{query}")
        return {r["name"]: {**r["attrs"], "joins": r.get("joins", {})}
                for r in answer["results"]}

    def _started_after(self, moment: float):
        """The API answers, from a worker whose program started after `moment`."""
        return lambda: self.program_start() > moment

    def _command(self, *extra: str) -> list[str]:
        # ZonesDir is derived from ConfigDir before -D is read: name it too.
        return [ICINGA2, "daemon", *extra, "-c", str(self.root / "icinga2.conf"),
                *self.dirs.defines(), f"-DZonesDir={self.zones_d}"]

    def _launcher(self) -> list[str]:
        """What the daemon's command line is prefixed with when it starts (nothing)."""
        return []
