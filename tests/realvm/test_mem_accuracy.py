"""check_vm_mem against a real QEMU guest whose memory the test commands.

Ground truth is the guest's own /proc/meminfo (the `meminfo` command) and
what the test asks it to hold: `alloc 64` keeps 64 MiB in tmpfs, `free`
drops it.  Measured here: the balloon's `available` is exactly MemTotal and
`usable` exactly MemAvailable, and holding 64 MiB moves usable by -64 MiB
within 1%.  The tolerance of 4 MiB covers that 1% and the guest's own small
allocations between the balloon poll and the meminfo read.
"""

from __future__ import annotations

import time

import libvirt
import pytest
from checkrun import CheckRun, run_check

pytestmark = pytest.mark.realvm

MIB = 1024 * 1024
HELD_MIB = 64
TOLERANCE = 4 * MIB
STATS_TIMEOUT = 15.0


@pytest.fixture
def mem(hypervisor, guest, tmp_path):
    """Run check_vm_mem -v against a domain of the tier."""
    def run(*args: str, domain: str | None = None) -> CheckRun:
        return run_check("check_vm_mem", "--connect", hypervisor.uri, "-v",
                         "-d", domain or guest.name, *args, state_dir=tmp_path / "state")
    return run


def wait_for_balloon_poll(hypervisor, guest) -> None:
    """Wait until the balloon statistics were polled after this moment."""
    connection = libvirt.openReadOnly(hypervisor.uri)
    try:
        domain = connection.lookupByName(guest.name)
        start = int(time.time())
        deadline = time.monotonic() + STATS_TIMEOUT
        while domain.memoryStats().get("last_update", 0) <= start:
            assert time.monotonic() < deadline, "the balloon statistics stopped updating"
            time.sleep(0.2)
    finally:
        connection.close()


def used_bytes(run: CheckRun) -> float:
    assert run.returncode == 0, run.stdout
    return run.perfdata["mem_used"].value


def test_used_memory_matches_the_guests_own_view(mem, hypervisor, guest):
    wait_for_balloon_poll(hypervisor, guest)
    run = mem()
    meminfo = guest.meminfo()
    assert run.returncode == 0, run.stdout
    assert run.perfdata["mem_available"].value == meminfo["MemTotal"] * 1024
    truth = (meminfo["MemTotal"] - meminfo["MemAvailable"]) * 1024
    assert used_bytes(run) == pytest.approx(truth, abs=TOLERANCE)
    usage = truth / (meminfo["MemTotal"] * 1024) * 100
    assert run.perfdata["mem_usage"].value == pytest.approx(usage, abs=2.0)


def test_holding_and_freeing_64_mib_moves_used_by_64_mib(mem, hypervisor, guest):
    wait_for_balloon_poll(hypervisor, guest)
    before = used_bytes(mem())
    guest.command(f"alloc {HELD_MIB}")
    try:
        wait_for_balloon_poll(hypervisor, guest)
        held = used_bytes(mem())
    finally:
        guest.command("free")
    wait_for_balloon_poll(hypervisor, guest)
    after = used_bytes(mem())
    assert held - before == pytest.approx(HELD_MIB * MIB, abs=TOLERANCE)
    assert held - after == pytest.approx(HELD_MIB * MIB, abs=TOLERANCE)


def test_real_guest_reports_fault_rates_and_host_rss(mem):
    mem()
    time.sleep(5)  # more than two stats periods: the guest's counters moved
    run = mem()
    perf = run.perfdata
    for label in ("major_faults_per_second", "minor_faults_per_second", "host_rss",
                  "balloon_actual", "mem_usable", "mem_unused"):
        assert label in perf, label
        assert perf[label].value >= 0
    assert any(line.startswith("balloon model virtio, stats period 2 s") for line in run.lines)


def test_guest_without_balloon_gets_the_documented_fallback(mem, balloonless_guest):
    run = mem(domain=balloonless_guest)
    assert run.returncode == 3
    assert run.status.startswith(
        f"VM_MEM UNKNOWN - {balloonless_guest}: no balloon device (memballoon model 'none'): "
        "add <memballoon model='virtio'>")
    assert "host-side RSS" in run.status
    assert set(run.perfdata) <= {"host_rss", "host_rss_usage", "balloon_actual"}
    assert "mem_usage" not in run.perfdata
    run = mem("--state-if-no-balloon", "warning", domain=balloonless_guest)
    assert run.returncode == 1
