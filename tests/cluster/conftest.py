"""Fixtures of the cluster tier: the package installed, the realvm guest, the cluster.

Where the machine cannot host the tier (not root, not Debian, no KVM/QEMU,
apt failing) the tests skip with the reason, or fail with it when CI=true.
The package is built from this checkout (`make deb`) and installed with apt
as in the package tier; it is purged at the end unless it was installed
before. The cluster runs for the whole module; its processes are stopped by
PID at the end whatever happens.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import pytest
from harness.cluster import config
from harness.cluster.cluster import AGENT_A, AGENT_B, Cluster, inventory
from harness.cluster.testnodes import TestNode
from harness.cluster.waits import every_service_checked
from harness.icinga.environment import ensure_installed
from harness.package import debpackage
from harness.skips import unavailable
from harness.vm.host import TierUnavailable, check_machine, ensure_packages
from harness.vm.realguest import module_guest


@pytest.fixture(scope="module")
def package() -> Iterator[Path]:
    """icinga2 and the check-vm package built from this checkout, installed."""
    try:
        check_machine()
        ensure_packages()
        ensure_packages(debpackage.RUNTIME_PACKAGES)
        ensure_installed()
    except TierUnavailable as exc:
        unavailable(f"cluster tier cannot run: {exc}")
    try:
        with debpackage.installed() as deb:
            yield deb
    except debpackage.BuildFailed as exc:
        pytest.fail(f"make deb failed: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def real_guest(request, package):
    """Agent A's libvirt: the realvm tier's libvirtd with its commanded guest."""
    with module_guest(request, "cluster") as pair:
        yield pair


@pytest.fixture(scope="module")
def test_nodes(tmp_path_factory) -> dict[str, TestNode]:
    """Test-driver nodes: agent A's empty at first, agent B's with three domains."""
    root = tmp_path_factory.mktemp("cluster-nodes")
    return {AGENT_A: TestNode(root / "node-a.xml", []),
            AGENT_B: TestNode(root / "node-b.xml", config.B_DOMAINS)}


def inventory_files(real_uri: str, nodes: dict[str, TestNode]) -> dict[str, str]:
    """The inventory of every hypervisor: file name in zones.d/master -> output."""
    return {f"inventory-{AGENT_A}.conf": inventory(real_uri, AGENT_A),
            f"inventory-{AGENT_A}-node.conf": inventory(nodes[AGENT_A].uri, AGENT_A),
            f"inventory-{AGENT_B}.conf": inventory(nodes[AGENT_B].uri, AGENT_B)}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, package, real_guest, test_nodes) -> Iterator[Cluster]:
    """Master and agents running, every service and host checked once."""
    hypervisor, vm = real_guest
    running = Cluster(tmp_path_factory.mktemp("cluster"))
    with contextlib.ExitStack() as undo:
        undo.callback(running.stop)
        running.set_up()
        running.inventories = inventory_files(hypervisor.uri, test_nodes)
        for name, text in running.inventories.items():
            running.add_master_config(name, text)
        running.add_master_config("hypervisors.conf", config.hypervisor_hosts(
            vm.name, test_nodes[AGENT_B].uri))
        running.add_master_config("tuned.conf", config.tuned_host(test_nodes[AGENT_B].uri))
        errors = running.validate_master()
        assert not errors, errors
        running.start()
        every_service_checked(running.master, timeout=90)
        yield running
