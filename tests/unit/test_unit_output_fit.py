"""Nagios keeps 8 KiB of a plugin's output: every check's whole output fits, whatever the domain.

Each run goes the checks' whole way (options, a fake libvirt connection's bulk
statistics, the sampler, the state store, the measurement, the judgement and
the reporter) on a domain of many vCPUs, disks and interfaces with names as
long as QEMU and libvirt let them be, at every verbosity. The output must fit
8192 bytes, the perfdata its budget, every perfdata item must be whole, a label
with a threshold must stay, what is left out must be the same whatever the
values are, and the long output must say what was left out.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Callable, NamedTuple

import pytest
from harness.checkrun import CheckRun, parse_perfdata
from harness.fakes import FakeClock, FakeConnection, FakeDomain
from harness.testnode import scsi_disk_names

from libcheck import cpu, disk, mem, nic
from libcheck.clocks import Clocks
from libcheck.evaluation import PERFDATA_BUDGET
from libcheck.inspector import Inspector
from libcheck.runtime import Run, bounded_output

# Nagios keeps this much of a plugin's output.
OUTPUT_LIMIT = 8192
CHECKS = {"disk": disk.CHECK, "nic": nic.CHECK, "mem": mem.CHECK}
VERBOSITY = ((), ("-v",), ("-vv",), ("-vvv",))
# Linux allows interface names of 15 bytes (IFNAMSIZ); libvirt's taps are named so.
LONGEST_NIC = 15


def nic_names(count: int) -> list[str]:
    """Tap names of the longest length Linux allows."""
    return [f"tap{index:04d}-5e6f7a8"[:LONGEST_NIC] for index in range(count)]


class Domain(NamedTuple):
    """A domain's size and how busy it is (`scale` multiplies every counter's pace)."""

    vcpus: int = 2
    disks: int = 1
    nics: int = 1
    scale: float = 1.0


def domain_xml(domain: Domain) -> str:
    """The domain description: its disks and interfaces, in order."""
    disks = "".join(f"<disk type='file' device='disk'><source file='/var/lib/images/{name}.qcow2'/>"
                    f"<target dev='{name}' bus='scsi'/></disk>"
                    for name in scsi_disk_names(domain.disks))
    nics = "".join(f"<interface type='bridge'><mac address='52:54:00:00:{index // 256:02x}:"
                   f"{index % 256:02x}'/><source bridge='br0'/><target dev='{name}'/>"
                   f"</interface>" for index, name in enumerate(nic_names(domain.nics)))
    return (f"<domain type='kvm'><name>vm1</name><devices>{disks}{nics}"
            "<memballoon model='virtio'><stats period='2'/></memballoon></devices></domain>")


def bulk_stats(domain: Domain, clock: FakeClock) -> Callable[[], dict]:
    """Bulk statistics whose counters move with the fake clock, at a pace that
    gives wide numbers (hundreds of MB/s, thousands of requests per second)."""
    def stats() -> dict:
        seconds = clock.mono
        pace = domain.scale * seconds
        answer = {"state.state": 1, "state.reason": 1,
                  "cpu.time": round(pace * 0.6e9 * domain.vcpus),
                  "cpu.user": round(pace * 0.4e9 * domain.vcpus),
                  "cpu.system": round(pace * 0.1e9 * domain.vcpus),
                  "vcpu.current": domain.vcpus, "vcpu.maximum": domain.vcpus,
                  "balloon.current": 4194304, "balloon.maximum": 4194304,
                  "balloon.available": 4000000, "balloon.usable": 1000000,
                  "balloon.unused": 900000, "balloon.rss": 4100000,
                  "balloon.swap_in": round(pace * 7), "balloon.swap_out": round(pace * 3),
                  "balloon.major_fault": round(pace * 11),
                  "balloon.minor_fault": round(pace * 12345),
                  "balloon.last-update": int(seconds)}
        for index in range(domain.vcpus):
            share = (index % 7 + 1) / 7.123
            answer.update({f"vcpu.{index}.time": round(pace * share * 1e9),
                           f"vcpu.{index}.wait": round(pace * share * 1.234e7),
                           f"vcpu.{index}.delay": round(pace * share * 2.345e6)})
        answer["block.count"] = domain.disks
        for index, name in enumerate(scsi_disk_names(domain.disks)):
            pace_of = pace * (index + 1.37)
            answer.update({f"block.{index}.{key}": value for key, value in {
                "name": name, "path": f"/var/lib/images/{name}.qcow2",
                "rd.bytes": round(pace_of * 123456789), "wr.bytes": round(pace_of * 98765432),
                "rd.reqs": round(pace_of * 3001), "wr.reqs": round(pace_of * 2003),
                "rd.times": round(pace_of * 3001 * 1234567),
                "wr.times": round(pace_of * 2003 * 2345678),
                "fl.reqs": round(pace_of * 17), "fl.times": round(pace_of * 17 * 3456789),
                "errors": -1, "capacity": 1099511627776 + index,
                "allocation": 549755813888 + index, "physical": 549755813888 + index,
            }.items()})
        answer["net.count"] = domain.nics
        for index, name in enumerate(nic_names(domain.nics)):
            pace_of = pace * (index + 1.37)
            answer.update({f"net.{index}.{key}": value for key, value in {
                "name": name, "rx.bytes": round(pace_of * 123456789),
                "rx.pkts": round(pace_of * 83456), "rx.errs": round(pace_of * 3),
                "rx.drop": round(pace_of * 5), "tx.bytes": round(pace_of * 23456789),
                "tx.pkts": round(pace_of * 23456), "tx.errs": round(pace_of * 2),
                "tx.drop": round(pace_of * 1)}.items()})
        return answer
    return stats


def run(check_name: str, domain: Domain, state_dir: Path, *argv: str) -> CheckRun:
    """One run of a check on the domain, through the checks' whole way."""
    clock = FakeClock()
    fake = FakeDomain()
    fake.xml = domain_xml(domain)
    connection = FakeConnection([fake], stats=bulk_stats(domain, clock))
    stream = io.StringIO()
    code = Run(_check(check_name, state_dir), stream=stream,
               open_inspector=lambda uri: Inspector(connection, uri, clock=clock.time,
                                                    boot_time=clock.monotonic),
               sleep=clock.sleep, clocks=Clocks(clock.time, clock.monotonic))(
        ["-d", "vm1", "--state-dir", str(state_dir), "--balloon-max-age", "0", *argv]
        if check_name == "mem" else ["-d", "vm1", "--state-dir", str(state_dir), *argv])
    return CheckRun(code, stream.getvalue(), "")


