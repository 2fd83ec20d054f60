"""Inventory of a libvirt host, for Icinga 2 or for import tools.

`python -m libcheck.inventory --connect URI` lists the domains of one libvirt
connection (read-only) with the disks and interfaces the checks report by
default, and prints them as Icinga 2 Host objects, one per VM (the "host per
VM" way of modelling, see icinga2-conf/example-hosts-per-vm.conf), or as JSON
for import tools such as the Icinga Director.

The hypervisor itself comes with them: its endpoint, the URI and the domains
the monitoring now expects there (those it wrote hosts for), which the apply
rules of icinga2-conf/templates.conf turn into its services vm-host and
vm-pool. By default these variables are a Host template, to import into the
hypervisor's existing Host object (a second object of its name would not
load); `--hypervisor-host NAME` writes a Host object of its own instead, and
in JSON a record after the VMs' (without it the array holds VMs only, as
before). The expected names alone, one a line, are the `expect-file` format,
for check_vm_host --expect-file (Nagios).

Interfaces are keyed by MAC address: libvirt names a tap (vnet0...) anew on
every start of the VM, the MAC stays. A running VM's interfaces come from its
live XML (those with a host-side device, named as now); a shut-off VM's from
its persistent XML (those that get a host-side device when it starts, most
of them without a name yet).

What it writes always loads: every VM gets a Host object name of its own
(`object_names`), every domain argument is one the checks take (the UUID
where they refuse the name), every string is escaped for the Icinga DSL and
its macros, and the output is UTF-8 whatever the locale. Every failure,
writing included, is one line on stderr and exit 3.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from typing import BinaryIO, Callable, Iterable, Iterator, NoReturn, Optional, Sequence, TextIO

from libcheck import __version__, toolcli
from libcheck.cli import (
    default_uri,
    domain_reference_problem,
    refuse_bytes_that_are_not_text,
    refuse_defaults_that_are_not_text,
)
from libcheck.discovery import parse_devices, parse_xml
from libcheck.domainref import Lookup, lookup_order
from libcheck.errors import CheckError, DomainVanished
from libcheck.inspector import Inspector
from libcheck.samples import DomainIdentity
from libcheck.toolcli import ToolParser

PROG = "check_vm_inventory"
HOST_TEMPLATE = "vm-host"
HYPERVISOR_TEMPLATE = "vm-hypervisor"


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


@dataclass(frozen=True)
class Hypervisor:
    """The hypervisor as the monitoring sees it: the Icinga endpoint that runs its
    checks, the URI they read, and the Host object it is (None: a template of its
    variables, to import into a Host object kept elsewhere)."""

    endpoint: str
    uri: str
    host_name: Optional[str] = None


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


# -- names ---------------------------------------------------------------------

# Characters an object name is better without: Icinga refuses `!` (it joins a
# host's and a service's name); control characters would make unreadable hosts.
_REPLACED_IN_OBJECT_NAMES = frozenset({"!", *map(chr, range(0x20)), "\x7f"})
_SUFFIX_DIGITS = (8, 16, 64)


def object_name(vm_name: str, digits: int = _SUFFIX_DIGITS[0]) -> str:
    """The Host object's name for a VM: its own name where Icinga takes it as it is;
    else with `_` for each refused character and `~` plus the first `digits` hex
    digits of the SHA-256 of the VM's name, so that `a!b` and `a_b` stay apart."""
    if not _needs_new_name(vm_name):
        return vm_name
    readable = "".join("_" if char in _REPLACED_IN_OBJECT_NAMES else char for char in vm_name)
    return f"{readable}~{_digest(vm_name)[:digits]}"


def object_names(vm_names: Iterable[str]) -> dict[str, str]:
    """VM name -> Host object name, a different one for each of the (distinct) names.

    The names Icinga takes are their own; every other gets `object_name`'s
    suffix, longer (then numbered) only where that is taken already, by a VM
    named so or by a shared digest prefix. Going through the changed names in
    sorted order keeps the choice the same on every run.
    """
    names = sorted(set(vm_names))
    chosen = {name: name for name in names if not _needs_new_name(name)}
    taken = set(chosen.values())
    for name in (name for name in names if _needs_new_name(name)):
        chosen[name] = _free_name(name, taken)
        taken.add(chosen[name])
    return chosen


