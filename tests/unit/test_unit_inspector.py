"""libvirt -> samples, and libvirt errors -> our errors (libcheck.inspector).

Fake connections and domains (tests/unit/fakes.py) raise real
`libvirt.libvirtError` instances with chosen codes; one test reads the
built-in `test:///default` driver for real.
"""

from __future__ import annotations

import re
import time

import libvirt
import pytest
from harness.fakes import NS, UUID, FakeConnection, FakeDomain, libvirt_error

from libcheck import clocks
from libcheck import inspector as inspector_module
from libcheck.cli import default_uri
from libcheck.discovery import parse_devices
from libcheck.errors import ConnectionFailed, DomainNotFound, DomainVanished, LibvirtFailure
from libcheck.inspector import Inspector
from libcheck.samples import DiskSample, DomainState, Group, NicSample, VcpuSample
from libcheck.statsgroups import GROUP_SPECS, spec_of

ALL = frozenset(Group)
NOWAIT = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT

BULK = {
    "state.state": 1, "state.reason": 1,
    "cpu.time": 12 * NS, "cpu.user": 7 * NS, "cpu.system": 3 * NS,
    "vcpu.current": 2, "vcpu.maximum": 4,
    "vcpu.0.state": 1, "vcpu.0.time": 5 * NS, "vcpu.0.wait": 100, "vcpu.0.delay": 50,
    "vcpu.1.state": 1, "vcpu.1.time": 6 * NS, "vcpu.1.wait": -1,
    "balloon.current": 2097152, "balloon.maximum": 4194304, "balloon.unused": 1048576,
    "balloon.available": 2000000, "balloon.usable": 1500000, "balloon.rss": 700000,
    "balloon.last-update": 1_700_000_000, "balloon.swap_in": 0,
    "block.count": 2,
    "block.0.name": "vda", "block.0.path": "/img/vda.qcow2",
    "block.0.rd.reqs": 10, "block.0.rd.bytes": 4096, "block.0.rd.times": 1000,
    "block.0.wr.reqs": 20, "block.0.wr.bytes": 8192, "block.0.wr.times": 2000,
    "block.0.fl.reqs": 3, "block.0.fl.times": 400, "block.0.errors": -1,
    "block.0.allocation": 2**30, "block.0.capacity": 10 * 2**30, "block.0.physical": 2**31,
    "block.1.name": "sdb",
    "net.count": 1, "net.0.name": "vnet3",
    "net.0.rx.bytes": 100, "net.0.rx.pkts": 2, "net.0.rx.errs": 0, "net.0.rx.drop": 0,
    "net.0.tx.bytes": 200, "net.0.tx.pkts": 3, "net.0.tx.errs": 0, "net.0.tx.drop": -1,
}


def inspect(connection: FakeConnection, domain: FakeDomain, groups=ALL):
    return Inspector(connection).sample(domain, groups)


# -- bulk stats --------------------------------------------------------------------------

@pytest.fixture
def bulk_sample():
    domain = FakeDomain()
    result = inspect(FakeConnection([domain], stats=dict(BULK)), domain)
    return result, domain


def test_bulk_stats_give_the_identity(bulk_sample):
    sample, _domain = bulk_sample
    identity = sample.identity
    assert (identity.name, identity.uuid, identity.domain_id) == ("vm1", UUID, 7)
    assert identity.state is DomainState.RUNNING and identity.reason == 1


def test_bulk_stats_give_cpu_times_and_the_present_vcpus(bulk_sample):
    cpu = bulk_sample[0].cpu
    assert (cpu.time_ns, cpu.user_ns, cpu.system_ns, cpu.vcpu_count) == (
        12 * NS, 7 * NS, 3 * NS, 2)
    assert cpu.vcpus == (VcpuSample(0, 5 * NS, 100, 50), VcpuSample(1, 6 * NS, None, None))


