"""Bulk statistics -> samples (libcheck.bulkstats), and the groups' records
(libcheck.statsgroups): both without libvirt.

REAL is what `getAllDomainStats(0, 0)` answered for the realvm tier's guest
(QEMU 2 vCPUs, disks vda and vdb, a tap NIC, a virtio balloon), every group.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from libcheck import bulkstats, samples, statsgroups
from libcheck.discovery import Description, Devices, DiskDevice, NicDevice
from libcheck.samples import ALL_GROUPS, CpuSample, DiskSample, Group, NicSample, VcpuSample
from libcheck.statsgroups import GROUP_SPECS, spec_of, specs_of

REPO = Path(__file__).resolve().parents[2]
RUN = "/var/cache/check_vm-realvm/run/check_vm-realvm-guest"

REAL = {
    "balloon.available": 210492, "balloon.current": 262144, "balloon.disk_caches": 2484,
    "balloon.hugetlb_pgalloc": 0, "balloon.hugetlb_pgfail": 0,
    "balloon.last-update": 1796598219, "balloon.major_fault": 0, "balloon.maximum": 262144,
    "balloon.minor_fault": 1085, "balloon.rss": 261008, "balloon.swap_in": 0,
    "balloon.swap_out": 0, "balloon.unused": 181076, "balloon.usable": 184356,
    "block.0.allocation": 0, "block.0.backingIndex": 2, "block.0.capacity": 67108864,
    "block.0.fl.reqs": 0, "block.0.fl.times": 0, "block.0.name": "vda",
    "block.0.path": f"{RUN}-vda.raw", "block.0.physical": 4096,
    "block.0.rd.bytes": 12288, "block.0.rd.reqs": 3, "block.0.rd.times": 354207,
    "block.0.wr.bytes": 0, "block.0.wr.reqs": 0, "block.0.wr.times": 0,
    "block.1.allocation": 0, "block.1.backingIndex": 1, "block.1.capacity": 67108864,
    "block.1.fl.reqs": 0, "block.1.fl.times": 0, "block.1.name": "vdb",
    "block.1.path": f"{RUN}-vdb.raw", "block.1.physical": 4096,
    "block.1.rd.bytes": 12288, "block.1.rd.reqs": 3, "block.1.rd.times": 295856,
    "block.1.wr.bytes": 0, "block.1.wr.reqs": 0, "block.1.wr.times": 0,
    "block.count": 2,
    "cpu.cache.monitor.count": 0, "cpu.haltpoll.fail.time": 0,
    "cpu.haltpoll.success.time": 0, "cpu.system": 416226000, "cpu.time": 3550358000,
    "cpu.user": 3134132000,
    "dirtyrate.calc_mode": "page-sampling", "dirtyrate.calc_period": 0,
    "dirtyrate.calc_start_time": 0, "dirtyrate.calc_status": 0,
    "net.0.name": "cvtap0", "net.0.rx.bytes": 0, "net.0.rx.drop": 0, "net.0.rx.errs": 0,
    "net.0.rx.pkts": 0, "net.0.tx.bytes": 0, "net.0.tx.drop": 0, "net.0.tx.errs": 0,
    "net.0.tx.pkts": 0, "net.count": 1,
    "state.reason": 1, "state.state": 1,
    "vcpu.0.delay": 1379599206, "vcpu.0.state": 1, "vcpu.0.time": 1680000000,
    "vcpu.0.wait": 0, "vcpu.1.delay": 1176311656, "vcpu.1.state": 1,
    "vcpu.1.time": 1470000000, "vcpu.1.wait": 0, "vcpu.current": 2, "vcpu.maximum": 2,
}

# The same guest's domain XML as parse_description reads it.
DESCRIPTION = Description(
    Devices(disks=(DiskDevice("vda", f"{RUN}-vda.raw", "disk"),
                   DiskDevice("vdb", f"{RUN}-vdb.raw", "disk")),
            nics=(NicDevice("cvtap0", "52:54:00:c7:00:02", None),)),
    balloon_model="virtio", stats_period=2)

# What the domain's QEMU gives only inside a domain job (a NOWAIT answer while
# another client holds the job lacks it).
JOB_ONLY = ("balloon.rss", "balloon.unused", "balloon.available", "balloon.usable",
            "balloon.swap_in", "balloon.swap_out", "balloon.major_fault",
            "balloon.minor_fault", "balloon.last-update", "balloon.disk_caches",
            "balloon.hugetlb_pgalloc", "balloon.hugetlb_pgfail")


def _without_job_numbers(stats: dict) -> dict:
    return {key: value for key, value in stats.items()
            if key not in JOB_ONLY and not key.startswith(("block.0.rd", "block.0.wr",
                                                           "block.0.fl", "block.1.rd",
                                                           "block.1.wr", "block.1.fl"))}


# -- without libvirt ------------------------------------------------------------------

_WITHOUT_LIBVIRT = """
import json, sys
sys.modules["libvirt"] = None
from libcheck import statsgroups
from libcheck.discovery import Description, Devices, DiskDevice, NicDevice
try:
    import libvirt
