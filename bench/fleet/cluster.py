"""The fleet of the benchmark: a master and K agents on loopback, each agent's
hypervisor a libvirt test-driver node of N domains.

It is the cluster tier's cluster (harness.cluster), set up the same way: a CA
on the master, every node's certificate signed by it, the shipped templates
in the global zone, the shipped apply rules and the package's
check_vm_inventory output of every hypervisor, unchanged, on the master. What
differs: K agents named hv1..hvK, the check interval of every service and
host 60 s, no forced reschedule at the start (Icinga spreads the checks over
the interval, as after any restart), and every node runs as `nagios`, the
packaged user, in a cgroup of its own that counts the CPU of the daemon and of
every plugin it runs. The agents' plugins load bench/fleet/fleethook, which counts
their libvirt calls. With the snapshot off, the vm-host template sets
vm_<command>_snapshot_max_age = 0 for the five commands, as README tells an
operator to. The test driver has no guest balloon statistics, so the
template also sets vm_mem_state_if_no_balloon = "ok" (README's setting for VMs
without a balloon driver): vm-mem stays OK as on a guest that has one.
"""

from __future__ import annotations

import functools
import grp
import os
import pwd
import shutil
from pathlib import Path

from harness.checknames import HOST_COMMAND
from harness.cluster.cluster import Cluster, inventory
from harness.cluster.node import ClusterNode
from harness.cluster.testnodes import TestNode
from harness.icinga.environment import daemon_environment

from bench.fleet.cpugroup import CpuGroup
from libcheck.registry import CHECKS as REGISTERED

USER = "nagios"
INTERVAL = 60
HOOK = Path(__file__).resolve().parent / "fleethook"
# Every registered check's command, and the host check's: their vars.<command>_* names.
COMMANDS = (*(entry.command for entry in REGISTERED), HOST_COMMAND)
HOST_TEMPLATE = 'template Host "vm-host" {\n'


def agent_names(count: int) -> tuple[str, ...]:
    return tuple(f"hv{number}" for number in range(1, count + 1))


def domain_names(agent: str, count: int) -> list[str]:
    return [f"{agent}-vm{number:04d}" for number in range(1, count + 1)]


def fleet_templates(templates: str, snapshot: bool) -> str:
    """The templates with the fleet's host variables in vm-host: OK without balloon
    statistics, and without the snapshot --snapshot-max-age 0 for all five commands."""
    assert HOST_TEMPLATE in templates, "templates.conf changed: update bench/fleet/cluster.py"
    lines = '\tvars.vm_mem_state_if_no_balloon = "ok"\n'
    if not snapshot:
        lines += "".join(f"\tvars.{command}_snapshot_max_age = 0\n" for command in COMMANDS)
    return templates.replace(HOST_TEMPLATE, HOST_TEMPLATE + lines)


class FleetNode(ClusterNode):
    """A cluster node that runs as nagios inside its own CPU cgroup; an agent's
    plugins count their libvirt calls into `calls`."""

    def __init__(self, root: Path, name: str, port: int, group: CpuGroup,
                 calls: Path, hook: Path) -> None:
        super().__init__(root, name, port)
        self.group = group
        self.calls = calls
        self._hook = hook

    def _launcher(self) -> list[str]:
        return self.group.launcher()

    def environment(self) -> dict[str, str]:
        inherited = {key: value for key, value in daemon_environment().items()
                     if not key.startswith(("PYTHON", "VIRTUAL_ENV", "LIBVIRT"))}
        return {**inherited, "ICINGA2_USER": USER, "ICINGA2_GROUP": USER,
                "PYTHONPATH": str(self._hook), "CHECK_VM_FLEET_CALLS": str(self.calls)}


class Fleet:
    """Master and agents under `root`, set up but not started (start(), stop())."""

    def __init__(self, root: Path, agents: int, domains: int, snapshot: bool) -> None:
        self.root = root
        self.domains = domains
        self.groups: dict[str, CpuGroup] = {}
        self.hook = root / "fleethook"
        try:
            self.cluster = Cluster(root, agents=agent_names(agents), interval=INTERVAL,
                                   make_node=self._node,
                                   edit_templates=functools.partial(fleet_templates,
                                                                    snapshot=snapshot))
        except Exception:
            self._remove_groups()
            raise
        self.test_nodes = {agent: TestNode(root / f"{agent}.xml", domain_names(agent, domains))
                           for agent in self.cluster.agents}

    @property
    def master(self) -> ClusterNode:
        return self.cluster.master

    @property
    def agents(self) -> list[FleetNode]:
        return [self.cluster.nodes[name] for name in self.cluster.agents]

    def set_up(self) -> None:
        """Certificates, configuration, the master's config validated, all owned by nagios."""
        shutil.copytree(HOOK, self.hook, ignore=shutil.ignore_patterns("__pycache__"))
        self.cluster.set_up()
        for agent, node in self.test_nodes.items():
            self.cluster.add_master_config(f"inventory-{agent}.conf", inventory(node.uri, agent))
        for node in self.agents:
            node.calls.touch()
        give_to(self.root, USER)
        errors = self.cluster.validate_master()
        if errors:
            raise RuntimeError(f"the fleet's master config is invalid:\n{errors}")

    def start(self) -> None:
        self.cluster.start(timeout=180, reschedule=False)

    def stop(self) -> list[str]:
        """Stop every node, then remove the cgroups; what could not be cleaned up."""
        self.cluster.stop()
        return self._remove_groups()

    def _remove_groups(self) -> list[str]:
        return [problem for group in self.groups.values() if (problem := group.remove())]

    def _node(self, root: Path, name: str, port: int) -> FleetNode:
        group = self.groups[name] = CpuGroup(f"check_vm-{self.root.name}-{name}")
        return FleetNode(root, name, port, group, self.root / f"calls-{name}.log", self.hook)


def give_to(root: Path, user: str) -> None:
    """chown -R root to user:user, and let that user traverse root."""
    uid, gid = pwd.getpwnam(user).pw_uid, grp.getgrnam(user).gr_gid
    root.chmod(0o755)
    for path in [root, *root.rglob("*")]:
        os.chown(path, uid, gid, follow_symlinks=False)
