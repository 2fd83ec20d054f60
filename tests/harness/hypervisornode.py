"""A hypervisor as check_vm_host and check_vm_pool see it, for the test driver.

Two ways to build one:

- a node file (`test:///ABS/PATH/node.xml`) that any process can open,
  the executables included: domains in any state 0..7 (`<test:runstate>`),
  with their vCPUs, memory and disks, storage pools with volumes, and the
  node's CPUs and memory.  The test driver makes every pool of a node file
  active with a capacity of 100 GiB (its allocation is the sum of its
  volumes'), gives every domain reason 0 and no domain autostart;
- a shared `test:///default` set up through a read-write connection in this
  process (`SharedDefault`): autostart flags, a domain crashed by a core
  dump (shut off, reason crashed), one paused by a user, one destroyed, an
  inactive pool.  A read-only connection of the same process sees all of
  it while the read-write one stays open, so only an in-process run with
  the connection handed in (`HostRun(open_inspector=...)`) can read it.
"""

from __future__ import annotations

import uuid as uuid_module
from pathlib import Path
from typing import NamedTuple

import libvirt

GIB = 1024 ** 3
KIB = 1024
# What the test driver makes of every pool of a node file, whatever the file says.
NODE_POOL_CAPACITY = 100 * GIB

_NODE_HEAD = """<node xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
  <cpu>
    <nodes>1</nodes><sockets>1</sockets><cores>{cpus}</cores><threads>1</threads>
    <active>{cpus}</active><mhz>2000</mhz><model>i686</model>
  </cpu>
  <memory>{memory_kib}</memory>
"""

_DOMAIN = """  <domain type='test'>
    <name>{name}</name><uuid>{uuid}</uuid>
    <memory unit='KiB'>{memory_kib}</memory><currentMemory unit='KiB'>{memory_kib}</currentMemory>
    <vcpu placement='static'>{vcpus}</vcpu><os><type arch='i686'>hvm</type></os>
    <devices>{disks}</devices>{runstate}
  </domain>
"""

_DISK = ("<disk type='file' device='disk'><source file='/guest/{name}-{disk}.img'/>"
         "<target dev='{disk}' bus='virtio'/></disk>")

_POOL = """  <pool type='dir'>
    <name>{name}</name><uuid>{uuid}</uuid>
    <target><path>{target}</path></target>{volumes}
  </pool>
"""

_VOLUME = ("\n    <volume type='file'><name>{name}</name>"
           "<capacity unit='GiB'>{capacity}</capacity>"
           "<allocation unit='GiB'>{allocation}</allocation></volume>")


class NodeDomain(NamedTuple):
    """A domain of a node file: its libvirt state number (1 running ... 7
    suspended by guest power management), vCPUs, memory and disk targets."""

    name: str
    runstate: int = 1
    vcpus: int = 1
    memory_kib: int = 1048576
    disks: tuple[str, ...] = ("vda",)


class NodeVolume(NamedTuple):
    """A volume of a pool, its sizes in GiB."""

    name: str
    capacity_gib: int
    allocation_gib: int


class NodePool(NamedTuple):
    """A `dir` pool of a node file and its volumes."""

    name: str
    target: str
    volumes: tuple[NodeVolume, ...] = ()


def _uuid(kind: int, index: int) -> str:
    return str(uuid_module.UUID(int=(kind << 64) + index + 1))


def _domain_xml(index: int, domain: NodeDomain) -> str:
    # Runstate 1 is the driver's own default: leaving it out keeps the plain case plain.
    runstate = ("" if domain.runstate == 1
                else f"\n    <test:runstate>{domain.runstate}</test:runstate>")
    disks = "".join(_DISK.format(name=domain.name, disk=disk) for disk in domain.disks)
    return _DOMAIN.format(name=domain.name, uuid=_uuid(0, index), memory_kib=domain.memory_kib,
                          vcpus=domain.vcpus, disks=disks, runstate=runstate)


def _pool_xml(index: int, pool: NodePool) -> str:
    volumes = "".join(_VOLUME.format(name=volume.name, capacity=volume.capacity_gib,
                                     allocation=volume.allocation_gib)
                      for volume in pool.volumes)
    return _POOL.format(name=pool.name, uuid=_uuid(1, index), target=pool.target,
                        volumes=volumes)


def hypervisor_node_xml(domains: list[NodeDomain], pools: list[NodePool] = (),
                        cpus: int = 4, memory_kib: int = 16 * 1024 * 1024) -> str:
    """A node file's text: `cpus` host CPUs, `memory_kib` of memory, the
    domains and the pools."""
    return (_NODE_HEAD.format(cpus=cpus, memory_kib=memory_kib)
            + "".join(_domain_xml(index, domain) for index, domain in enumerate(domains))
            + "".join(_pool_xml(index, pool) for index, pool in enumerate(pools))
            + "</node>\n")


def write_hypervisor_node(path: Path, domains: list[NodeDomain], pools: list[NodePool] = (),
                          cpus: int = 4, memory_kib: int = 16 * 1024 * 1024) -> str:
    """Write the node file at `path`; its URI."""
    path.write_text(hypervisor_node_xml(domains, pools, cpus, memory_kib))
    return f"test://{path}"


