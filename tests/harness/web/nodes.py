"""The stack's Icinga 2: a master and its agents, as the packaged user nagios.

Built from the cluster tier's parts (ClusterNode, its certificates from
harness.cluster.pki, zones_text), with what the Director needs instead of
the cluster tier's check_vm files: the master zone named "master" with its
endpoint at 127.0.0.1 and its API port (the Director's kickstart reconnects
there), the global zones director-global and global-templates on every node,
an ApiUser for the Director, and on the master the IDO and a GraphiteWriter.
The master's zones.d stays empty: every check_vm object comes from the
Director's config package. Each daemon is started as root without
ICINGA2_USER, so it drops to nagios; its directories are nagios's.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import urllib.error
import urllib.request
from pathlib import Path

from harness.cluster import pki
from harness.cluster.cluster import MASTER, zones_text
from harness.cluster.node import ClusterNode, node_config
from harness.graphs.process import clean_environment
from harness.icinga.icinga2 import free_port
from harness.polling import wait_for

NAGIOS = "nagios"  # the user Debian's icinga2 runs as
DIRECTOR_API_USER = "director"
GLOBAL_ZONES = ("director-global",)  # global-templates comes with zones_text
START_TIMEOUT = 60


def chown_tree(top: Path, user: str, group: str) -> None:
    """`chown -R user:group top`."""
    shutil.chown(top, user, group)
    for path in top.rglob("*"):
        shutil.chown(path, user, group)



def master_extra(director_password: str, ido: dict[str, str], carbon_port: int) -> str:
    """What only the master has: the Director's API user, the IDO and the GraphiteWriter."""
    return f"""\
object ApiUser "{DIRECTOR_API_USER}" {{
	password = "{director_password}"
	permissions = [ "*" ]
}}
object IdoMysqlConnection "ido-mysql" {{
	host = "127.0.0.1"
	port = {ido["port"]}
	user = "{ido["user"]}"
	password = "{ido["password"]}"
	database = "{ido["database"]}"
}}
object GraphiteWriter "graphite" {{
	host = "127.0.0.1"
	port = "{carbon_port}"
	enable_send_thresholds = false
}}
"""


class WebNode(ClusterNode):
    """A cluster node that runs as nagios, with `extra` config text of its own."""

    def __init__(self, root: Path, name: str, port: int, extra: str = "") -> None:
        super().__init__(root, name, port)
        self.extra = extra

    def write_config(self, zones: str, state_dir: Path) -> Path:
        config = self.root / "icinga2.conf"
        config.write_text(node_config(self.name, self.api_port, self._password, zones,
                                      state_dir, self.extra))
        return config

    def create(self, kind: str, name: str, attrs: dict) -> dict:
        """PUT /v1/objects/<kind>s/<name>: an object created through this node's API."""
        token = base64.b64encode(f"{self.api_user}:{self._password}".encode()).decode()
        request = urllib.request.Request(
            f"https://127.0.0.1:{self.api_port}/v1/objects/{kind.lower()}s/{name}",
            data=json.dumps({"attrs": attrs}).encode(), method="PUT",
            headers={"Accept": "application/json", "Authorization": f"Basic {token}"})
        with urllib.request.urlopen(request, context=self.tls_context(), timeout=15) as answer:
            return json.load(answer)

    def environment(self) -> dict[str, str]:
        """A service's environment: no ICINGA2_USER, so the daemon becomes nagios."""
        return clean_environment()


class IcingaCluster:
    """The master (with `master_extra`) and one agent per name, under `root`."""

    def __init__(self, root: Path, agents: list[str], state_dir: Path, extra: str) -> None:
        self.root = root
        self.state_dir = state_dir
        self.master = WebNode(root / MASTER, MASTER, free_port(), extra)
        self.agents = {name: WebNode(root / name, name, free_port()) for name in agents}

    @property
    def nodes(self) -> list[WebNode]:
        return [self.master, *self.agents.values()]

    def set_up(self) -> None:
        """CA, certificates, every node's icinga2.conf; nagios owns each node's tree."""
        pki.new_ca(self.master.data_dir)
        zones = zones_text({node.name: node.api_port for node in self.nodes}) + "".join(
            f'object Zone "{zone}" {{\n\tglobal = true\n}}\n' for zone in GLOBAL_ZONES)
        for node in self.nodes:
            pki.signed_node(self.master.data_dir, node.name, node.data_dir)
            node.write_config(zones, self.state_dir)
            chown_tree(node.root, NAGIOS, NAGIOS)

    def start(self, timeout: float = START_TIMEOUT) -> None:
        """Agents first, then the master; wait until every agent is connected."""
        for node in (*self.agents.values(), self.master):
            node.start(timeout)
        wait_for(lambda: self.connected() == sorted(self.agents), timeout,
                 "the agents' connections to the master", self.master.log_tail, interval=0.2)

    def connected(self) -> list[str]:
        """The endpoints connected to the master, sorted ([] while its API is down)."""
        with contextlib.suppress(OSError, urllib.error.URLError, ValueError, KeyError):
            status = self.master.api("/v1/status/ApiListener")["results"][0]["status"]
            return sorted(status["api"]["conn_endpoints"])
        return []

    def stop(self) -> None:
        for node in self.nodes:
            node.stop()
