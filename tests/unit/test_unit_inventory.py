"""Unit tests of libcheck.inventory: Icinga DSL quoting, the listing rules, the CLI.

The inventory gets a stand-in inspector (any object with list_domains,
hostname, sample and domain_xml, live or inactive); the DSL literals are
decoded back with the escape rules of Icinga 2's lexer
(lib/config/config_lexer.ll).
"""

from __future__ import annotations

import hashlib
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
    Hypervisor,
    Inspector,
    Interface,
    Inventory,
    display_name,
    domain_argument,
    dsl_string,
    expect_file_document,
    expected_domains,
    hypervisor_template_name,
    icinga2_document,
    icinga2_host,
    icinga2_hypervisor,
    json_document,
    macro_string,
    object_name,
    object_names,
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


def digest(name: str, digits: int = 8) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:digits]


def test_a_name_icinga_takes_is_the_object_name_as_it_always_was():
    for name in ("web01", "db 01 'quoted'", "a_b", "A_B", 'q"\\$x{y}', "ünï 日本", "x" * 300):
        assert object_name(name) == name


def test_a_name_with_a_bang_or_a_control_character_gets_a_suffix_of_its_own():
    assert object_name("web!01") == f"web_01~{digest('web!01')}"
    assert object_name("a\tb") == f"a_b~{digest('a' + chr(9) + 'b')}"
    assert object_name("a!b") != object_name("a\nb") != object_name("a_b")


HOSTILE = ["a!b", "a_b", "a\nb", "a\tb", "A!B", "a!!b", "a_!b", "a!_b", 'q"b', "s\\t",
           "$HOME", "{x}", "ünï!", "x" * 300 + "!", "web01", "WEB01"]


def test_hostile_names_get_distinct_object_names_without_what_icinga_refuses():
    names = object_names(HOSTILE)
    assert sorted(names) == sorted(HOSTILE)
    assert len(set(names.values())) == len(HOSTILE)
    assert not any("!" in name or re.search(r"[\x00-\x1f\x7f]", name)
                   for name in names.values())
    assert names["a_b"] == "a_b" and names["a!b"] == f"a_b~{digest('a!b')}"
    assert object_names(reversed(HOSTILE)) == names  # the same whatever the order


def test_a_vm_named_like_anothers_object_name_does_not_take_it_from_it():
    squatter = f"a_b~{digest('a!b')}"
    names = object_names(["a!b", squatter])
    assert names == {squatter: squatter, "a!b": f"a_b~{digest('a!b', 16)}"}
    longer = f"a_b~{digest('a!b', 16)}"
    full = f"a_b~{digest('a!b', 64)}"
    names = object_names(["a!b", squatter, longer, full, f"{full}-2"])
    assert names["a!b"] == f"{full}-3" and len(set(names.values())) == 5


@given(st.sets(st.text(alphabet=st.sampled_from("ab_!\n~-0"), max_size=12)))
def test_object_names_are_distinct_for_any_set_of_names(vm_names):
    names = object_names(vm_names)
    assert len(set(names.values())) == len(vm_names)
    assert not any("!" in name or "\n" in name for name in names.values())


@pytest.mark.parametrize(("name", "argument"), [
    ("web01", "web01"), ("8", "8"), ("db 01 'quoted'", "db 01 'quoted'"),
    ("a!b", "a!b"), ("$HOME", "$HOME"),
    ("a\tb", UUID), ("a\nb", UUID), ("\x7f", UUID), ("   ", UUID),
    # The checks would look such a name up as a UUID first, and might find another VM.
    ("4dea22b3-1d52-d8f3-2516-782e98ab3fa0", UUID),
])
def test_the_domain_argument_is_the_uuid_where_the_checks_would_not_find_the_name(
        name, argument):
    domain = Domain(name=name, uuid=UUID, state="running", disks=(), interfaces=())
    assert domain_argument(domain) == argument


def test_the_display_name_shows_control_characters_as_escapes():
    assert display_name("a\tb\nc\x07d\x7f!ü") == "a\\tb\\nc\\x07d\\x7f!ü"


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
    assert text.startswith(f'object Host "odd \\"$name\\"_~{digest(BARE.name)}" {{\n'
                           '\timport "vm-host"\n'
                           '\tdisplay_name = "odd \\"$name\\"!"\n')
    assert '\tvars.vm_name = "odd \\"$$name\\"!"' in text
    assert '\tvars.vm_connect = "test:///x$$y"' in text
    assert "\tvars.vm_disks = [ ]" in text and "\tvars.vm_interfaces = { }" in text