def test_bulk_stats_give_balloon_fields_under_memory_stats_names(bulk_sample):
    memory = bulk_sample[0].memory
    assert (memory.maximum_kib, memory.current_kib) == (4194304, 2097152)
    assert memory.balloon == {"actual": 2097152, "unused": 1048576, "available": 2000000,
                              "usable": 1500000, "rss": 700000,
                              "last_update": 1_700_000_000, "swap_in": 0}


def test_bulk_stats_give_disks_with_unknown_minus_one_as_none(bulk_sample):
    vda, sdb = bulk_sample[0].disks
    # Counters from the bulk call; device type and source from the domain XML.
    assert vda == DiskSample(
        name="vda", source="/var/lib/images/vm1.qcow2", device="disk", rd_bytes=4096,
        wr_bytes=8192, rd_reqs=10, wr_reqs=20, rd_total_ns=1000, wr_total_ns=2000,
        fl_reqs=3, fl_total_ns=400,
        errors=None, capacity=10 * 2**30, allocation=2**30, physical=2**31)
    assert sdb == DiskSample(name="sdb", device="cdrom")


def test_bulk_stats_give_nics_with_unknown_minus_one_as_none(bulk_sample):
    # The user-mode interface has no target: listed, with no counters.
    assert bulk_sample[0].nics == (NicSample(
        name="vnet3", mac="52:54:00:12:34:56", source="br0", rx_bytes=100, rx_packets=2,
        rx_errors=0, rx_drops=0, tx_bytes=200, tx_packets=3, tx_errors=0, tx_drops=None),
        NicSample(name=None, mac="52:54:00:ab:cd:ef"))


def test_bulk_stats_need_no_per_domain_calls_but_the_balloon_config(bulk_sample):
    # The memory group reads the XML once for the balloon model and stats period.
    assert bulk_sample[1].calls == ["XMLDesc"]


def test_only_the_asked_for_groups_are_read_and_flagged():
    domain = FakeDomain()
    connection = FakeConnection([domain], stats=dict(BULK))
    sample = inspect(connection, domain, frozenset({Group.CPU}))
    assert sample.cpu is not None
    assert (sample.memory, sample.disks, sample.nics) == (None, (), ())
    assert connection.stats_flags == [(
        libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
        | libvirt.VIR_DOMAIN_STATS_VCPU, NOWAIT)]


def test_every_group_sets_its_stats_flag():
    domain = FakeDomain()
    connection = FakeConnection([domain], stats=dict(BULK))
    inspect(connection, domain)
    flags = connection.stats_flags[0][0]
    for flag in (libvirt.VIR_DOMAIN_STATS_STATE, libvirt.VIR_DOMAIN_STATS_BALLOON,
                 libvirt.VIR_DOMAIN_STATS_BLOCK, libvirt.VIR_DOMAIN_STATS_INTERFACE):
        assert flags & flag


def test_every_group_has_libvirt_flags_and_a_per_domain_reader():
    for group in Group:
        flags = [getattr(libvirt, name) for name in spec_of(group).flags]
        assert flags and all(isinstance(flag, int) and flag > 0 for flag in flags)
        calls = inspector_module._CALL_READERS[group]
        assert calls.reading.startswith("reading ") and callable(calls.read)
    assert set(inspector_module._CALL_READERS) == {spec.group for spec in GROUP_SPECS}


def test_the_flags_of_every_group_are_those_libvirt_names_for_it():
    assert inspector_module._stats_flags(ALL) == (
        libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
        | libvirt.VIR_DOMAIN_STATS_VCPU | libvirt.VIR_DOMAIN_STATS_BALLOON
        | libvirt.VIR_DOMAIN_STATS_BLOCK | libvirt.VIR_DOMAIN_STATS_INTERFACE)


