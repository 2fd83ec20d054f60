"""check_vm_director_feed run on test-driver node files it writes (test:///PATH).

The feed's tests (test-driver and fault tiers) write hypervisors as node files,
run the executable, and read its two JSON files as the fileshipper module would.
"""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path

from harness.cluster.testnodes import mac_of
from harness.paths import REPO
from harness.testnode import domain_xml, node_xml

FEED = REPO / "checks" / "check_vm_director_feed"
PAUSED, SHUT_OFF = 3, 5


def node(path: Path, domains: dict[str, int], uuids: dict[str, str] | None = None) -> str:
    """A node file of `domains` (name -> libvirt state), its URI."""
    xml = []
    for name, state in domains.items():
        identity = (uuids or {}).get(name) or str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
        text = domain_xml(name, identity, mac_of(name), f"tap-{name}")
        if state != 1:
            text = text.replace("</devices>\n",
                                f"</devices>\n    <test:runstate>{state}</test:runstate>\n")
        xml.append(text)
    path.write_text(node_xml(xml))
    return f"test://{path}"


def feed(config: Path, output: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(FEED), "--config", str(config),
                           "--output-dir", str(output)],
                          capture_output=True, text=True, timeout=60, check=False)


def read(output: Path, name: str) -> list[dict]:
    return json.loads((output / name).read_text())


def placed(output: Path) -> dict[str, str]:
    """VM host name -> the hypervisor it is listed on."""
    return {row["name"]: row["hypervisor"] for row in read(output, "vms.json")}


def configured(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "feed.conf"
    path.write_text("# hypervisors\n" + "\n".join(lines) + "\n")
    return path
