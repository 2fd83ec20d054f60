"""Unit tests of libcheck.inventory: Icinga DSL quoting, the listing rules, the CLI.

The inventory gets a stand-in inspector (any object with list_domains,
hostname, sample and domain_xml, live or inactive); the DSL literals are
decoded back with the escape rules of Icinga 2's lexer
(lib/config/config_lexer.ll).
"""

from __future__ import annotations

import io
import json
import re
from types import SimpleNamespace
from typing import Optional

import libvirt
import pytest
from harness.fakes import UUID, FakeConnection, FakeDomain, identity, libvirt_error
from hypothesis import given
from hypothesis import strategies as st

from libcheck import inventory
from libcheck.errors import ConnectionFailed, DomainVanished, LibvirtFailure
from libcheck.inventory import (
    Domain,
    Inspector,
    Interface,
    Inventory,
    dsl_string,
    icinga2_document,
    icinga2_host,
    json_document,
    macro_string,
    object_name,
)
from libcheck.samples import DomainState

# -- Icinga 2 string literals ----------------------------------------------------

_LEXER_ESCAPES = {"n": "\n", "\\": "\\", '"': '"', "t": "\t", "r": "\r", "b": "\b", "f": "\f"}
_LITERAL = re.compile(r'"(?:[^"\\\n]|\\.)*"', re.DOTALL)


def decode(literal: str) -> str:
    """What Icinga's lexer makes of a string literal (a strict subset: no line joins)."""
    assert _LITERAL.fullmatch(literal), literal
    body, out, position = literal[1:-1], [], 0
    while position < len(body):
        char = body[position]
        if char != "\\":
            out.append(char)
            position += 1
            continue
        octal = re.match(r"[0-7]{1,3}", body[position + 1:])
        if octal:
            out.append(chr(int(octal[0], 8)))
            position += 1 + len(octal[0])
        else:
            out.append(_LEXER_ESCAPES[body[position + 1]])
            position += 2
    return "".join(out)


@pytest.mark.parametrize(("text", "literal"), [
    ("web01", '"web01"'),
    ("db 01 'quoted'", '"db 01 \'quoted\'"'),
    ('say "hi"', '"say \\"hi\\""'),
    ("C:\\vm", '"C:\\\\vm"'),
    ("a\nb\tc\rd", '"a\\nb\\tc\\rd"'),
    ("bell\x07", '"bell\\007"'),
    ("\x01" + "7", '"\\0017"'),        # three digits, or the 7 would join the escape
    ("del\x7f", '"del\\177"'),
    ("überall 日本", '"überall 日本"'),
])
def test_dsl_string_escapes_what_the_lexer_needs(text, literal):
    assert dsl_string(text) == literal
    assert decode(literal) == text


@given(st.text())
def test_dsl_string_round_trips_any_text(text):
    assert decode(dsl_string(text)) == text


def test_macro_string_doubles_dollars_for_macro_resolution():
    assert macro_string("a$b$$c") == '"a$$b$$$$c"'


def test_object_name_replaces_the_bang_icinga_refuses():
    assert object_name("web!01") == "web_01"
    assert object_name("db 01 'quoted'") == "db 01 'quoted'"


# -- the Icinga 2 document -------------------------------------------------------------

WEB = Domain(name="web01", uuid=UUID, state="running", disks=("vda", "vdb"),
             interfaces=(Interface("vnet0", "52:54:00:00:00:01"), Interface("tap9", None)))
BARE = Domain(name='odd "$name"!', uuid=UUID, state="shut off", disks=(), interfaces=())
# Shut off: libvirt names the first tap when the VM starts; the second is named in its XML.
OFF = Domain(name="off01", uuid=UUID, state="shut off", disks=("vda",),
             interfaces=(Interface(None, "52:54:00:00:00:03"),
                         Interface("fixedtap", "52:54:00:00:00:04")))