def test_a_refresh_asks_only_for_the_refreshed_groups_and_leaves_the_others_missing(
        monkeypatch):
    monkeypatch.setattr(inspector_module, "REFRESHED_GROUPS", frozenset({Group.CPU}))
    domain = FakeDomain()
    connection = FakeConnection([domain], stats=dict(BULK))
    (part,) = Inspector(connection).sample_host({}).parts
    assert connection.stats_flags == [(
        libvirt.VIR_DOMAIN_STATS_STATE | libvirt.VIR_DOMAIN_STATS_CPU_TOTAL
        | libvirt.VIR_DOMAIN_STATS_VCPU, NOWAIT)]
    assert part.sample.cpu.time_ns == 12 * NS and part.sample.memory is None
    assert part.missing == {Group.MEMORY, Group.DISK, Group.NIC}


def test_a_refresh_of_every_group_misses_none():
    domain = FakeDomain()
    (part,) = Inspector(FakeConnection([domain], stats=dict(BULK))).sample_host({}).parts
    assert part.missing == frozenset()
    assert [disk.name for disk in part.sample.disks] == ["vda", "sdb"]


def test_without_vcpu_current_the_count_is_the_vcpus_present():
    stats = {key: value for key, value in BULK.items() if key != "vcpu.current"}
    domain = FakeDomain()
    assert inspect(FakeConnection([domain], stats=stats), domain).cpu.vcpu_count == 2


def test_an_inactive_domain_is_sampled_for_its_state_only():
    domain = FakeDomain(domain_id=-1)
    connection = FakeConnection([domain], stats={"state.state": 5, "state.reason": 1,
                                                 "cpu.time": 0, "balloon.current": 1})
    sample = inspect(connection, domain)
    assert sample.identity.state is DomainState.SHUTOFF
    assert sample.identity.domain_id is None
    assert (sample.cpu, sample.memory, sample.disks, sample.nics) == (None, None, (), ())
    assert domain.calls == []


def test_the_state_comes_from_the_domain_when_the_bulk_call_leaves_it_out():
    domain = FakeDomain(state=(3, 1))
    sample = inspect(FakeConnection([domain], stats={}), domain)
    assert sample.identity.state is DomainState.PAUSED
    assert domain.calls == ["state"]


def test_an_unknown_state_number_is_no_state():
    domain = FakeDomain()
    sample = inspect(FakeConnection([domain], stats={"state.state": 99}), domain)
    assert sample.identity.state is DomainState.NOSTATE
    assert not sample.identity.is_active


def test_the_sample_time_is_the_middle_of_the_bulk_call():
    # Clock readings: around the bulk call, then around the (bulk-fed) readers.
    domain = FakeDomain()
    walls, monos = iter([100.0, 102.0, 150.0, 151.0]), iter([5.0, 6.0, 50.0, 51.0])
    inspector = Inspector(FakeConnection([domain], stats=dict(BULK)),
                          clock=lambda: next(walls), boot_time=lambda: next(monos))
    sample = inspector.sample(domain, ALL)
    assert (sample.wall_time, sample.boot_time) == (101.0, 5.5)


def test_without_bulk_numbers_the_sample_time_brackets_the_per_domain_calls():
    # The XML is read between the bulk call and the per-domain calls: not timed.
    domain = FakeDomain()
    walls, monos = iter([100.0, 102.0, 150.0, 151.0]), iter([5.0, 6.0, 50.0, 51.0])
    inspector = Inspector(FakeConnection([domain], stats={"state.state": 1}),
                          clock=lambda: next(walls), boot_time=lambda: next(monos))
    sample = inspector.sample(domain, ALL)
    assert (sample.wall_time, sample.boot_time) == (150.5, 50.5)


def test_the_sample_carries_the_boot_in_which_its_boot_time_compares():
    domain = FakeDomain()
    inspector = Inspector(FakeConnection([domain], stats=dict(BULK)), clock=lambda: 1.0,
                          boot_time=lambda: 2.0, boot=lambda: "boot-7")
    assert inspector.sample(domain, ALL).boot_id == "boot-7"
    paused = FakeDomain(state=(3, 1))
    inspector = Inspector(FakeConnection([paused], stats={"state.state": 3}),
                          clock=lambda: 1.0, boot_time=lambda: 2.0, boot=lambda: "boot-7")
    assert inspector.sample(paused, ALL).boot_id == "boot-7"


