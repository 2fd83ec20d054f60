"""A master and two agents on loopback, set up as docs/cluster.md tells an operator.

Every node has the same zones (master; agent-a and agent-b, children of
master; global-templates), its endpoint's host and port, and a certificate
signed by the CA on the master. The master holds the check_vm config in
ConfigDir/zones.d: the shipped templates (intervals shortened to INTERVAL)
in global-templates, the shipped examples' apply rules, the hosts of both
modelling ways and the inventory files in master; the agents get the
templates by config sync and run the checks the master sends them.
"""

from __future__ import annotations

import contextlib
import re
import subprocess
import urllib.error
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from harness.icinga.icinga2 import errors_of, free_port
from harness.polling import wait_for

from . import pki
from .node import ClusterNode

INTERVAL = 10
MASTER, AGENT_A, AGENT_B = "master", "agent-a", "agent-b"
EXAMPLES = {"example-hosts-per-vm.conf": "rules-hosts-per-vm.conf",
            "example-hypervisor-vms.conf": "rules-hypervisor-vms.conf"}
# The package's copy of the shipped examples, as an operator copies them.
PACKAGE_EXAMPLES = Path("/usr/share/doc/check-vm/examples/icinga2")
INVENTORY = "/usr/bin/check_vm_inventory"


def zones_text(ports: dict[str, int]) -> str:
    """zones.conf of every node: endpoints with host and port, one zone per agent."""
    parts = []
    for node, port in ports.items():
        parts.append(f'object Endpoint "{node}" {{\n\thost = "127.0.0.1"\n\tport = "{port}"\n}}\n')
        parent = "" if node == MASTER else f'\tparent = "{MASTER}"\n'
        parts.append(f'object Zone "{node}" {{\n\tendpoints = [ "{node}" ]\n{parent}}}\n')
    parts.append('object Zone "global-templates" {\n\tglobal = true\n}\n')
    return "".join(parts)


def shortened_templates(text: str, interval: int = INTERVAL) -> str:
    """The shipped templates with every check and retry interval set to `interval`."""
    result, count = re.subn(r"(\t(?:check|retry)_interval = )\d+[smh]", rf"\g<1>{interval}s",
                            text)
    assert count >= 6, "templates.conf changed: update the cluster tier"
    return result


def apply_rules(text: str) -> str:
    """The apply rules of a shipped example (its example objects left out)."""
    return text[text.index("\napply Service"):]


def inventory(uri: str, hypervisor: str) -> str:
    """The package's check_vm_inventory for one hypervisor, output unchanged."""
    result = subprocess.run([INVENTORY, "--connect", uri, "--hypervisor", hypervisor],
                            capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout


@dataclass
class Cluster:
    """The master and its agents under `root`, their certificates and the master's config."""

    root: Path
    agents: tuple[str, ...] = (AGENT_A, AGENT_B)
    interval: int = INTERVAL
    make_node: Callable[[Path, str, int], ClusterNode] = ClusterNode
    edit_templates: Callable[[str], str] = str  # what the master's templates get on top
    nodes: dict[str, ClusterNode] = field(default_factory=dict)
    inventories: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.state_dir = self.root / "state"
        self.state_dir.mkdir(parents=True, exist_ok=True)
        for name in (MASTER, *self.agents):
            self.nodes[name] = self.make_node(self.root / name, name, free_port())

    @property
    def master(self) -> ClusterNode:
        return self.nodes[MASTER]

    def set_up(self) -> None:
        """CA, certificates, every node's icinga2.conf, the master's zones.d."""
        ca_data = self.master.data_dir
        pki.new_ca(ca_data)
        zones = zones_text({name: node.api_port for name, node in self.nodes.items()})
        for name, node in self.nodes.items():
            pki.signed_node(ca_data, name, node.data_dir)
            node.write_config(zones, self.state_dir)
        templates = shortened_templates((PACKAGE_EXAMPLES / "templates.conf").read_text(),
                                        self.interval)
        self.master.add_zone_file("global-templates", "check-vm-templates.conf",
                                  self.edit_templates(templates))
        for example, name in EXAMPLES.items():
            self.master.add_zone_file(MASTER, name,
                                      apply_rules((PACKAGE_EXAMPLES / example).read_text()))

    def add_master_config(self, name: str, text: str) -> Path:
        return self.master.add_zone_file(MASTER, name, text)

    def validate_master(self) -> str:
        """The critical lines of `icinga2 daemon -C` on the master ('' when valid)."""
        result = self.master.validate()
        return "" if result.returncode == 0 else errors_of(result) or result.stdout[-2000:]

    def start(self, timeout: float = 90, reschedule: bool = True) -> None:
        """Agents first, then the master; wait until the agents have reloaded with
        the synced templates and are connected, then (`reschedule`) have every
        check run now.

        An agent reloads once when it first gets the global zone; the checks the
        master sent it meanwhile are lost, and Icinga does not repeat them before
        their next interval: the forced reschedule makes the start deterministic.
        """
        agents = [self.nodes[name] for name in self.agents]
        for agent in agents:
            agent.start()
        started = {agent.name: agent.program_start() for agent in agents}
        self.master.start()

        def synced() -> bool:
            with contextlib.suppress(OSError, urllib.error.URLError, ValueError, KeyError):
                reloaded = all(a.program_start() > started[a.name] for a in agents)
                return reloaded and self.connected() == sorted(self.agents)
            return False
        wait_for(synced, timeout, "the agents' reload with the synced config",
                 self.master.log_tail)
        if reschedule:
            self.reschedule_all()

    def connected(self) -> list[str]:
        """The endpoints connected to the master, sorted."""
        status = self.master.api("/v1/status/ApiListener")["results"][0]["status"]["api"]
        return sorted(status["conn_endpoints"])

    def reschedule_all(self) -> None:
        for kind in ("Host", "Service"):
            self.master.api("/v1/actions/reschedule-check",
                            {"type": kind, "filter": "true", "force": True})

    def stop(self) -> None:
        for node in self.nodes.values():
            node.stop()