def test_a_host_imports_vm_host_and_runs_on_its_hypervisor():
    assert icinga2_host(WEB, "hv1.example.com", "qemu:///system") == f"""\
object Host "web01" {{
\timport "vm-host"

\tvars.hypervisor = "hv1.example.com"
\tcommand_endpoint = vars.hypervisor
\tvars.vm_name = "web01"
\tvars.vm_uuid = "{UUID}"
\tvars.vm_connect = "qemu:///system"
\tvars.vm_disks = [ "vda", "vdb" ]
\tvars.vm_interfaces = {{
\t\t"52:54:00:00:00:01" = {{ target = "vnet0" }}
\t}}
}}"""


def test_an_awkward_name_is_escaped_and_kept_in_vm_name():
    text = icinga2_host(BARE, "hv", "test:///x$y")
    assert text.startswith('object Host "odd \\"$name\\"_" {')
    assert '\tvars.vm_name = "odd \\"$$name\\"!"' in text
    assert '\tvars.vm_connect = "test:///x$$y"' in text
    assert "\tvars.vm_disks = [ ]" in text and "\tvars.vm_interfaces = { }" in text


def test_an_interface_not_named_yet_is_keyed_by_mac_without_a_target():
    text = icinga2_host(OFF, "hv1", "qemu:///system")
    assert """
\tvars.vm_interfaces = {
\t\t"52:54:00:00:00:03" = { }
\t\t"52:54:00:00:00:04" = { target = "fixedtap" }
\t}
""" in text
    (record,) = json.loads(json_document([OFF], "hv1", "qemu:///system"))
    assert record["vm_interfaces"] == {"52:54:00:00:00:03": {},
                                       "52:54:00:00:00:04": {"target": "fixedtap"}}


def test_the_document_counts_and_separates_the_hosts():
    text = icinga2_document([WEB, BARE], "hv1", "qemu:///system")
    assert text.splitlines()[0] == "// check_vm inventory of qemu:///system on hv1: 2 domains"
    assert text.count("\n\nobject Host ") == 2
    assert text.endswith("}\n")


def test_json_uses_the_host_variable_names():
    records = json.loads(json_document([WEB, BARE], "hv1", "qemu:///system"))
    assert records[0] == {
        "name": "web01", "vm_name": "web01", "vm_uuid": UUID, "state": "running",
        "hypervisor": "hv1", "vm_connect": "qemu:///system", "vm_disks": ["vda", "vdb"],
        "vm_interfaces": {"52:54:00:00:00:01": {"target": "vnet0"}}}
    assert (records[1]["name"], records[1]["vm_name"]) == ('odd "$name"_', 'odd "$name"!')


# -- which domains and devices ----------------------------------------------------------

DEVICES_XML = """<domain><devices>
  <disk device='disk'><source file='/img/a.qcow2'/><target dev='vda'/></disk>
  <disk device='disk'><target dev='vdb'/></disk>
  <disk device='cdrom'><source file='/iso/x.iso'/><target dev='sda'/></disk>
  <disk device='floppy'><source file='/img/f.img'/><target dev='fda'/></disk>
  <disk device='disk'><source dev='/dev/vg/b'/><target dev='vdc'/></disk>
  <interface type='network'><mac address='52:54:00:00:00:01'/><target dev='vnet4'/></interface>
  <interface type='user'><mac address='52:54:00:00:00:09'/></interface>
  <interface type='bridge'><target dev='tap2'/></interface>
</devices></domain>"""


# A shut-off QEMU domain's XML, live or inactive alike: libvirt names a tap
# (vnet0...) only when the domain starts, so only a name set by hand is there.
SHUT_OFF_XML = """<domain type='kvm'><devices>
  <disk type='file' device='disk'><source file='/img/off.qcow2'/><target dev='vda'/></disk>
  <interface type='network'><mac address='52:54:00:00:00:03'/><source network='default'/>
    <model type='virtio'/></interface>
  <interface type='ethernet'><mac address='52:54:00:00:00:04'/><target dev='fixedtap'/>
    </interface>
  <interface type='bridge'><mac address='52:54:00:00:00:05'/><source bridge='br0'/>
    </interface>
  <interface type='direct'><mac address='52:54:00:00:00:06'/><source dev='eth0'/></interface>
  <interface type='user'><mac address='52:54:00:00:00:07'/></interface>
  <interface type='hostdev'><mac address='52:54:00:00:00:08'/></interface>
  <interface type='mcast'><mac address='52:54:00:00:00:09'/></interface>
</devices></domain>"""


