"""A test-driver node for a hypervisor's own checks: running and shut-off domains
and two storage pools (vmimages 15 % used by its volumes' allocation, scratch
empty), with names as libvirt takes them, escaped for the node file."""

from __future__ import annotations

from pathlib import Path

from harness.hostilenames import xml_text
from harness.testnode import domain_xml, node_xml

SHUT_OFF = "<test:runstate>5</test:runstate>\n  </domain>"

POOLS = """  <pool type='dir'>
    <name>vmimages</name><uuid>10000000-0000-0000-0000-000000000001</uuid>
    <target><path>/var/lib/libvirt/images</path></target>
    <volume type='file'><name>a.img</name>
      <capacity unit='GiB'>40</capacity><allocation unit='GiB'>5</allocation></volume>
    <volume type='file'><name>b.img</name>
      <capacity unit='GiB'>80</capacity><allocation unit='GiB'>10</allocation></volume>
  </pool>
  <pool type='dir'>
    <name>scratch</name><uuid>10000000-0000-0000-0000-000000000002</uuid>
    <target><path>/srv/scratch</path></target>
  </pool>
"""
POOL_USAGE = {"vmimages": 15.0, "scratch": 0.0}  # % of each pool's 100 GiB


def write_hypervisor_node(path: Path, running: list[str], shut_off: list[str]) -> str:
    """A node file with these domains and the two pools; its URI."""
    domains = []
    for index, name in enumerate([*running, *shut_off]):
        # Named by index first: the name is also in an attribute (the disk's file).
        text = domain_xml(f"hv{index}", f"20000000-0000-0000-0000-{index:012x}",
                          f"52:54:00:20:00:{index:02x}", f"hvtap{index}")
        text = text.replace(f"<name>hv{index}</name>", f"<name>{xml_text(name)}</name>", 1)
        domains.append(text if name in running
                       else text.replace("</domain>", SHUT_OFF.strip(), 1))
    path.write_text(node_xml([*domains, POOLS]), encoding="utf-8")
    return f"test://{path}"