def _check(check_name: str, state_dir: Path):
    # The hypervisor's kernel collects scheduler statistics: vCPU wait is reported.
    if check_name != "cpu":
        return CHECKS[check_name]
    switch = state_dir.parent / "sched_schedstats"
    switch.write_text("1\n")
    return cpu.CpuCheck(schedstats_switch=switch)


def assert_fits(output: CheckRun) -> dict:
    """The bound and the wholeness of every item; the parsed perfdata."""
    assert len(output.stdout.encode("utf-8")) <= OUTPUT_LIMIT, output.stdout[:300]
    assert len(output.perfdata_text.encode("utf-8")) + 1 <= PERFDATA_BUDGET
    assert "Traceback" not in output.stdout and "internal error" not in output.stdout
    items = parse_perfdata(output.perfdata_text)
    assert len(items) == len(output.perfdata_text.split()), "an item was cut"
    return items


# -- the sweep over device counts ---------------------------------------------------------------

SWEEP = ([("cpu", Domain(vcpus=count)) for count in (1, 2, 16, 64, 80, 96, 128, 320, 512)]
         + [("disk", Domain(disks=count)) for count in (1, 8, 16, 26, 40, 64)]
         + [("nic", Domain(nics=count)) for count in (1, 8, 16, 24, 40, 64)]
         + [(name, Domain(512, 64, 64)) for name in ("cpu", "disk", "nic", "mem")])


@pytest.mark.parametrize(("check_name", "domain"), SWEEP,
                         ids=[f"{name}-{d.vcpus}-{d.disks}-{d.nics}" for name, d in SWEEP])
def test_the_whole_output_fits_nagios_at_every_verbosity(tmp_path, check_name, domain):
    for verbosity in VERBOSITY:
        output = run(check_name, domain, tmp_path / "state", *verbosity)
        assert output.returncode == 0, output.lines[0]
        items = assert_fits(output)
        assert items, output.lines[0]


@pytest.mark.parametrize(("check_name", "domain"), [
    ("cpu", Domain(vcpus=512)), ("disk", Domain(disks=64)), ("nic", Domain(nics=64))])
