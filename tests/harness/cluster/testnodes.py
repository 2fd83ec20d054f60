"""libvirt test-driver nodes for the agents (test:///PATH): several domains each.

A node file is rewritten to move a domain from one hypervisor to another; the
test driver reads the file anew on every connection. Every domain has a disk,
an interface and a balloon (format: tests/data/node.xml).
"""

from __future__ import annotations

import uuid
from pathlib import Path

from harness.testnode import domain_xml, node_xml


def mac_of(name: str) -> str:
    """A stable MAC address for the domain `name`."""
    digest = uuid.uuid5(uuid.NAMESPACE_DNS, name).bytes
    return "52:54:00:" + ":".join(f"{byte:02x}" for byte in digest[:3])


def _domain(name: str) -> str:
    return domain_xml(name, str(uuid.uuid5(uuid.NAMESPACE_DNS, name)), mac_of(name),
                      f"tap-{name}")


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
        partial.write_text(node_xml([_domain(name) for name in self.domains]))
        partial.replace(self.path)


def migrate(domain: str, source: TestNode, target: TestNode) -> None:
    """The domain leaves `source` and runs on `target` (both files rewritten)."""
    target.domains.append(domain)
    target.write()
    source.domains.remove(domain)
    source.write()