# -- the node of every state -------------------------------------------------------------------

# One domain in each state libvirt has, with vCPUs and memory of its own so
# that the sums say which domains they counted.
EVERY_STATE = (
    NodeDomain("vm-nostate", 0, vcpus=1, memory_kib=1 * 1024 * 1024),
    NodeDomain("vm-running", 1, vcpus=2, memory_kib=2 * 1024 * 1024, disks=("vda", "vdb")),
    NodeDomain("vm-blocked", 2, vcpus=3, memory_kib=1 * 1024 * 1024),
    NodeDomain("vm-paused", 3, vcpus=4, memory_kib=2 * 1024 * 1024),
    NodeDomain("vm-shuttingdown", 4, vcpus=1, memory_kib=1 * 1024 * 1024),
    NodeDomain("vm-shutoff", 5, vcpus=8, memory_kib=8 * 1024 * 1024),
    NodeDomain("vm-crashed", 6, vcpus=2, memory_kib=1 * 1024 * 1024),
    NodeDomain("vm-pmsuspended", 7, vcpus=1, memory_kib=1 * 1024 * 1024),
)
# The two pools of the example: 40 + 80 GiB of volumes (5 + 10
# allocated) in a pool of 100 GiB, and an empty one.
TWO_POOLS = (
    NodePool("vmimages", "/var/lib/libvirt/images",
             (NodeVolume("a.img", 40, 5), NodeVolume("b.img", 80, 10))),
    NodePool("scratch", "/srv/scratch"),
)
EVERY_STATE_CPUS = 4
EVERY_STATE_MEMORY_KIB = 16 * 1024 * 1024


def write_every_state_node(path: Path) -> str:
    """The node of one domain per state and the two pools; its URI."""
    return write_hypervisor_node(path, list(EVERY_STATE), list(TWO_POOLS),
                                 EVERY_STATE_CPUS, EVERY_STATE_MEMORY_KIB)


# -- test:///default, set up read-write --------------------------------------------------------

DEFAULT_URI = "test:///default"

_DEFINED_DOMAIN = """<domain type='test'>
  <name>{name}</name>
  <memory unit='KiB'>{memory_kib}</memory>
  <vcpu>{vcpus}</vcpu>
  <os><type arch='i686'>hvm</type></os>
  <devices>
    <disk type='file' device='disk'><source file='/guest/{name}-a.img'/>
      <target dev='vda' bus='virtio'/></disk>
    <disk type='file' device='disk'><source file='/guest/{name}-b.img'/>
      <target dev='vdb' bus='virtio'/></disk>
  </devices>
</domain>"""

_DEFINED_POOL = """<pool type='dir'>
  <name>{name}</name>
  <target><path>/srv/{name}</path></target>
</pool>"""


class SharedDefault:
    """test:///default with what only a read-write connection can set, held
    open while the test runs (use as a context manager).

    Beside the driver's own running domain `test` and pool `default-pool`:
    `auto-down` (autostart, shut off), `auto-up` (autostart, running),
    `paused-user` (paused by a user), `destroyed` (shut off, reason
    destroyed), `crashed-dump` (shut off, reason crashed, by a crash dump),
    each with 2 vCPUs, 1 GiB and disks vda and vdb; the pool
    `defined-inactive` (defined, never started) and `thin` (started, one
    volume of 200 GiB of which 30 allocated).
    """

    DOMAINS = ("auto-down", "auto-up", "paused-user", "destroyed", "crashed-dump")

    def __init__(self) -> None:
        self.connection = libvirt.open(DEFAULT_URI)
        try:
            self._set_up(self.connection)
        except BaseException:
            self.connection.close()
            raise

    @staticmethod
    def _set_up(connection) -> None:
        domains = {name: connection.defineXML(_DEFINED_DOMAIN.format(
            name=name, vcpus=2, memory_kib=1024 * 1024)) for name in SharedDefault.DOMAINS}
        domains["auto-down"].setAutostart(1)
        domains["auto-up"].setAutostart(1)
        domains["auto-up"].create()
        domains["paused-user"].create()
        domains["paused-user"].suspend()
        domains["destroyed"].create()
        domains["destroyed"].destroy()
        domains["crashed-dump"].create()
        domains["crashed-dump"].coreDump("/dev/null", libvirt.VIR_DUMP_CRASH)
        connection.storagePoolDefineXML(_DEFINED_POOL.format(name="defined-inactive"), 0)
        thin = connection.storagePoolDefineXML(_DEFINED_POOL.format(name="thin"), 0)
        thin.create(0)
        thin.createXML("<volume><name>v1</name><capacity unit='GiB'>200</capacity>"
                       "<allocation unit='GiB'>30</allocation></volume>", 0)

    def read_only(self):
        """A read-only connection that sees this set-up (while it is open)."""
        return libvirt.openReadOnly(DEFAULT_URI)

    def close(self) -> None:
        """Close the read-write connection: the driver forgets the set-up once
        no connection of the process holds it."""
        self.connection.close()

    def __enter__(self) -> SharedDefault:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