def test_what_is_left_out_does_not_depend_on_the_values(tmp_path, check_name, domain):
    labels = [set(assert_fits(run(check_name, domain._replace(scale=scale),
                                  tmp_path / f"state-{scale}")))
              for scale in (1e-6, 0.013, 1.0, 10.0, 30.0, 97.0, 300.0, 1e6)]
    assert all(kept == labels[0] for kept in labels[1:])


@pytest.mark.parametrize(("check_name", "domain", "kept"), [
    ("cpu", Domain(vcpus=512), "vcpu480"), ("disk", Domain(disks=64), "sdal"),
    ("nic", Domain(nics=64), "tap0050-5e6f7a8")])
def test_devices_are_left_out_from_the_last_and_the_note_says_which(tmp_path, check_name,
                                                                       domain, kept):
    output = run(check_name, domain, tmp_path / "state")
    labels = set(assert_fits(output))
    devices = [label for label in labels if label.startswith(kept.rstrip("0123456789")[:3])]
    assert devices, labels
    notes = [line for line in output.lines[1:] if line.startswith("left out of the perfdata")]
    assert notes, output.lines
    assert any(".." in note and "the last" in note for note in notes), notes
    assert all(len(note.encode()) < 1024 for note in notes)


@pytest.mark.parametrize(("check_name", "domain", "label", "option"), [
    ("cpu", Domain(vcpus=512), "vcpu511_steal", "vcpu511_steal=50"),
    ("cpu", Domain(vcpus=512), "vcpu300_usage", "vcpu300_usage=~:"),
    ("disk", Domain(disks=64), "sdbl_read_bytes", "sdbl_read_bytes=0:"),
    ("nic", Domain(nics=64), "tap0063-5e6f7a8_tx_bytes", "tap0063-5e6f7a8_tx_bytes=0:"),
])
def test_a_label_with_a_threshold_stays(tmp_path, check_name, domain, label, option):
    output = run(check_name, domain, tmp_path / "state", "-w", option)
    assert label in assert_fits(output)


def test_a_generic_threshold_on_every_vcpu_keeps_the_bound_and_still_judges(tmp_path):
    output = run("cpu", Domain(vcpus=512), tmp_path / "state", "-w", "vcpu_usage=10")
    assert output.returncode == 1
    assert_fits(output)
    assert "(+" in output.status
    assert any("threshold" in line for line in output.lines[1:]
               if line.startswith("left out of the perfdata"))


def test_the_long_output_is_cut_to_whole_lines_and_says_how_many_more(tmp_path):
    output = run("cpu", Domain(vcpus=512), tmp_path / "state", "-vv")
    assert_fits(output)
    last = output.lines[-1]
    assert last.startswith("... ") and last.endswith(" more lines"), last
    assert int(last.split()[1]) > 1000


def test_a_domain_that_fits_keeps_its_status_line_and_every_label(tmp_path):
    small, big = Domain(vcpus=4), Domain(vcpus=512)
    first = run("cpu", small, tmp_path / "small")
    assert first.lines == [first.lines[0]]
    assert len(parse_perfdata(first.perfdata_text)) == 6 + 3 * 4
    assert run("cpu", big, tmp_path / "big").status == first.status.replace(
        "of 4 vCPUs", "of 512 vCPUs")


# -- the reporter's own bound -------------------------------------------------------------------

def test_a_status_text_longer_than_nagios_keeps_is_cut_and_the_perfdata_stays_whole():
    perfdata = [f"label{index}={index};;;0" for index in range(600)]
    lines = bounded_output("VM_X OK - ", "é" * 9000, perfdata, ["a note"] * 3)
    text = "\n".join(lines) + "\n"
    assert len(text.encode("utf-8")) <= OUTPUT_LIMIT
    status, _, items = lines[0].partition(" | ")
    assert status.endswith("...") and status.startswith("VM_X OK - éé")
    assert items.split() == perfdata[:len(items.split())]
    assert lines[1:] in ([], ["a note"] * 3, ["... 3 more lines"], ["a note", "... 2 more lines"])


def test_a_usage_error_that_echoes_a_huge_option_is_one_bounded_line(tmp_path):
    output = run("nic", Domain(), tmp_path / "state", "-w", "y" * 20000 + "=1")
    assert output.returncode == 3
    assert len(output.lines) == 1
    assert len(output.stdout.encode("utf-8")) <= OUTPUT_LIMIT
    assert output.lines[0].startswith("VM_NIC UNKNOWN - -w 'yyy")
    assert output.stdout.endswith("...\n")