def test_by_default_a_sample_is_timed_on_the_boot_time_clock_of_this_boot():
    domain = FakeDomain()
    inspector = Inspector(FakeConnection([domain], stats=dict(BULK)))
    before = time.clock_gettime(time.CLOCK_BOOTTIME)
    sample = inspector.sample(domain, ALL)
    after = time.clock_gettime(time.CLOCK_BOOTTIME)
    assert before <= sample.boot_time <= after
    with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as handle:
        assert sample.boot_id == handle.read().strip()


def test_an_unreadable_boot_id_is_none(tmp_path):
    assert clocks.boot_id(str(tmp_path / "missing")) is None
    (tmp_path / "boot_id").write_text("")
    assert clocks.boot_id(str(tmp_path / "boot_id")) is None
    (tmp_path / "boot_id").write_bytes(b"\xff\xfe-not-ascii\n")
    assert clocks.boot_id(str(tmp_path / "boot_id")) is None
    (tmp_path / "boot_id").write_text("b76ed0a8-8958-4e8f-8872-e0a1d3221b68\n")
    assert clocks.boot_id(str(tmp_path / "boot_id")) == \
        "b76ed0a8-8958-4e8f-8872-e0a1d3221b68"


# -- NOWAIT and bulk-call errors --------------------------------------------------------------

def test_nowait_is_retried_without_the_flag_when_the_driver_refuses_it():
    domain = FakeDomain()
    connection = FakeConnection(
        [domain], stats=dict(BULK),
        stats_failures=[libvirt_error(libvirt.VIR_ERR_INVALID_ARG, "unsupported flags")])
    sample = inspect(connection, domain)
    assert [flags for _stats, flags in connection.stats_flags] == [NOWAIT, 0]
    assert sample.cpu.time_ns == 12 * NS


def test_a_refusal_of_the_retry_too_is_a_libvirt_failure():
    domain = FakeDomain()
    refusal = libvirt_error(libvirt.VIR_ERR_INVALID_ARG, "invalid argument: flags")
    connection = FakeConnection([domain], stats_failures=[refusal, refusal])
    with pytest.raises(LibvirtFailure,
                       match=r"^libvirt failed while reading statistics: invalid argument"):
        inspect(connection, domain)
    assert len(connection.stats_flags) == 2


def _without_job_numbers(stats: dict) -> dict:
    """BULK as a NOWAIT call answers while another client holds the domain's job."""
    job_only = re.compile(r"^(block\.\d+\.(rd|wr|fl|errors)|balloon\.(?!current|maximum))")
    return {key: value for key, value in stats.items() if not job_only.match(key)}


def _answers(*answers: dict):
    pending = list(answers)
    return lambda: pending.pop(0)


@pytest.mark.parametrize("groups", [frozenset({Group.DISK}), frozenset({Group.MEMORY}), ALL])
def test_numbers_a_busy_job_left_out_are_asked_for_again_waiting(groups):
    domain = FakeDomain()
    connection = FakeConnection([domain], stats=_answers(_without_job_numbers(BULK), dict(BULK)))
    sample = inspect(connection, domain, groups)
    assert [flags for _stats, flags in connection.stats_flags] == [NOWAIT, 0]
    if Group.DISK in groups:
        assert sample.disks[0].rd_reqs == 10
    if Group.MEMORY in groups:
        assert sample.memory.balloon["rss"] == 700000


