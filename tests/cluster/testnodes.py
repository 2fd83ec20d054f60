"""libvirt test-driver nodes for the agents (test:///PATH): several domains each.

A node file is rewritten to move a domain from one hypervisor to another; the
test driver reads the file anew on every connection. Every domain has a disk,
an interface and a balloon (format: tests/data/node.xml).
"""

from __future__ import annotations

import uuid
from pathlib import Path

HEAD = """<node>
  <cpu><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads>
    <active>4</active><mhz>2000</mhz><model>i686</model></cpu>
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
        <target dev='tap-{name}'/>
      </interface>
      <memballoon model='virtio'/>
    </devices>
  </domain>
"""


def mac_of(name: str) -> str:
    """A stable MAC address for the domain `name`."""
    digest = uuid.uuid5(uuid.NAMESPACE_DNS, name).bytes
    return "52:54:00:" + ":".join(f"{byte:02x}" for byte in digest[:3])


def _domain(name: str) -> str:
    return DOMAIN.format(name=name, uuid=uuid.uuid5(uuid.NAMESPACE_DNS, name),
                         mac=mac_of(name))


class TestNode:
    """A node file holding some domains; `uri` is what the plugins connect to."""

    __test__ = False  # not a pytest class

    def __init__(self, path: Path, domains: list[str]) -> None:
        self.path = path
        self.domains = list(domains)
        self.write()

    @property
    def uri(self) -> str:
        return f"test://{self.path}"

    def write(self) -> None:
        """Replace the file atomically, so that no connection reads half of it."""
        partial = self.path.with_suffix(".partial")
        partial.write_text(HEAD + "".join(map(_domain, self.domains)) + "</node>\n")
        partial.replace(self.path)


def migrate(domain: str, source: TestNode, target: TestNode) -> None:
    """The domain leaves `source` and runs on `target` (both files rewritten)."""
    target.domains.append(domain)
    target.write()
    source.domains.remove(domain)
    source.write()
