"""libvirt test-driver nodes written by tests (test:///ABS/PATH/node.xml).

Each domain has what the checks read of a real one: a disk, an interface
with a MAC and a target name, a balloon (DESIGN.md, "A custom test node").
"""

from __future__ import annotations

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