class StubInspector:
    """Answers like Inspector for domains given as (name, domain ID or None).

    `xml` is every domain's live XML, `inactive_xml` its persistent XML; like
    libvirt for a shut-off domain, the live XML of one is its persistent XML.
    """

    def __init__(self, domains: list[tuple[str, Optional[int]]],
                 vanishing: tuple[str, ...] = (), xml: str = DEVICES_XML,
                 inactive_xml: str = SHUT_OFF_XML) -> None:
        self._domains = [SimpleNamespace(name=lambda name=name: name, domain_id=domain_id)
                         for name, domain_id in domains]
        self._vanishing = vanishing
        self._xml = xml
        self._inactive_xml = inactive_xml

    def list_domains(self):
        return list(self._domains)

    def hostname(self) -> str:
        return "hv-from-libvirt"

    def sample(self, domain, groups):
        assert groups == frozenset()
        if domain.name() in self._vanishing:
            raise DomainVanished("gone")
        state = DomainState.RUNNING if domain.domain_id is not None else DomainState.SHUTOFF
        return SimpleNamespace(identity=identity(domain.name(), domain.domain_id, state))

    def domain_xml(self, domain, inactive: bool = False) -> str:
        return self._xml if domain.domain_id is not None and not inactive else self._inactive_xml


def test_active_domains_only_unless_all_are_asked_for():
    stub = StubInspector([("b", 3), ("off", None), ("a", 1)])
    assert [d.name for d in Inventory(stub).domains()] == ["a", "b"]
    everything = list(Inventory(stub).domains(include_inactive=True))
    assert [(d.name, d.state) for d in everything] == [
        ("a", "running"), ("b", "running"), ("off", "shut off")]


def test_a_domain_that_vanishes_while_listed_is_left_out():
    stub = StubInspector([("a", 1), ("gone", 2)], vanishing=("gone",))
    assert [d.name for d in Inventory(stub).domains()] == ["a"]


def test_disks_as_the_check_reports_them_interfaces_with_a_device():
    (domain,) = Inventory(StubInspector([("a", 1)])).domains()
    assert domain.disks == ("vda", "vdc")
    assert domain.interfaces == (Interface("vnet4", "52:54:00:00:00:01"),
                                 Interface("tap2", None))


def test_a_shut_off_domain_lists_the_interfaces_it_gets_a_device_for_at_start():
    (domain,) = Inventory(StubInspector([("off", None)])).domains(include_inactive=True)
    assert domain.disks == ("vda",)
    # Not the user-mode, passed-through (hostdev) or socket (mcast) ones: no device.
    assert domain.interfaces == (Interface(None, "52:54:00:00:00:03"),
                                 Interface("fixedtap", "52:54:00:00:00:04"),
                                 Interface(None, "52:54:00:00:00:05"),
                                 Interface(None, "52:54:00:00:00:06"))



# -- Inspector: libvirt's errors become ours ---------------------------------------