@pytest.mark.parametrize("answer", [
    dict(BULK),  # complete
    {**_without_job_numbers(BULK), "state.state": 5, "state.reason": 1},  # shut off
    {"state.state": 1, "state.reason": 1},  # a driver whose bulk call gives the state only
    {**_without_job_numbers(BULK), "block.count": 0},  # no disks, the balloon complete
])
def test_a_complete_answer_or_one_with_nothing_to_wait_for_is_one_call(answer):
    domain = FakeDomain()
    answer = {**answer, **({"balloon.rss": 700000} if "balloon.current" in answer
                           and answer["state.state"] == 1 else {})}
    connection = FakeConnection([domain], stats=answer)
    inspect(connection, domain, frozenset({Group.DISK, Group.MEMORY}))
    assert [flags for _stats, flags in connection.stats_flags] == [NOWAIT]


def test_other_bulk_errors_are_not_retried():
    domain = FakeDomain()
    connection = FakeConnection([domain], stats_failures=[
        libvirt_error(libvirt.VIR_ERR_INTERNAL_ERROR, "internal error: oops\nmore detail")])
    with pytest.raises(LibvirtFailure) as raised:
        inspect(connection, domain)
    assert str(raised.value) == "libvirt failed while reading statistics: internal error: oops"
    assert len(connection.stats_flags) == 1


def test_a_domain_gone_during_the_bulk_call_has_vanished():
    domain = FakeDomain()
    connection = FakeConnection([domain], stats_failures=[
        libvirt_error(libvirt.VIR_ERR_NO_DOMAIN, "Domain not found: no domain with UUID")])
    with pytest.raises(DomainVanished, match=r"^the domain stopped or vanished while reading "
                                             r"statistics: Domain not found"):
        inspect(connection, domain)


# -- per-domain fallbacks (the test driver's bulk call gives the state only) ---------------

@pytest.fixture
def fallback():
    """A domain whose bulk stats hold only the state, and its sample."""
    domain = FakeDomain()
    return inspect(FakeConnection([domain]), domain), domain


def test_fallback_cpu_comes_from_info_cpu_stats_and_vcpus(fallback):
    cpu = fallback[0].cpu
    assert (cpu.time_ns, cpu.vcpu_count, cpu.user_ns, cpu.system_ns) == (
        12 * NS, 2, 7 * NS, 3 * NS)
    assert cpu.vcpus == (VcpuSample(0, 5 * NS), VcpuSample(1, None))


def test_fallback_memory_comes_from_info_and_memory_stats(fallback):
    memory = fallback[0].memory
    assert (memory.maximum_kib, memory.current_kib) == (4194304, 2097152)
    assert memory.balloon == {"actual": 2097152, "unused": 1048576, "rss": 600000}


def test_fallback_disks_are_named_from_the_xml_and_read_one_by_one(fallback):
    vda, sdb = fallback[0].disks
    assert vda == DiskSample(
        name="vda", source="/var/lib/images/vm1.qcow2", device="disk", rd_bytes=4096,
        wr_bytes=8192, rd_reqs=10, wr_reqs=20, rd_total_ns=1000, wr_total_ns=2000,
        fl_reqs=3, fl_total_ns=400, errors=None, capacity=10 * 2**30, allocation=2**30,
        physical=2**30)
    assert sdb == DiskSample(name="sdb", device="cdrom")


def test_fallback_nics_are_named_from_the_xml_and_a_nameless_one_has_no_counters(fallback):
    vnet3, user = fallback[0].nics
    assert vnet3 == NicSample(name="vnet3", mac="52:54:00:12:34:56", source="br0",
                              rx_bytes=100, rx_packets=2, rx_errors=0, rx_drops=0,
                              tx_bytes=200, tx_packets=3, tx_errors=0, tx_drops=None)
    assert user == NicSample(name=None, mac="52:54:00:ab:cd:ef")
    assert fallback[1].calls.count("interfaceStats") == 1