def test_a_name_the_checks_refuse_is_checked_by_uuid_and_shown_by_name():
    tabbed = Domain(name="tab\tbed", uuid=UUID, state="running", disks=(), interfaces=())
    text = icinga2_host(tabbed, "hv", "qemu:///system")
    assert text.startswith(f'object Host "tab_bed~{digest(tabbed.name)}" {{\n'
                           '\timport "vm-host"\n'
                           '\tdisplay_name = "tab\\\\tbed"\n')
    assert f'\tvars.vm_name = "{UUID}"' in text
    (record,) = json.loads(json_document([tabbed], "hv", "qemu:///system"))
    assert (record["display_name"], record["vm_name"]) == ("tab\\tbed", UUID)


def test_device_names_have_their_dollars_doubled_for_macro_resolution():
    # libvirt refuses `$` in a disk target without an explicit address, and QEMU
    # in any; an interface's target (a tap named in the XML) may hold one.
    odd = Domain(name="vm", uuid=UUID, state="running", disks=("vd$a",),
                 interfaces=(Interface("ta$p", "52:54:00:00:00:09"),))
    text = icinga2_host(odd, "hv", "qemu:///system")
    assert '\tvars.vm_disks = [ "vd$$a" ]' in text
    assert '\t\t"52:54:00:00:00:09" = { target = "ta$$p" }' in text


def test_the_document_names_colliding_vms_apart():
    twins = [Domain(name=name, uuid=UUID, state="running", disks=(), interfaces=())
             for name in ("a!b", "a_b")]
    text = icinga2_document(twins, "hv", "qemu:///system")
    hosts = re.findall(r"^object Host (.*) \{$", text, re.MULTILINE)
    assert hosts == [f'"a_b~{digest("a!b")}"', '"a_b"']
    names = [record["name"] for record in json.loads(json_document(twins, "hv", "x:///"))]
    assert names == [f"a_b~{digest('a!b')}", "a_b"]


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
        "name": "web01", "display_name": "web01", "vm_name": "web01", "vm_uuid": UUID,
        "state": "running",
        "hypervisor": "hv1", "vm_connect": "qemu:///system", "vm_disks": ["vda", "vdb"],
        "vm_interfaces": {"52:54:00:00:00:01": {"target": "vnet0"}},
        "vm_interface_macs": ["52:54:00:00:00:01"]}
    assert (records[1]["name"], records[1]["display_name"], records[1]["vm_name"]) == (
        f'odd "$name"_~{digest(BARE.name)}', 'odd "$name"!', 'odd "$name"!')


# -- the hypervisor -----------------------------------------------------------------------

TABBED = Domain(name="tab\tbed", uuid=UUID, state="running", disks=(), interfaces=())


def test_the_hypervisor_is_a_template_for_its_existing_host_to_import():
    text = icinga2_hypervisor(Hypervisor("hv1.example.com", "qemu:///system"), ["db01", "web01"])
    assert text == """\
// The hypervisor's services vm-host and vm-pool: add
//   import "vm-hypervisor hv1.example.com qemu:///system"
// to its Host object (or write one with --hypervisor-host NAME).
template Host "vm-hypervisor hv1.example.com qemu:///system" {
\tvars.vm_hypervisor_endpoint = "hv1.example.com"
\tvars.vm_hypervisor_connect = "qemu:///system"
\tvars.vm_expected_domains = [ "db01", "web01" ]
}"""


def test_with_a_host_name_the_hypervisor_is_a_host_of_its_own():
    text = icinga2_hypervisor(Hypervisor("hv1.example.com", "qemu:///system", "hv1"), [])
    assert text == """\
object Host "hv1" {
\timport "vm-hypervisor"

\tvars.vm_hypervisor_endpoint = "hv1.example.com"
\tvars.vm_hypervisor_connect = "qemu:///system"
\tvars.vm_expected_domains = [ ]
}"""


def test_the_template_name_differs_per_uri_and_takes_no_bang():
    one, two = (hypervisor_template_name(Hypervisor("hv", uri)) for uri in ("a:///", "b:///"))
    assert one != two
    odd = hypervisor_template_name(Hypervisor("hv", "test:///x!y"))
    assert "!" not in odd and odd.startswith("vm-hypervisor hv test:///x_y~")


def test_expected_domains_are_the_names_the_check_takes_else_uuids_dollars_doubled():
    assert expected_domains([WEB, BARE, TABBED]) == ["web01", 'odd "$name"!', UUID]
    text = icinga2_document([WEB, BARE, TABBED], "hv", "test:///x$y")
    assert (f'\tvars.vm_expected_domains = [ "web01", "odd \\"$$name\\"!", "{UUID}" ]'
            in text)
    assert '\tvars.vm_hypervisor_connect = "test:///x$$y"' in text


def test_the_document_puts_the_hypervisor_before_the_vms():
    text = icinga2_document([WEB], "hv1", "qemu:///system", "hv1")
    hosts = re.findall(r"^object Host (.*) \{$", text, re.MULTILINE)
    assert hosts == ['"hv1"', '"web01"']
    assert "template Host" not in text