def _free_name(vm_name: str, taken: set[str]) -> str:
    for digits in _SUFFIX_DIGITS:
        candidate = object_name(vm_name, digits)
        if candidate not in taken:
            return candidate
    number = 2
    while f"{candidate}-{number}" in taken:
        number += 1
    return f"{candidate}-{number}"


def _needs_new_name(vm_name: str) -> bool:
    return any(char in _REPLACED_IN_OBJECT_NAMES for char in vm_name)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


def domain_argument(domain: Domain) -> str:
    """What the checks get as --domain: the name, or the UUID where the name is one
    the checks refuse (a control character...) or would look up as a UUID first."""
    if domain_reference_problem(domain.name) or lookup_order(domain.name)[0] is not Lookup.NAME:
        return domain.uuid
    return domain.name


def display_name(vm_name: str) -> str:
    """The VM's name for people: control characters as escapes (\\t, \\n, \\x07)."""
    return "".join(char.encode("unicode_escape").decode("ascii")
                   if char in _REPLACED_IN_OBJECT_NAMES and char != "!" else char
                   for char in vm_name)


# -- Icinga 2 hosts --------------------------------------------------------------

def icinga2_host(domain: Domain, hypervisor: str, uri: str,
                 name: Optional[str] = None) -> str:
    """One Host object of the host-per-VM way of modelling, named `name`
    (by default `object_name`'s)."""
    name = name if name is not None else object_name(domain.name)
    argument = domain_argument(domain)
    shown = ([f"\tdisplay_name = {dsl_string(display_name(domain.name))}"]
             if (name, argument) != (domain.name, domain.name) else [])
    lines = [
        f"object Host {dsl_string(name)} {{",
        f"\timport {dsl_string(HOST_TEMPLATE)}",
        *shown,
        "",
        f"\tvars.hypervisor = {dsl_string(hypervisor)}",
        "\tcommand_endpoint = vars.hypervisor",
        f"\tvars.vm_name = {macro_string(argument)}",
        f"\tvars.vm_uuid = {dsl_string(domain.uuid)}",
        f"\tvars.vm_connect = {macro_string(uri)}",
        f"\tvars.vm_disks = {_dsl_array(domain.disks)}",
        *_dsl_interfaces(domain.interfaces),
        "}",
    ]
    return "\n".join(lines)


def _dsl_array(items: Sequence[str]) -> str:
    """Device names, which reach commands through macros: `$` doubled."""
    return "[ " + ", ".join(macro_string(item) for item in items) + " ]" if items else "[ ]"


def _dsl_interfaces(interfaces: Sequence[Interface]) -> list[str]:
    keyed = [(nic.mac, nic) for nic in interfaces if nic.mac]
    if not keyed:
        return ["\tvars.vm_interfaces = { }"]
    entries = [f"\t\t{dsl_string(mac)} = {_dsl_interface_entry(nic)}" for mac, nic in keyed]
    return ["\tvars.vm_interfaces = {", *entries, "\t}"]


def _dsl_interface_entry(nic: Interface) -> str:
    return f"{{ target = {macro_string(nic.target)} }}" if nic.target else "{ }"


# -- the hypervisor -------------------------------------------------------------

def expected_domains(domains: Sequence[Domain]) -> list[str]:
    """What check_vm_host is to expect, one entry per listed domain: its name,
    or its UUID where the checks take the VM by UUID (`domain_argument`) or an
    expected-domains file could not hold the name (a leading `#`, a line break)."""
    return [expected_entry(domain) for domain in domains]


def expected_entry(domain: Domain) -> str:
    """The name or UUID check_vm_host expects a domain by."""
    return expected_entry_of(domain_argument(domain), domain.uuid)


def expected_entry_of(argument: str, uuid: str) -> str:
    """The domain argument, or the UUID where an expected-domains file could not
    hold the argument as a line of its own."""
    if argument.startswith("#") or len(argument.splitlines()) != 1:
        return uuid
    return argument