def test_unsupported_optional_calls_leave_their_fields_unknown():
    unsupported = libvirt_error(libvirt.VIR_ERR_NO_SUPPORT, "this function is not supported")
    domain = FakeDomain(failures={
        "getCPUStats": libvirt_error(libvirt.VIR_ERR_OPERATION_INVALID,
                                     "cgroup CPUACCT controller is not mounted"),
        "vcpus": unsupported, "memoryStats": unsupported, "blockStatsFlags": unsupported,
        "blockInfo": unsupported, "interfaceStats": unsupported})
    sample = inspect(FakeConnection([domain]), domain)
    assert (sample.cpu.time_ns, sample.cpu.user_ns, sample.cpu.vcpus) == (12 * NS, None, ())
    assert sample.memory.balloon == {}
    vda = sample.disks[0]
    assert (vda.rd_bytes, vda.rd_total_ns, vda.capacity) == (4096, None, None)
    assert sample.nics[0].rx_bytes is None


@pytest.mark.parametrize("method", ["info", "blockStats", "interfaceStats", "getCPUStats",
                                    "memoryStats", "XMLDesc"])
def test_a_domain_gone_during_a_per_domain_call_has_vanished(method):
    domain = FakeDomain(failures={
        method: libvirt_error(libvirt.VIR_ERR_NO_DOMAIN, "Domain not found")})
    with pytest.raises(DomainVanished, match=r"^the domain stopped or vanished while"):
        inspect(FakeConnection([domain]), domain)


def test_a_domain_no_longer_running_during_info_has_vanished():
    domain = FakeDomain(failures={"info": libvirt_error(
        libvirt.VIR_ERR_OPERATION_INVALID, "Requested operation is not valid: "
                                           "domain is not running")})
    with pytest.raises(DomainVanished, match="while reading CPU times: Requested operation"):
        inspect(FakeConnection([domain]), domain, frozenset({Group.CPU}))


def test_another_error_in_a_per_domain_call_is_a_one_line_libvirt_failure():
    domain = FakeDomain(failures={"info": libvirt_error(
        libvirt.VIR_ERR_INTERNAL_ERROR, "internal error: monitor gone\nsecond line")})
    with pytest.raises(LibvirtFailure) as raised:
        inspect(FakeConnection([domain]), domain, frozenset({Group.MEMORY}))
    assert str(raised.value) == ("libvirt failed while reading memory statistics: "
                                 "internal error: monitor gone")


def test_parse_devices_reads_targets_sources_and_macs():
    xml = """<domain><devices>
      <disk type='network' device='disk'><source protocol='rbd' name='pool/img'/>
        <target dev='vdc'/></disk>
      <disk type='volume'><source pool='p' volume='vol1'/><target dev='vdd'/></disk>
      <interface type='network'><mac address='52:54:00:00:00:01'/>
        <source network='default'/><target dev='vnet0'/></interface>
      <interface type='direct'><source dev='eth0' mode='bridge'/></interface>
    </devices></domain>"""
    devices = parse_devices(xml)
    assert [(d.name, d.source, d.device) for d in devices.disks] == [
        ("vdc", "pool/img", "disk"), ("vdd", "vol1", "disk")]
    assert [(n.name, n.mac, n.source) for n in devices.nics] == [
        ("vnet0", "52:54:00:00:00:01", "default"), (None, None, "eth0")]


# -- lookups ---------------------------------------------------------------------------------

def test_a_domain_is_found_by_name_with_one_lookup():
    domain = FakeDomain(name="web")
    connection = FakeConnection([domain])
    assert Inspector(connection).find("web") is domain
    assert connection.lookups == ["name:web"]


def test_a_uuid_shaped_reference_is_looked_up_as_a_uuid_first():
    domain = FakeDomain()
    connection = FakeConnection([domain])
    assert Inspector(connection).find(UUID) is domain
    assert connection.lookups == [f"uuid:{UUID}"]


def test_a_uuid_shaped_name_falls_back_to_the_name_lookup():
    name = "12345678-1234-1234-1234-123456789abc"
    domain = FakeDomain(name=name)
    connection = FakeConnection([domain])
    assert Inspector(connection).find(name) is domain
    assert connection.lookups == [f"uuid:{name}", f"name:{name}"]