class ListingConnection(FakeConnection):
    """A FakeConnection with the two connection-wide calls of the inventory."""

    def __init__(self, failure: Optional[libvirt.libvirtError] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.failure = failure

    def listAllDomains(self, flags: int = 0):
        if self.failure:
            raise self.failure
        return list(self.domains)

    def getHostname(self) -> str:
        if self.failure:
            raise self.failure
        return "hv9"


def test_listing_inspector_lists_and_names_the_host():
    connection = ListingConnection(domains=[FakeDomain("vm1")])
    inspector = Inspector(connection)
    assert [domain.name() for domain in inspector.list_domains()] == ["vm1"]
    assert inspector.hostname() == "hv9"


@pytest.mark.parametrize("call", ["list_domains", "hostname"])
def test_a_libvirt_error_is_one_line_of_ours(call):
    error = libvirt_error(libvirt.VIR_ERR_SYSTEM_ERROR, "connection broke\nsecond line")
    inspector = Inspector(ListingConnection(failure=error))
    with pytest.raises(LibvirtFailure, match=r"^libvirt failed while [a-z ]+: connection broke$"):
        getattr(inspector, call)()


def test_the_inactive_xml_is_the_persistent_one(test_driver):
    inspector = Inspector(test_driver)
    domain = inspector.find("test")
    assert " id='1'" in inspector.domain_xml(domain).splitlines()[0]
    assert inspector.domain_xml(domain, inactive=True).splitlines()[0] == "<domain type='test'>"


def test_a_domain_gone_before_its_inactive_xml_is_read_is_a_vanished_one():
    gone = libvirt_error(libvirt.VIR_ERR_NO_DOMAIN, "Domain not found")
    inspector = Inspector(FakeConnection())
    with pytest.raises(DomainVanished, match="while reading the inactive domain XML"):
        inspector.domain_xml(FakeDomain(failures={"XMLDesc": gone}), inactive=True)


def test_the_test_driver_domain_is_listed_with_its_devices(test_driver):
    (domain,) = Inventory(Inspector(test_driver)).domains()
    assert (domain.name, domain.state, domain.disks) == ("test", "running", ("vda",))
    assert [nic.mac for nic in domain.interfaces] == ["aa:bb:cc:dd:ee:ff"]


# -- the command line ---------------------------------------------------------------------

class OpenedStub(StubInspector):
    """A stub that records being closed, as main() must do."""

    closed = False

    def close(self) -> None:
        self.closed = True


def test_main_prints_the_chosen_format_and_closes(monkeypatch, capsys):
    stub = OpenedStub([("web01", 1)])
    inventory.main(["--connect", "fake:///", "--format", "json"], opener=lambda uri: stub)
    records = json.loads(capsys.readouterr().out)
    assert [(r["name"], r["hypervisor"], r["vm_connect"]) for r in records] == [
        ("web01", "hv-from-libvirt", "fake:///")]
    assert stub.closed


def test_main_defaults_to_icinga2_with_the_given_hypervisor(capsys):
    inventory.main(["--connect", "fake:///", "--hypervisor", "hv7"],
                   opener=lambda uri: OpenedStub([("web01", 1)]))
    out = capsys.readouterr().out
    assert 'object Host "web01" {' in out and 'vars.hypervisor = "hv7"' in out


def failing_opener(uri: str):
    raise ConnectionFailed(f"cannot connect to libvirt at {uri}: no such socket")


@pytest.mark.parametrize(("argv", "message"), [
    (["--connect", "qemu:///nowhere"], "cannot connect to libvirt at qemu:///nowhere"),
    (["--format", "yaml"], "argument --format: invalid choice"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_failures_are_one_line_and_exit_3(capsys, argv, message):
    with pytest.raises(SystemExit) as exited:
        inventory.main(argv, opener=failing_opener)
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("check_vm_inventory: ") and message in err


def test_a_failure_while_listing_still_closes_the_connection(capsys):
    stub = OpenedStub([("a", 1)])
    stub.list_domains = lambda: (_ for _ in ()).throw(LibvirtFailure("libvirt failed"))
    with pytest.raises(SystemExit):
        inventory.main([], opener=lambda uri: stub)
    assert stub.closed


def test_run_writes_to_the_given_stream():
    out = io.StringIO()
    options = inventory.build_parser().parse_args(["--connect", "x:///", "--all"])
    inventory.run(options, Inventory(StubInspector([("off", None)])), out)
    assert 'object Host "off" {' in out.getvalue()
