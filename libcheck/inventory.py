"""Inventory of a libvirt host, for Icinga 2 or for import tools.

`python -m libcheck.inventory --connect URI` lists the domains of one libvirt
connection (read-only) with the disks and interfaces the checks report by
default, and prints them as Icinga 2 Host objects, one per VM (the "host per
VM" way of modelling, see icinga2-conf/example-hosts-per-vm.conf), or as JSON
for import tools such as the Icinga Director.

Interfaces are keyed by MAC address: libvirt names a tap (vnet0...) anew on
every start of the VM, the MAC stays. A running VM's interfaces come from its
live XML (those with a host-side device, named as now); a shut-off VM's from
its persistent XML (those that get a host-side device when it starts, most
of them without a name yet). Every failure is one line and exit 3.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from typing import Callable, Iterator, NoReturn, Optional, Sequence, TextIO

from libcheck import __version__
from libcheck.cli import default_uri
from libcheck.discovery import parse_devices, parse_xml
from libcheck.errors import CheckError, DomainVanished
from libcheck.inspector import Inspector
from libcheck.samples import DomainIdentity

PROG = "check_vm_inventory"
HOST_TEMPLATE = "vm-host"
EXIT_UNKNOWN = 3



@dataclass(frozen=True)
class Interface:
    """A network interface the checks count: its host-side device, where it has
    a name yet (a shut-off VM's tap is named when the VM starts), and its MAC."""

    target: Optional[str]
    mac: Optional[str]


@dataclass(frozen=True)
class Domain:
    """One VM as the inventory lists it."""

    name: str
    uuid: str
    state: str
    disks: tuple[str, ...]
    interfaces: tuple[Interface, ...]


class Inventory:
    """The domains of one connection, with the devices the checks report."""

    def __init__(self, inspector: Inspector) -> None:
        self._inspector = inspector

    def domains(self, include_inactive: bool = False) -> Iterator[Domain]:
        """The domains, sorted by name; without `include_inactive` only active ones."""
        listed = sorted(self._inspector.list_domains(), key=lambda domain: domain.name())
        for domain in listed:
            found = self._domain(domain, include_inactive)
            if found is not None:
                yield found

    def hostname(self) -> str:
        """The hypervisor's host name, the default of vars.hypervisor."""
        return self._inspector.hostname()

    def _domain(self, domain, include_inactive: bool) -> Optional[Domain]:
        try:
            identity = self._inspector.sample(domain, frozenset()).identity
            active = _is_active(identity)
            if not (include_inactive or active):
                return None
            disks, interfaces = self._devices(domain, active)
        except DomainVanished:
            return None  # undefined between the listing and the reading
        return Domain(name=identity.name, uuid=identity.uuid, state=identity.state.words,
                      disks=disks, interfaces=interfaces)

    def _devices(self, domain, active: bool) -> tuple[tuple[str, ...], tuple[Interface, ...]]:
        """The disks and interfaces to list: an active domain's as they are now
        (live XML), a shut-off one's as they will be when it starts."""
        if active:
            devices = parse_devices(self._inspector.domain_xml(domain))
            return _reported_disks(devices), tuple(
                Interface(nic.name, nic.mac) for nic in devices.nics if nic.name)
        xml = self._inspector.domain_xml(domain, inactive=True)
        return _reported_disks(parse_devices(xml)), _interfaces_at_start(xml)


def _is_active(identity: DomainIdentity) -> bool:
    """Active as libvirt means it (running, paused...): the domain has an ID."""
    return identity.domain_id is not None


# Interface types for which libvirt makes no host-side device (no tap, no
# macvtap): a check has no counters to read for them.
_DEVICELESS_TYPES = frozenset({"user", "mcast", "udp", "server", "client", "null",
                               "hostdev", "vdpa", "vds"})


def _interfaces_at_start(inactive_xml: str) -> tuple[Interface, ...]:
    """The interfaces a shut-off domain's XML gives a host-side device when it starts.

    libvirt names most taps only then (vnet0...): the target is the configured
    name where there is one, else None; the MAC is the key either way.
    """
    interfaces = []
    for node in parse_xml(inactive_xml).iterfind("devices/interface"):
        if node.get("type") not in _DEVICELESS_TYPES:
            target, mac = node.find("target"), node.find("mac")
            interfaces.append(Interface(target.get("dev") if target is not None else None,
                                        mac.get("address") if mac is not None else None))
    return tuple(interfaces)


def _reported_disks(devices) -> tuple[str, ...]:
    """The disks check_vm_disk_io reports by default: no cdrom, floppy or empty drive."""
    return tuple(disk.name for disk in devices.disks
                 if disk.device not in ("cdrom", "floppy") and disk.source is not None)


# -- Icinga 2 DSL --------------------------------------------------------------

_DSL_ESCAPES = {"\\": "\\\\", '"': '\\"', "\n": "\\n", "\t": "\\t", "\r": "\\r",
                "\b": "\\b", "\f": "\\f"}


def dsl_string(text: str) -> str:
    """`text` as an Icinga 2 string literal (other control characters as octal)."""
    escaped = "".join(_DSL_ESCAPES.get(char, _octal(char)) for char in text)
    return f'"{escaped}"'


def _octal(char: str) -> str:
    return f"\\{ord(char):03o}" if ord(char) < 0x20 or ord(char) == 0x7F else char


def macro_string(text: str) -> str:
    """A literal for a custom variable that Icinga resolves macros in: `$` doubled."""
    return dsl_string(text.replace("$", "$$"))


def object_name(vm_name: str) -> str:
    """The Host object's name: Icinga refuses `!` in object names."""
    return vm_name.replace("!", "_")


def icinga2_host(domain: Domain, hypervisor: str, uri: str) -> str:
    """One Host object of the host-per-VM way of modelling."""
    lines = [
        f"object Host {dsl_string(object_name(domain.name))} {{",
        f"\timport {dsl_string(HOST_TEMPLATE)}",
        "",
        f"\tvars.hypervisor = {dsl_string(hypervisor)}",
        "\tcommand_endpoint = vars.hypervisor",
        f"\tvars.vm_name = {macro_string(domain.name)}",
        f"\tvars.vm_uuid = {dsl_string(domain.uuid)}",
        f"\tvars.vm_connect = {macro_string(uri)}",
        f"\tvars.vm_disks = {_dsl_array(domain.disks)}",
        *_dsl_interfaces(domain.interfaces),
        "}",
    ]
    return "\n".join(lines)


def _dsl_array(items: Sequence[str]) -> str:
    return "[ " + ", ".join(dsl_string(item) for item in items) + " ]" if items else "[ ]"


def _dsl_interfaces(interfaces: Sequence[Interface]) -> list[str]:
    keyed = [(nic.mac, nic) for nic in interfaces if nic.mac]
    if not keyed:
        return ["\tvars.vm_interfaces = { }"]
    entries = [f"\t\t{dsl_string(mac)} = {_dsl_interface_entry(nic)}" for mac, nic in keyed]
    return ["\tvars.vm_interfaces = {", *entries, "\t}"]


def _dsl_interface_entry(nic: Interface) -> str:
    return f"{{ target = {dsl_string(nic.target)} }}" if nic.target else "{ }"


def icinga2_document(domains: Sequence[Domain], hypervisor: str, uri: str) -> str:
    """The whole Icinga 2 output: a comment line, then one Host per domain."""
    comment = " ".join(f"check_vm inventory of {uri} on {hypervisor}".split())
    parts = [f"// {comment}: {len(domains)} domains"]
    parts += [icinga2_host(domain, hypervisor, uri) for domain in domains]
    return "\n\n".join(parts) + "\n"


# -- JSON ----------------------------------------------------------------------

def json_record(domain: Domain, hypervisor: str, uri: str) -> dict:
    """One domain for import tools: the same names as the Icinga host variables."""
    return {
        "name": object_name(domain.name),
        "vm_name": domain.name,
        "vm_uuid": domain.uuid,
        "state": domain.state,
        "hypervisor": hypervisor,
        "vm_connect": uri,
        "vm_disks": list(domain.disks),
        "vm_interfaces": {nic.mac: ({"target": nic.target} if nic.target else {})
                          for nic in domain.interfaces if nic.mac},
    }


def json_document(domains: Sequence[Domain], hypervisor: str, uri: str) -> str:
    """A JSON array of `json_record`s."""
    records = [json_record(domain, hypervisor, uri) for domain in domains]
    return json.dumps(records, indent=2, ensure_ascii=False) + "\n"


FORMATS = {"icinga2": icinga2_document, "json": json_document}


# -- command line --------------------------------------------------------------

class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are one line and exit 3, like every failure here."""

    def error(self, message: str) -> NoReturn:
        fail(f"{message} (see --help)")


def build_parser() -> argparse.ArgumentParser:
    """The options of check_vm_inventory."""
    parser = _Parser(prog=PROG, description=(
        "List the domains of a libvirt host with their disks and interfaces, as Icinga 2 "
        "Host objects (one per VM) or as JSON for import tools."))
    parser.add_argument("--connect", metavar="URI", default=default_uri(),
                        help="libvirt URI, opened read-only (default: $LIBVIRT_DEFAULT_URI, "
                             "else qemu:///system)")
    parser.add_argument("--format", choices=sorted(FORMATS), default="icinga2",
                        help="output format (default: icinga2)")
    parser.add_argument("--hypervisor", metavar="NAME",
                        help="the Icinga endpoint of the hypervisor, for vars.hypervisor "
                             "(default: the host name libvirt reports)")
    parser.add_argument("--all", action="store_true",
                        help="list inactive (shut off) domains too")
    parser.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def fail(message: str, stream: Optional[TextIO] = None) -> NoReturn:
    """Print one line and exit with 3."""
    print(f"{PROG}: {message}", file=stream or sys.stderr)
    raise SystemExit(EXIT_UNKNOWN)


def run(options: argparse.Namespace, inventory: Inventory, out: TextIO) -> None:
    """List the domains and print them in the chosen format."""
    domains = list(inventory.domains(include_inactive=options.all))
    hypervisor = options.hypervisor or inventory.hostname()
    out.write(FORMATS[options.format](domains, hypervisor, options.connect))


def main(argv: Optional[Sequence[str]] = None,
         opener: Callable[[str], Inspector] = Inspector.open) -> None:
    """Entry point of check_vm_inventory and `python -m libcheck.inventory`."""
    options = build_parser().parse_args(argv)
    try:
        inspector = opener(options.connect)
        try:
            run(options, Inventory(inspector), sys.stdout)
        finally:
            inspector.close()
    except CheckError as error:
        fail(str(error))


if __name__ == "__main__":
    main()