def test_json_adds_the_hypervisor_record_after_the_vms_with_a_host_name_only():
    assert json.loads(json_document([WEB, TABBED], "hv1", "qemu:///system")) == [
        inventory.json_record(domain, "hv1", "qemu:///system") for domain in (WEB, TABBED)]
    records = json.loads(json_document([WEB, TABBED], "hv1", "qemu:///system", "hv1-host"))
    assert records[:2] == [inventory.json_record(domain, "hv1", "qemu:///system")
                           for domain in (WEB, TABBED)]
    assert records[2] == {"name": "hv1-host", "display_name": "hv1-host",
                          "vm_hypervisor_endpoint": "hv1",
                          "vm_hypervisor_connect": "qemu:///system",
                          "vm_expected_domains": ["web01", UUID]}


def test_the_expect_file_has_one_entry_a_line_a_uuid_for_a_name_it_cannot_hold():
    hashed = Domain(name="# db", uuid=UUID, state="running", disks=(), interfaces=())
    text = expect_file_document([WEB, BARE, TABBED, hashed], "hv1", "qemu:///system")
    assert text == ("# check_vm inventory of qemu:///system on hv1: 4 expected domains\n"
                    f'web01\nodd "$name"!\n{UUID}\n{UUID}\n')


@pytest.mark.parametrize("name", ["a!b", "", "  ", "new\nline"])
def test_a_hypervisor_host_name_icinga_refuses_is_one_line_and_exit_3(capsys, name):
    with pytest.raises(SystemExit) as exited:
        inventory.main(["--hypervisor-host", name], opener=failing_opener)
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "argument --hypervisor-host" in err


def test_main_writes_the_hypervisor_host_it_is_asked_for(capsys):
    inventory.main(["--connect", "fake:///", "--hypervisor", "hv7", "--hypervisor-host", "hv7"],
                   opener=lambda uri: OpenedStub([("web01", 1), ("off", None)]))
    out = capsys.readouterr().out
    assert 'object Host "hv7" {\n\timport "vm-hypervisor"\n' in out
    assert '\tvars.vm_expected_domains = [ "web01" ]' in out


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


def test_the_document_is_the_chosen_format():
    options = inventory.build_parser().parse_args(["--connect", "x:///", "--all"])
    text = inventory.document(options, Inventory(StubInspector([("off", None)])))
    assert 'object Host "off" {' in text


def test_the_output_is_utf8_whatever_the_locale():
    out = io.BytesIO()
    inventory.main(["--connect", "fake:///", "--hypervisor", "hv"], out=out,
                   opener=lambda uri: OpenedStub([("ünï 日本", 1)]))
    assert 'object Host "ünï 日本" {'.encode() in out.getvalue()


class BrokenOutput(io.BytesIO):
    """An output whose writes fail like a closed pipe or a full disk."""

    def __init__(self, error: OSError) -> None:
        super().__init__()
        self.error = error

    def write(self, data) -> int:
        raise self.error


@pytest.mark.parametrize(("error", "words"), [
    (BrokenPipeError(32, "Broken pipe"), "cannot write the output: Broken pipe"),
    (OSError(28, "No space left on device"), "cannot write the output: No space left"),
])
def test_an_output_that_fails_is_one_line_and_exit_3(capsys, error, words):
    stub = OpenedStub([("web01", 1)])
    with pytest.raises(SystemExit) as exited:
        inventory.main(["--connect", "fake:///"], out=BrokenOutput(error),
                       opener=lambda uri: stub)
    assert exited.value.code == 3 and stub.closed
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"check_vm_inventory: {words}")


def test_a_closed_stdout_is_one_line_and_exit_3(capsys, monkeypatch):
    monkeypatch.setattr(inventory.sys, "stdout", None)  # what Python makes of a closed fd 1
    with pytest.raises(SystemExit) as exited:
        inventory.main(["--connect", "fake:///"], opener=lambda uri: OpenedStub([("a", 1)]))
    assert exited.value.code == 3
    assert capsys.readouterr().err == ("check_vm_inventory: cannot write the output: "
                                       "standard output is closed\n")


def test_an_unexpected_failure_is_still_one_line_and_exit_3(capsys):
    stub = OpenedStub([("a", 1)])
    stub.hostname = lambda: (_ for _ in ()).throw(RuntimeError("odd\nthing"))
    with pytest.raises(SystemExit) as exited:
        inventory.main(["--connect", "fake:///"], opener=lambda uri: stub)
    assert exited.value.code == 3 and stub.closed
    assert capsys.readouterr().err == ("check_vm_inventory: internal error: RuntimeError: "
                                       "odd thing\n")


@pytest.mark.parametrize("argv", [["--connect", "qemu:///\udcff"], ["--hypervisor", "h\udcff"],
                                  ["--connect=\udcff"]])
def test_bytes_that_are_not_utf8_are_a_usage_error(capsys, argv):
    with pytest.raises(SystemExit) as exited:
        inventory.main(argv, opener=failing_opener)
    assert exited.value.code == 3
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "is not valid UTF-8" in err