except ImportError:
    pass
else:
    raise SystemExit("libvirt was importable")
stats, description = json.load(sys.stdin)
devices = description[0]
description = Description(Devices(tuple(DiskDevice(*disk) for disk in devices[0]),
                                  tuple(NicDevice(*nic) for nic in devices[1])),
                          *description[1:])
print(json.dumps({spec.field: spec.from_bulk(stats, description)
                  for spec in statsgroups.GROUP_SPECS}))
"""


def _parsed_in_process() -> dict:
    return {spec.field: spec.from_bulk(REAL, DESCRIPTION) for spec in GROUP_SPECS}


def test_the_parsers_import_and_parse_a_real_answer_without_libvirt():
    completed = subprocess.run(
        [sys.executable, "-c", _WITHOUT_LIBVIRT], input=json.dumps([REAL, DESCRIPTION]),
        capture_output=True, text=True, cwd=REPO, env={"PYTHONPATH": str(REPO)},
        check=False, timeout=60)
    assert completed.returncode == 0, completed.stderr
    parsed = json.loads(completed.stdout)
    assert parsed == json.loads(json.dumps(_parsed_in_process()))
    assert parsed["cpu"][0] == 3550358000
    assert [disk[0] for disk in parsed["disks"]] == ["vda", "vdb"]


# -- the parsers on a real answer -----------------------------------------------------------

def test_cpu_from_a_real_answer():
    assert bulkstats.cpu_from_bulk(REAL) == CpuSample(
        time_ns=3550358000, vcpu_count=2, user_ns=3134132000, system_ns=416226000,
        vcpus=(VcpuSample(0, 1680000000, 0, 1379599206),
               VcpuSample(1, 1470000000, 0, 1176311656)))


def test_memory_from_a_real_answer_names_every_balloon_field_as_memory_stats_does():
    memory = bulkstats.memory_from_bulk(REAL)
    assert (memory.maximum_kib, memory.current_kib) == (262144, 262144)
    assert memory.balloon == {
        "actual": 262144, "swap_in": 0, "swap_out": 0, "major_fault": 0,
        "minor_fault": 1085, "unused": 181076, "available": 210492, "usable": 184356,
        "rss": 261008, "last_update": 1796598219, "disk_caches": 2484,
        "hugetlb_pgalloc": 0, "hugetlb_pgfail": 0}
    assert set(memory.balloon) == set(bulkstats.BALLOON_FIELDS.values())


def test_disks_from_a_real_answer():
    vda, vdb = bulkstats.disks_from_bulk(REAL)
    assert vda == DiskSample(
        name="vda", source=f"{RUN}-vda.raw", rd_bytes=12288, wr_bytes=0, rd_reqs=3,
        wr_reqs=0, rd_total_ns=354207, wr_total_ns=0, fl_reqs=0, fl_total_ns=0,
        capacity=67108864, allocation=0, physical=4096)
    assert (vdb.name, vdb.rd_total_ns, vdb.errors) == ("vdb", 295856, None)


def test_nics_from_a_real_answer():
    assert bulkstats.nics_from_bulk(REAL) == (NicSample(
        name="cvtap0", rx_bytes=0, rx_packets=0, rx_errors=0, rx_drops=0,
        tx_bytes=0, tx_packets=0, tx_errors=0, tx_drops=0),)


def test_minus_one_and_absent_fields_are_unknown():
    stats = {"block.count": 1, "block.0.name": "vda", "block.0.rd.bytes": -1,
             "net.count": 2, "net.1.name": "vnet1", "net.1.tx.drop": -1}
    (vda,) = bulkstats.disks_from_bulk(stats)
    assert (vda.rd_bytes, vda.wr_bytes, vda.source) == (None, None, None)
    # net.0 has no name (no target): not a sample of its own.
    assert bulkstats.nics_from_bulk(stats) == (NicSample("vnet1"),)
    assert bulkstats.known(-1) is None and bulkstats.known(0) == 0


def test_the_description_names_what_the_counters_do_not():
    parsed = _parsed_in_process()
    assert [(disk.name, disk.device) for disk in parsed["disks"]] == [
        ("vda", "disk"), ("vdb", "disk")]
    assert parsed["nics"][0].mac == "52:54:00:c7:00:02"
    assert (parsed["memory"].balloon_model, parsed["memory"].stats_period) == ("virtio", 2)


def test_devices_merge_in_xml_order_and_keep_what_only_the_counters_name():
    counted = (DiskSample("vdb", source="/b", rd_reqs=1), DiskSample("hdz", rd_reqs=2))
    merged = bulkstats.merge_disks((DiskDevice("vda", "/a", "disk"),
                                    DiskDevice("vdb", None, "disk")), counted)
    assert merged == (DiskSample("vda", source="/a", device="disk"),
                      DiskSample("vdb", source="/b", device="disk", rd_reqs=1),
                      DiskSample("hdz", rd_reqs=2))
    nics = bulkstats.merge_nics((NicDevice(None, "52:54:00:00:00:01", "br0"),),
                                (NicSample("vnet0", rx_bytes=5),))
    assert nics == (NicSample(None, mac="52:54:00:00:00:01", source="br0"),
                    NicSample("vnet0", rx_bytes=5))


def test_the_device_signature_is_the_run_and_the_device_names():
    identity = samples.DomainIdentity("guest", "u", 4, samples.DomainState.RUNNING)
    assert bulkstats.device_signature(identity, REAL) == repr((4, ["vda", "vdb"], ["cvtap0"]))
    assert bulkstats.device_signature(identity, {"state.state": 1}) is None


# -- job-only numbers ---------------------------------------------------------------------

def test_a_complete_real_answer_lacks_no_job_numbers():
    assert statsgroups.job_groups_left_out(REAL) == frozenset()


def test_an_answer_without_job_numbers_names_memory_and_disk():
    stats = _without_job_numbers(REAL)
    assert statsgroups.job_groups_left_out(stats) == {Group.MEMORY, Group.DISK}
    assert statsgroups.job_groups_left_out(stats, {Group.CPU, Group.NIC}) == frozenset()
    assert statsgroups.job_groups_left_out(stats, {Group.DISK}) == {Group.DISK}


@pytest.mark.parametrize("state", [samples.DomainState.SHUTOFF, samples.DomainState.CRASHED])
def test_an_inactive_domain_has_no_job_numbers_to_wait_for(state):
    stats = {**_without_job_numbers(REAL), "state.state": state.value}
    assert statsgroups.job_groups_left_out(stats) == frozenset()


def test_a_paused_domain_still_answers_its_job_numbers():
    stats = {**_without_job_numbers(REAL), "state.state": samples.DomainState.PAUSED.value}
    assert statsgroups.job_groups_left_out(stats) == {Group.MEMORY, Group.DISK}


# -- the records ------------------------------------------------------------------------------

def test_every_group_has_one_record_with_a_bulk_key_a_field_and_flags():
    assert [spec.group for spec in GROUP_SPECS] == list(Group)
    for group in Group:
        spec = spec_of(group)
        assert spec.bulk_key and spec.flags and callable(spec.from_bulk)
        assert spec.field in samples.DomainSample._fields
        assert all(name.startswith("VIR_DOMAIN_STATS_") for name in spec.flags)
    assert len({spec.bulk_key for spec in GROUP_SPECS}) == len(GROUP_SPECS)


def test_every_device_field_table_names_fields_of_its_sample():
    assert set(bulkstats.DISK_FIELDS.values()) < set(DiskSample._fields)
    assert set(bulkstats.NIC_FIELDS.values()) < set(NicSample._fields)
    assert set(bulkstats.BALLOON_FIELDS) == {key.removeprefix("balloon.") for key in REAL
                                             if key.startswith("balloon.")} - {"maximum"}


def test_each_record_parses_the_real_answer_into_its_sample_field():
    types = {"cpu": CpuSample, "memory": samples.MemorySample}
    for field, value in _parsed_in_process().items():
        if field in types:
            assert isinstance(value, types[field])
        else:
            assert value and all(isinstance(item, (DiskSample, NicSample)) for item in value)


def test_a_bulk_key_tells_whether_the_call_answered_for_its_group():
    state_only = {"state.state": 1, "state.reason": 1}
    assert all(spec.answered(REAL) for spec in GROUP_SPECS)
    assert not any(spec.answered(state_only) for spec in GROUP_SPECS)
    assert statsgroups.all_answered(REAL, ALL_GROUPS)
    assert statsgroups.all_answered(state_only, ())
    assert not statsgroups.all_answered({"cpu.time": 1}, {Group.CPU, Group.NIC})


def test_device_and_balloon_groups_need_the_description_and_cpu_does_not():
    assert {Group.MEMORY, Group.DISK, Group.NIC} == statsgroups.DESCRIBED_GROUPS
    assert spec_of(Group.CPU).from_bulk(REAL, None).time_ns == 3550358000
    with pytest.raises(ValueError, match="without it"):
        spec_of(Group.DISK).from_bulk(REAL, None)


def test_a_refresh_reads_every_group():
    assert statsgroups.REFRESHED_GROUPS == ALL_GROUPS


def test_records_come_in_their_declared_order():
    assert [spec.group for spec in specs_of({Group.NIC, Group.CPU})] == [Group.CPU, Group.NIC]
