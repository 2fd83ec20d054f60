"""VM names chosen to break what is generated from them, on a test-driver node.

Each name is one libvirt takes and the test driver runs: pairs that an
escape or a case-folding would make one (`a!b` and `a_b`, `vm01` and
`VM01`), what the Icinga DSL and its macros give meaning to (quotes,
backslashes, `$`, braces, comments), what a line-based reader trips on
(newline, tab, carriage return), non-ASCII, very long, a name shaped like
another VM's UUID, and one named like another's generated object name (libvirt
refuses `/` in a name, and XML any control character but tab, newline and CR).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from xml.sax.saxutils import escape

from harness.testnode import node_xml

UUID_PREFIX = "5a1b2c3d-4e5f-4a6b-8c7d-"


def uuid_of(index: int) -> str:
    """The UUID the node gives the index-th name."""
    return f"{UUID_PREFIX}{index:012x}"


def _squatter(name: str) -> str:
    """A name equal to what the first suffix rule would make of `name`."""
    return name.replace("!", "_") + "~" + hashlib.sha256(name.encode()).hexdigest()[:8]


HOSTILE_NAMES = (
    "a!b", "a_b", "a!b!c", "a_b_c", _squatter("a!b"),
    "vm01", "VM01", "Vm01",
    'say "hi"', "it's", "back\\slash", "trailing\\", "\\",
    "$HOME", "a$$b", "cost $5 $", "{x}", "}{", "${x}",
    "# not a comment", '"; object Host "evil" { #', "a\\\\\"b",
    "new\nline", "tab\tbed", "carriage\rreturn", "\nleading",
    "ünïcødé 日本", "vm \U0001f680", "long-" + "x" * 1000,
    uuid_of(0), "8",
)

_DOMAIN = """  <domain type='test'>
    <name>{name}</name>
    <uuid>{uuid}</uuid>
    <memory unit='KiB'>65536</memory>
    <vcpu placement='static'>1</vcpu>
    <os><type arch='i686'>hvm</type></os>
    <devices>
      <disk type='file' device='disk'><source file='/guest/{index}.img'/>
        <target dev='vda'/></disk>
      <interface type='ethernet'><mac address='52:54:00:00:{high:02x}:{low:02x}'/>
        <target dev='tap{index}'/></interface>
    </devices>
  </domain>
"""


def xml_text(text: str) -> str:
    """`text` as XML character data that parses back to exactly it (a CR too)."""
    return escape(text).replace("\r", "&#13;").replace("\t", "&#9;").replace("\n", "&#10;")


def write_hostile_node(path: Path, names: tuple[str, ...] = HOSTILE_NAMES) -> str:
    """A test-driver node file with one running domain per name; its URI."""
    domains = [_DOMAIN.format(name=xml_text(name), uuid=uuid_of(index), index=index,
                              high=index // 256, low=index % 256)
               for index, name in enumerate(names)]
    path.write_text(node_xml(domains), encoding="utf-8")
    return f"test://{path}"