def test_a_numeric_reference_is_a_name_first_then_an_id():
    domain = FakeDomain(name="db", domain_id=42)
    connection = FakeConnection([domain])
    assert Inspector(connection).find("42") is domain
    assert connection.lookups == ["name:42", "id:42"]


def test_a_domain_named_like_a_number_is_found_by_its_name():
    named = FakeDomain(name="7", domain_id=99)
    other = FakeDomain(name="other", domain_id=7)
    connection = FakeConnection([other, named])
    assert Inspector(connection).find("7") is named


def test_a_number_too_long_for_an_id_is_not_looked_up_as_one():
    connection = FakeConnection([])
    with pytest.raises(DomainNotFound):
        Inspector(connection).find("1234567890")
    assert connection.lookups == ["name:1234567890"]


@pytest.mark.parametrize("reference", ["²", "①"])
def test_a_non_ascii_digit_reference_is_simply_not_found(reference):
    with pytest.raises(DomainNotFound):
        Inspector(FakeConnection([])).find(reference)


def test_a_missing_domain_says_what_was_asked_where_and_how_to_list():
    connection = FakeConnection([], uri="qemu:///system")
    with pytest.raises(DomainNotFound) as raised:
        Inspector(connection).find("ghost")
    assert str(raised.value) == (
        "no domain 'ghost' on qemu:///system (give its name, UUID or ID as "
        "`virsh -r -c qemu:///system list --all` shows them)")


def test_an_invalid_argument_during_lookup_counts_as_not_found():
    connection = FakeConnection([], lookup_failure=libvirt_error(
        libvirt.VIR_ERR_INVALID_ARG, "invalid argument"))
    with pytest.raises(DomainNotFound):
        Inspector(connection).find(UUID)
    assert connection.lookups == [f"uuid:{UUID}", f"name:{UUID}"]


def test_another_lookup_error_is_a_libvirt_failure_not_a_missing_domain():
    connection = FakeConnection([], lookup_failure=libvirt_error(
        libvirt.VIR_ERR_SYSTEM_ERROR, "Cannot recv data: Connection reset by peer"))
    with pytest.raises(LibvirtFailure, match=r"^libvirt failed looking up 'vm1': Cannot recv"):
        Inspector(connection).find("vm1")


# -- connections -----------------------------------------------------------------------------

@pytest.fixture
def refuse(monkeypatch):
    """Make libvirt.openReadOnly raise the given error (and keep libvirt's handler)."""
    monkeypatch.setattr(inspector_module.libvirt, "registerErrorHandler",
                        lambda *_args: None)

    def install(error: libvirt.libvirtError) -> None:
        def open_read_only(_uri):
            raise error
        monkeypatch.setattr(inspector_module.libvirt, "openReadOnly", open_read_only)
    return install


@pytest.mark.parametrize(("uri", "code", "message", "hint"), [
    ("qemu:///system", libvirt.VIR_ERR_SYSTEM_ERROR,
     "Failed to connect socket to '/var/run/libvirt/libvirt-sock-ro': Permission denied",
     "no permission on libvirt's read-only socket"),
    ("qemu:///system", libvirt.VIR_ERR_AUTH_FAILED, "authentication failed",
     "no permission on libvirt's read-only socket"),
    ("qemu:///system", libvirt.VIR_ERR_SYSTEM_ERROR,
     "Failed to connect socket to '/var/run/libvirt/libvirt-sock-ro': "
     "No such file or directory", "is libvirtd (or virtqemud) running on this host?"),
    ("qemu+ssh://host/system", libvirt.VIR_ERR_SYSTEM_ERROR,
     "Cannot recv data: Connection refused", "is libvirtd (or virtqemud) running"),
    ("qemu:///system", libvirt.VIR_ERR_NO_CONNECT,
     "no connection driver available for qemu:///system", "check the URI given with --connect"),
    ("test:///nowhere.xml", libvirt.VIR_ERR_INTERNAL_ERROR, "something odd",
     "check --connect and that libvirtd is running"),
])
def test_a_failed_connection_carries_a_hint(refuse, uri, code, message, hint):
    refuse(libvirt_error(code, message))
    with pytest.raises(ConnectionFailed) as raised:
        Inspector.open(uri)
    text = str(raised.value)
    assert text.startswith(f"cannot connect to libvirt at {uri}: ")
    assert hint in text
    assert "\n" not in text


