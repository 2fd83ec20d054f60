"""check_vm_cpu against a real QEMU guest whose CPU work the test commands.

Ground truth is what the test asks the guest to do: `cpu S V` keeps vCPU V
busy for S seconds, and the test's own clock readings around two runs.  The
CPU time that work adds is bounded by the test's own reads of the counters
just outside each run, and must be those S seconds within the tolerance
below; the rate must lie between that CPU time over the longest and over the
shortest time the runs' samples can lie apart (see bracket.py), whatever
interval the check reports.  The tolerance comes from what was measured here
under TCG: a busy loop of S s adds S s +0.2..2.6% to the domain's CPU time,
an idle guest costs about 1% of a host CPU and the command channel a few
hundred milliseconds of shell work, while a loaded host (two CPUs for QEMU,
the tests and the checks) gives the busy vCPU less than all of S seconds.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import libvirt
import pytest
from harness.asuser import nobody_command
from harness.checkrun import CheckRun, run_check
from harness.vm.bracket import Bracket, counter_moves, sleep_until, timed

pytestmark = pytest.mark.realvm

NS = 1_000_000_000
BUSY_SECONDS = 5.0
# Absolute slack on the CPU time the busy seconds add: TCG overhead (<= 2.6%
# of 5 s), the idle vCPU (~1% of the interval) and the shell that runs the
# command (measured well under 0.3 s) on one side, a loaded host on the other.
BUSY_TOLERANCE_SECONDS = 0.6
# From the end of the first run to the start of the second: long against the
# runs (a fraction of a second each), so that the bracket is tight.
SPACING_SECONDS = 8.0
IDLE_CEILING_PERCENT = 5.0


def interval_of(run: CheckRun) -> float:
    """The interval the rates were measured over, from the -vv long output."""
    match = re.search(r"rates measured over (\d+\.\d+) s", run.stdout)
    assert match, run.stdout
    return float(match.group(1))


def cpu_seconds(guest) -> dict[str, float]:
    """The domain's and vCPU 1's CPU time, and the time vCPU 1 waited in the host's
    run queue, as the test reads them itself."""
    flags = libvirt.VIR_DOMAIN_STATS_CPU_TOTAL | libvirt.VIR_DOMAIN_STATS_VCPU
    stats = guest.domain.connect().domainListGetStats([guest.domain], flags)[0][1]
    return {"domain": stats["cpu.time"] / NS, "vcpu1": stats["vcpu.1.time"] / NS,
            "vcpu1_queued": stats["vcpu.1.delay"] / NS}


@pytest.fixture
def cpu(hypervisor, guest, tmp_path):
    """Run check_vm_cpu -vv against the real guest with a fresh state dir."""
    def run(*args: str, domain: str | None = None) -> CheckRun:
        return run_check("check_vm_cpu", "--connect", hypervisor.uri, "-vv",
                         "-d", domain or guest.name, *args, state_dir=tmp_path / "state")
    return run


def test_idle_guest_uses_almost_no_cpu(cpu, guest):
    cpu()
    guest.command("idle")
    run = cpu()
    assert run.returncode == 0, run.stdout
    assert run.perfdata["cpu_usage"].value < IDLE_CEILING_PERCENT


def test_one_busy_vcpu_is_half_of_two(cpu, guest):
    # The first run stores its baseline after a pause of 0.1 s, not 1.5 s: a
    # short run keeps the bracket tight.
    first = timed(lambda: cpu("--sample-interval", "0.1"), lambda: cpu_seconds(guest))
    guest.command(f"cpu {BUSY_SECONDS:g} 1", timeout=BUSY_SECONDS + 30)
    sleep_until(first.ended + SPACING_SECONDS)
    second = timed(cpu, lambda: cpu_seconds(guest))
    run = second.result
    assert run.returncode == 0, run.stdout
    assert "since the previous run" in run.stdout
    bracket, perf = Bracket.between(first, second), run.perfdata
    # The guest spins for S s by its clock; what of it the vCPU spent queued behind
    # the host's other work is not CPU time.
    _, queued = counter_moves(first, second, "vcpu1_queued")
    for counter, label, rate in (
            ("domain", "cpu_usage x vCPUs", perf["cpu_usage"].value / 100 * guest.vcpus),
            ("vcpu1", "vcpu1_usage", perf["vcpu1_usage"].value / 100)):
        least, most = counter_moves(first, second, counter)
        assert BUSY_SECONDS - BUSY_TOLERANCE_SECONDS - queued <= least \
            <= BUSY_SECONDS + BUSY_TOLERANCE_SECONDS, (counter, least, queued)
        bracket.assert_rate(f"CPU-seconds per second ({label})", rate, least, most)
    assert perf["vcpu0_usage"].value < 20.0  # only vCPU 1 was busy
    assert re.match(rf"^VM_CPU OK - {re.escape(guest.name)}: \d+\.\d% of 2 vCPUs$", run.status)


def test_thresholds_judge_the_busy_guest(cpu, guest):
    cpu()
    guest.command(f"cpu {BUSY_SECONDS:g} 1", timeout=BUSY_SECONDS + 30)
    run = cpu("-w", "vcpu1_usage=50", "-c", "vcpu1_usage=99.9")
    assert run.returncode == 1, run.stdout
    assert re.search(r": vcpu1 usage \d+\.\d% \(> 50\)$", run.status)


def test_real_driver_reports_steal_and_wait_only_where_the_host_collects_it(
        cpu, hypervisor, guest):

    run = cpu()
    for label in ("cpu_user", "cpu_system", "cpu_steal", "vcpu0_steal", "vcpu1_steal"):
        assert label in run.perfdata, label
        assert 0 <= run.perfdata[label].value <= 100
    # Whether this kernel collects scheduler statistics, read here, apart from the check.
    switch = Path("/proc/sys/kernel/sched_schedstats")
    collected = switch.exists() and switch.read_text().strip() != "0"
    wait_labels = {"cpu_wait", "vcpu0_wait", "vcpu1_wait"}
    assert wait_labels & set(run.perfdata) == (wait_labels if collected else set()), run.stdout
    if not collected:
        # What a wait label would show: libvirt's wait stays 0 while delay counts.
        domain = hypervisor.conn.lookupByName(guest.name)
        [(_domain, stats)] = hypervisor.conn.domainListGetStats(
            [domain], libvirt.VIR_DOMAIN_STATS_VCPU)
        assert [stats[f"vcpu.{n}.wait"] for n in range(2)] == [0, 0]
        assert all(stats[f"vcpu.{n}.delay"] > 0 for n in range(2)), stats
        judged = cpu("-w", "cpu_wait=50")
        assert judged.returncode == 3, judged.stdout
        assert "threshold -w cpu_wait judges nothing: the hypervisor's kernel" in judged.status


def test_restart_between_runs_is_detected_not_a_spike(cpu, guest):
    cpu()
    guest.restart()
    run = cpu()
    assert run.returncode == 0, run.stdout
    assert "the domain was restarted since the previous sample" in run.stdout
    assert 0 <= run.perfdata["cpu_usage"].value <= 100
    assert interval_of(run) < 3.0  # measured within the run, not across the restart


def test_shut_off_domain_is_critical_by_default(cpu, shutoff_domain):
    run = cpu(domain=shutoff_domain)
    assert (run.returncode, run.stdout) == (2, f"VM_CPU CRITICAL - {shutoff_domain}: shut off\n")
    run = cpu("--state-if-stopped", "warning", domain=shutoff_domain)
    assert run.returncode == 1


@pytest.fixture
def nobody_state_dir():
    """A state directory that user nobody can reach (pytest's tmp_path is 0700)."""
    state = Path(tempfile.mkdtemp(prefix="check_vm-nobody-"))
    os.chown(state, 65534, 65534)
    yield state
    shutil.rmtree(state, ignore_errors=True)


def test_unprivileged_user_reads_through_the_read_only_socket(hypervisor, guest,
                                                             nobody_state_dir):
    if os.geteuid() != 0:
        pytest.skip("needs root to switch to an unprivileged user")
    state = nobody_state_dir
    with nobody_command("check_vm_cpu") as command:
        completed = subprocess.run(
            [*command, "--connect", hypervisor.uri, "-d", guest.name, "--state-dir", str(state)],
            capture_output=True, text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr
    assert completed.stdout.startswith(f"VM_CPU OK - {guest.name}: ")
    assert any(path.stat().st_uid == 65534 for path in state.iterdir())