def hypervisor_template_name(hypervisor: Hypervisor) -> str:
    """The name of the template of the hypervisor's variables: one per endpoint and
    URI, so that the inventories of two URIs of one hypervisor load together."""
    return object_name(f"{HYPERVISOR_TEMPLATE} {hypervisor.endpoint} {hypervisor.uri}")


def icinga2_hypervisor(hypervisor: Hypervisor, expected: Sequence[str]) -> str:
    """The hypervisor's variables: a Host object importing `vm-hypervisor` when it
    has a host name, else a Host template for its existing Host object to import."""
    variables = [
        f"\tvars.vm_hypervisor_endpoint = {dsl_string(hypervisor.endpoint)}",
        f"\tvars.vm_hypervisor_connect = {macro_string(hypervisor.uri)}",
        f"\tvars.vm_expected_domains = {_dsl_array(expected)}",
    ]
    if hypervisor.host_name is not None:
        return "\n".join([f"object Host {dsl_string(hypervisor.host_name)} {{",
                          f"\timport {dsl_string(HYPERVISOR_TEMPLATE)}", "",
                          *variables, "}"])
    template = hypervisor_template_name(hypervisor)
    return "\n".join([
        "// The hypervisor's services vm-host and vm-pool: add",
        f"//   import {dsl_string(template)}",
        "// to its Host object (or write one with --hypervisor-host NAME).",
        f"template Host {dsl_string(template)} {{", *variables, "}"])


def _comment_text(text: str) -> str:
    return " ".join(text.split())


def icinga2_document(domains: Sequence[Domain], hypervisor: str, uri: str,
                     hypervisor_host: Optional[str] = None) -> str:
    """The whole Icinga 2 output: a comment line, the hypervisor's variables (see
    `icinga2_hypervisor`), then one Host per domain."""
    comment = _comment_text(f"check_vm inventory of {uri} on {hypervisor}")
    names = object_names(domain.name for domain in domains)
    parts = [f"// {comment}: {len(domains)} domains",
             icinga2_hypervisor(Hypervisor(hypervisor, uri, hypervisor_host),
                                expected_domains(domains))]
    parts += [icinga2_host(domain, hypervisor, uri, names[domain.name]) for domain in domains]
    return "\n\n".join(parts) + "\n"


# -- JSON ----------------------------------------------------------------------

def json_record(domain: Domain, hypervisor: str, uri: str,
                name: Optional[str] = None) -> dict:
    """One domain for import tools: the same names as the Icinga host variables,
    `name` (by default `object_name`'s) and the `display_name` for people."""
    return {
        "name": name if name is not None else object_name(domain.name),
        "display_name": display_name(domain.name),
        "vm_name": domain_argument(domain),
        "vm_uuid": domain.uuid,
        "state": domain.state,
        "hypervisor": hypervisor,
        "vm_connect": uri,
        "vm_disks": list(domain.disks),
        "vm_interfaces": {nic.mac: ({"target": nic.target} if nic.target else {})
                          for nic in domain.interfaces if nic.mac},
        # The same MACs as a list: the Director's apply-for loops over arrays only.
        "vm_interface_macs": [nic.mac for nic in domain.interfaces if nic.mac],
    }


def json_hypervisor_record(hypervisor: Hypervisor, expected: Sequence[str]) -> dict:
    """The hypervisor for import tools: its Host's name (the endpoint's unless
    given) and the variables of `icinga2_hypervisor`."""
    name = hypervisor.host_name if hypervisor.host_name is not None else hypervisor.endpoint
    return {
        "name": name,
        "display_name": display_name(name),
        "vm_hypervisor_endpoint": hypervisor.endpoint,
        "vm_hypervisor_connect": hypervisor.uri,
        "vm_expected_domains": list(expected),
    }


def json_document(domains: Sequence[Domain], hypervisor: str, uri: str,
                  hypervisor_host: Optional[str] = None) -> str:
    """A JSON array of `json_record`s; with a `hypervisor_host`, then the
    hypervisor's record (the only one with `vm_hypervisor_connect`). Without
    one the array holds VMs only, as import tools built for it expect."""
    names = object_names(domain.name for domain in domains)
    records = [json_record(domain, hypervisor, uri, names[domain.name]) for domain in domains]
    if hypervisor_host is not None:
        records.append(json_hypervisor_record(Hypervisor(hypervisor, uri, hypervisor_host),
                                              expected_domains(domains)))
    return json.dumps(records, indent=2, ensure_ascii=False) + "\n"


