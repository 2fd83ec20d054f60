"""Custom libvirt test-driver nodes with many domains (test:///ABS/PATH/node.xml).

Each domain is the tests' (tests/harness/testnode.py): name, UUID, memory, vCPUs, an
OS, a disk, an interface and a balloon. The checked domain is the last one, so
a check that walked the domain list would pay for all of them.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from harness.testnode import domain_xml, node_xml


def domain_name(index: int) -> str:
    """The name of the domain at `index`."""
    return f"bench-{index:05d}"


def _domain(index: int) -> str:
    mac = f"52:54:00:{(index >> 16) & 0xFF:02x}:{(index >> 8) & 0xFF:02x}:{index & 0xFF:02x}"
    return domain_xml(domain_name(index), str(uuid.UUID(int=index + 1)), mac, f"eth{index}")


def write_node(directory: Path, count: int) -> tuple[str, str]:
    """Write a node of `count` domains; return its URI and the domain to check."""
    path = directory / f"node-{count}.xml"
    path.write_text(node_xml([_domain(i) for i in range(count)]))
    return f"test://{path}", domain_name(count - 1)
