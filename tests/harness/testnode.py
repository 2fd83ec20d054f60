"""libvirt test-driver nodes written by tests (test:///ABS/PATH/node.xml).

Each domain has what the checks read of a real one: a disk, an interface
with a MAC and a target name, a balloon (DESIGN.md, "A custom test node").
"""

from __future__ import annotations

import string

NODE_HEAD = """<node xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
  <cpu>
    <nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads>
    <active>4</active><mhz>2000</mhz><model>i686</model>
  </cpu>
  <memory>16777216</memory>
"""

_DOMAIN = """  <domain type='test'>
    <name>{name}</name>
    <uuid>{uuid}</uuid>
    <memory unit='KiB'>1048576</memory>
    <currentMemory unit='KiB'>1048576</currentMemory>
    <vcpu placement='static'>2</vcpu>
    <os><type arch='i686'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'>
        <source file='/guest/{name}.img'/>
        <target dev='vda' bus='virtio'/>
      </disk>
      <interface type='network'>
        <mac address='{mac}'/>
        <source network='default'/>
        <target dev='{interface}'/>
      </interface>
      <memballoon model='virtio'/>
    </devices>
  </domain>
"""


def domain_xml(name: str, uuid: str, mac: str, interface: str) -> str:
    """One running domain with disk vda and the interface `interface`."""
    return _DOMAIN.format(name=name, uuid=uuid, mac=mac, interface=interface)


def node_xml(domains: list[str]) -> str:
    """A whole node file holding `domains` (each from domain_xml)."""
    return NODE_HEAD + "".join(domains) + "</node>\n"


_DEVICE_DOMAIN = """  <domain type='test'>
    <name>{name}</name><uuid>{uuid}</uuid>
    <memory unit='KiB'>1048576</memory><currentMemory unit='KiB'>1048576</currentMemory>
    <vcpu placement='static'>{vcpus}</vcpu><os><type arch='i686'>hvm</type></os>
    <devices>{disks}{nics}<memballoon model='virtio'><stats period='2'/></memballoon></devices>
  </domain>
"""


def scsi_disk_names(count: int) -> list[str]:
    """SCSI targets as libvirt names them: sda..sdz, then sdaa..sdzz."""
    letters = string.ascii_lowercase
    singles = [f"sd{letter}" for letter in letters]
    doubles = [f"sd{first}{second}" for first in letters for second in letters]
    return (singles + doubles)[:count]


def devices_node_xml(name: str, uuid: str, vcpus: int, disks: list[str], nics: list[str],
                     bus: str = "virtio") -> str:
    """A node of one domain with these vCPUs, disk targets (on `bus`) and
    interface targets (each with a MAC of its own)."""
    disk_xml = "".join(f"<disk type='file' device='disk'><source file='/guest/{disk}.img'/>"
                       f"<target dev='{disk}' bus='{bus}'/></disk>" for disk in disks)
    nic_xml = "".join(f"<interface type='network'><mac address='52:54:00:00:"
                      f"{index >> 8:02x}:{index & 0xFF:02x}'/><source network='default'/>"
                      f"<target dev='{nic}'/></interface>" for index, nic in enumerate(nics))
    return node_xml([_DEVICE_DOMAIN.format(name=name, uuid=uuid, vcpus=vcpus, disks=disk_xml,
                                           nics=nic_xml)])
