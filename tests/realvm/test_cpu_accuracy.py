"""check_vm_cpu against a real QEMU guest whose CPU work the test commands.

Ground truth is what the test asks the guest to do: `cpu S V` keeps vCPU V
busy for S seconds.  The check's rate, multiplied back by its interval and
vCPU count, must give those S seconds.  Tolerances come from what was
measured here under TCG: a busy loop of S s adds S s +0.2..2.6% to the
domain's CPU time, and an idle guest costs about 1% of a host CPU; the
command channel adds a few hundred milliseconds of shell work.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from asuser import nobody_command
from checkrun import CheckRun, run_check

pytestmark = pytest.mark.realvm

BUSY_SECONDS = 5.0
# Absolute slack on the busy seconds recovered from the rate: TCG overhead
# (<= 2.6% of 5 s), the idle vCPU (~1% of the interval) and the shell that
# runs the command (measured well under 0.3 s).
BUSY_TOLERANCE_SECONDS = 0.6
IDLE_CEILING_PERCENT = 5.0


def interval_of(run: CheckRun) -> float:
    """The interval the rates were measured over, from the -vv long output."""
    match = re.search(r"rates measured over (\d+\.\d+) s", run.stdout)
    assert match, run.stdout
    return float(match.group(1))


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
    cpu()  # the baseline
    guest.command(f"cpu {BUSY_SECONDS:g} 1", timeout=BUSY_SECONDS + 30)
    run = cpu()
    assert run.returncode == 0, run.stdout
    assert "since the previous run" in run.stdout
    seconds = interval_of(run)
    perf = run.perfdata
    busy_from_headline = perf["cpu_usage"].value / 100 * guest.vcpus * seconds
    assert busy_from_headline == pytest.approx(BUSY_SECONDS, abs=BUSY_TOLERANCE_SECONDS)
    busy_from_vcpu1 = perf["vcpu1_usage"].value / 100 * seconds
    assert busy_from_vcpu1 == pytest.approx(BUSY_SECONDS, abs=BUSY_TOLERANCE_SECONDS)
    assert perf["vcpu0_usage"].value < 20.0  # only vCPU 1 was busy
    assert re.match(rf"^VM_CPU OK - {re.escape(guest.name)}: \d+\.\d% of 2 vCPUs$", run.status)


def test_thresholds_judge_the_busy_guest(cpu, guest):
    cpu()
    guest.command(f"cpu {BUSY_SECONDS:g} 1", timeout=BUSY_SECONDS + 30)
    run = cpu("-w", "vcpu1_usage=50", "-c", "vcpu1_usage=99.9")
    assert run.returncode == 1, run.stdout
    assert re.search(r": vcpu1 usage \d+\.\d% \(> 50\)$", run.status)


def test_real_driver_reports_wait_and_steal(cpu):
    run = cpu()
    for label in ("cpu_user", "cpu_system", "cpu_steal", "vcpu0_steal", "vcpu1_steal"):
        assert label in run.perfdata, label
        assert 0 <= run.perfdata[label].value <= 100


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