# -- expected-domains file -------------------------------------------------------

def expect_file_document(domains: Sequence[Domain], hypervisor: str, uri: str,
                         hypervisor_host: Optional[str] = None) -> str:
    """The expected entries, one a line, as check_vm_host --expect-file reads
    them, after a `#` comment line."""
    comment = _comment_text(f"check_vm inventory of {uri} on {hypervisor}")
    names = expected_domains(domains)
    return "\n".join([f"# {comment}: {len(names)} expected domains", *names]) + "\n"


FORMATS = {"icinga2": icinga2_document, "json": json_document,
           "expect-file": expect_file_document}


# -- command line --------------------------------------------------------------

def build_parser() -> argparse.ArgumentParser:
    """The options of check_vm_inventory."""
    parser = ToolParser(prog=PROG, description=(
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
    parser.add_argument("--hypervisor-host", metavar="NAME", type=_host_object_name,
                        help="write the hypervisor as a host of this name: a Host object "
                             "(for one that has none yet) instead of a template of its "
                             "variables for its existing Host object to import; in JSON, "
                             "a record after the VMs'")
    parser.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def is_object_name(text: str) -> bool:
    """Whether Icinga takes `text` as an object's name as it is."""
    return bool(text.strip()) and not _needs_new_name(text)


def _host_object_name(text: str) -> str:
    """A name Icinga takes for a Host object as it is."""
    if not is_object_name(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is no Icinga object name (empty, or with '!' or a control character)")
    return text


def fail(message: str, stream: Optional[TextIO] = None) -> NoReturn:
    """Print one line on stderr (when there is one) and exit with 3."""
    toolcli.fail(PROG, message, stream)


def document(options: argparse.Namespace, inventory: Inventory) -> str:
    """The domains in the chosen format."""
    domains = list(inventory.domains(include_inactive=options.all))
    hypervisor = options.hypervisor or inventory.hostname()
    return FORMATS[options.format](domains, hypervisor, options.connect,
                                   options.hypervisor_host)


def write_utf8(text: str, out: Optional[BinaryIO]) -> None:
    """Write `text` as UTF-8, whatever the locale: Icinga reads its configuration so."""
    if out is None:
        raise CheckError("cannot write the output: standard output is closed")
    try:
        out.write(text.encode("utf-8"))
        out.flush()
    except (OSError, ValueError) as error:
        raise CheckError(f"cannot write the output: {toolcli.reason(error)}") from None


def parse_options(argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """The options; anything malformed (bytes that are not UTF-8 too) ends in `fail`."""
    parser = build_parser()
    arguments = list(sys.argv[1:] if argv is None else argv)
    try:
        refuse_bytes_that_are_not_text(parser, arguments)
        options = parser.parse_args(arguments)
        refuse_defaults_that_are_not_text(parser, options)
    except CheckError as error:
        fail(str(error))
    return options


def main(argv: Optional[Sequence[str]] = None,
         opener: Callable[[str], Inspector] = Inspector.open,
         out: Optional[BinaryIO] = None) -> None:
    """Entry point of check_vm_inventory and `python -m libcheck.inventory`;
    `out` is standard output's bytes by default."""
    options = parse_options(argv)
    try:
        inspector = opener(options.connect)
        try:
            text = document(options, Inventory(inspector))
        finally:
            inspector.close()
        if out is not None:
            write_utf8(text, out)
        else:
            _write_stdout(text)
    except CheckError as error:
        fail(str(error))
    except Exception as error:  # the last line of defence: still one line
        fail(f"internal error: {type(error).__name__}: {error}")


def _write_stdout(text: str) -> None:
    try:
        write_utf8(text, getattr(sys.stdout, "buffer", None))
    except CheckError:
        _quiet_stdout()
        raise


def _quiet_stdout() -> None:
    # What is left in a broken stdout's buffer would be flushed again at exit,
    # and Python would print a second error: let it go to /dev/null instead.
    with contextlib.suppress(AttributeError, OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


if __name__ == "__main__":
    main()