def test_a_connection_error_shows_only_its_first_line(refuse):
    refuse(libvirt_error(libvirt.VIR_ERR_SYSTEM_ERROR,
                         "Failed to connect socket: Permission denied\nat line 2"))
    with pytest.raises(ConnectionFailed) as raised:
        Inspector.open("qemu:///system")
    assert "line 2" not in str(raised.value)
    assert "Failed to connect socket: Permission denied (no permission" in str(raised.value)


@pytest.mark.parametrize("uri", ["bogus:///system", "http://host/", "vm1"])
def test_an_unknown_driver_scheme_is_named_in_the_hint(refuse, uri):
    refuse(libvirt_error(libvirt.VIR_ERR_NO_CONNECT,
                         f"no connection driver available for {uri}"))
    with pytest.raises(ConnectionFailed, match="is not a libvirt driver"):
        Inspector.open(uri)


def test_an_unknown_scheme_names_the_scheme(refuse):
    refuse(libvirt_error(libvirt.VIR_ERR_NO_CONNECT, "no connection driver"))
    with pytest.raises(ConnectionFailed) as raised:
        Inspector.open("bogus+ssh://host/system")
    assert "'bogus' is not a libvirt driver" in str(raised.value)


def test_open_returns_an_inspector_for_the_uri(monkeypatch):
    connection = FakeConnection(uri="qemu:///system")
    monkeypatch.setattr(inspector_module.libvirt, "registerErrorHandler", lambda *_: None)
    monkeypatch.setattr(inspector_module.libvirt, "openReadOnly", lambda _uri: connection)
    inspector = Inspector.open("qemu:///system")
    assert inspector.uri == "qemu:///system"
    inspector.close()
    assert connection.closed


def test_closing_a_broken_connection_is_quiet():
    connection = FakeConnection()

    def broken():
        raise libvirt_error(libvirt.VIR_ERR_SYSTEM_ERROR, "connection closed")

    connection.close = broken
    Inspector(connection).close()


def test_the_uri_defaults_to_the_connections_own():
    assert Inspector(FakeConnection(uri="test:///default")).uri == "test:///default"


def test_default_uri_follows_libvirt_default_uri():
    assert default_uri({"LIBVIRT_DEFAULT_URI": "qemu:///session"}) == "qemu:///session"
    assert default_uri({"LIBVIRT_DEFAULT_URI": ""}) == "qemu:///system"
    assert default_uri({}) == "qemu:///system"


# -- the real test driver -----------------------------------------------------------------------

def test_the_test_driver_domain_is_sampled_in_every_group(test_driver):
    inspector = Inspector(test_driver)
    sample = inspector.sample(inspector.find("test"), ALL)
    assert sample.identity.name == "test"
    assert sample.identity.state is DomainState.RUNNING
    assert sample.cpu.vcpu_count == 2
    assert sample.cpu.time_ns > 0
    assert [disk.name for disk in sample.disks] == ["vda"]
    assert [nic.name for nic in sample.nics] == ["testnet0"]
    assert {"actual", "available", "unused", "usable", "rss"} <= set(sample.memory.balloon)
    assert sample.memory.maximum_kib >= sample.memory.current_kib > 0


def test_the_test_driver_domain_is_found_by_uuid_and_id(test_driver):
    inspector = Inspector(test_driver)
    domain = inspector.find("test")
    assert inspector.find(domain.UUIDString()).name() == "test"
    assert inspector.find(str(domain.ID())).name() == "test"
