"""Custom libvirt test-driver nodes with many domains (test:///ABS/PATH/node.xml).

Each domain has what a real one has for the checks: name, UUID, memory, vCPUs,
an OS, a disk, an interface and a balloon (format: tests/data/node.xml). The
checked domain is the last one, so a check that walked the domain list would
pay for all of them.
"""

from __future__ import annotations

import uuid
from pathlib import Path

NODE_HEAD = """<node xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
  <cpu>
    <nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads>
    <active>4</active><mhz>2000</mhz><model>i686</model>
  </cpu>
  <memory>16777216</memory>
"""

DOMAIN = """  <domain type='test'>
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
        <target dev='eth{index}'/>
      </interface>
      <memballoon model='virtio'/>
    </devices>
  </domain>
"""


def domain_name(index: int) -> str:
    """The name of the domain at `index`."""
    return f"bench-{index:05d}"


def _domain(index: int) -> str:
    mac = f"52:54:00:{(index >> 16) & 0xFF:02x}:{(index >> 8) & 0xFF:02x}:{index & 0xFF:02x}"
    return DOMAIN.format(name=domain_name(index), uuid=uuid.UUID(int=index + 1),
                         mac=mac, index=index)


def write_node(directory: Path, count: int) -> tuple[str, str]:
    """Write a node of `count` domains; return its URI and the domain to check."""
    path = directory / f"node-{count}.xml"
    path.write_text(NODE_HEAD + "".join(_domain(i) for i in range(count)) + "</node>\n")
    return f"test://{path}", domain_name(count - 1)
