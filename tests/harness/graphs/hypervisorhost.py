"""The hypervisor's own services in the graph tier: its Host, a storage pool, timed plugins.

The shipped apply rules of templates.conf give vm-host and vm-pool to every
Host with `vars.vm_hypervisor_connect`. The tier's hypervisor is such a Host
(`host_config`): its URI is the tier's libvirtd, the domain it expects is the
tier's guest, its checks run on this node's endpoint, and the Host itself is
never checked. A hypervisor without an active pool makes check_vm_pool OK "no
storage pool" with no per-pool series, so `active_pools` defines a `dir` pool
on a small tmpfs through the tier's read-write connection when libvirtd has
none; its usage is then that of an empty file system. The two plugins run
through the same timed wrappers as the VM checks (timedplugins.py).
"""

from __future__ import annotations

import contextlib
import shlex
from pathlib import Path
from typing import Iterator

import libvirt

from harness.checknames import service_name
from harness.paths import CHECKS
from harness.vm.pools import mounted_tmpfs, started_dir_pool
from libcheck.registry import HOST_CHECKS

from .timedplugins import WRAPPER

NAME = "check-vm-hypervisor"
# service -> CheckCommand, as the shipped apply rules name them.
SERVICES = {service_name(entry): entry.command for entry in HOST_CHECKS}
EXECUTABLES = tuple(entry.executable for entry in HOST_CHECKS)
POOL = "graphpool"
POOL_MIB = 8

HOST = """\
object Host "{name}" {{
	check_command = "dummy"
	enable_active_checks = false
	vars.vm_hypervisor_endpoint = NodeName
	vars.vm_hypervisor_connect = "{uri}"
	vars.vm_expected_domains = [ "{domain}" ]
}}
"""


def host_config(uri: str, domain: str) -> str:
    """The hypervisor's Host: the shipped rules' variables, expecting one domain.

    Like the guest's host it is never checked: a host check result makes Icinga
    run the host's services again at once.
    """
    return HOST.format(name=NAME, uri=uri, domain=domain)


def write_wrappers(plugin_dir: Path, log_dir: Path) -> None:
    """A timed wrapper for each of the hypervisor's checks, beside the VM checks'."""
    for name in EXECUTABLES:
        wrapper = plugin_dir / name
        wrapper.write_text(WRAPPER.format(name=name, real=shlex.quote(str(CHECKS / name)),
                                          log=shlex.quote(str(log_dir / f"{name}.log"))))
        wrapper.chmod(0o755)


@contextlib.contextmanager
def active_pools(conn: libvirt.virConnect) -> Iterator[list[str]]:
    """The names of the hypervisor's active pools while the block runs: those it
    has, else one `dir` pool of POOL_MIB MiB defined for the block and removed after."""
    names = sorted(pool.name() for pool in conn.listAllStoragePools() if pool.isActive())
    if names:
        yield names
        return
    with mounted_tmpfs(POOL_MIB, "check-vm-graph-pool-") as target, \
            started_dir_pool(conn, POOL, target):
        yield [POOL]
