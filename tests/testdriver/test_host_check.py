"""check_vm_host against libvirt's test driver: the real executable on node
files of domains in every state, and in-process runs on a test:///default set
up through a read-write connection (autostart, reasons).

A node file gives every domain reason 0 and none autostart; those cases are
read through `SharedDefault` in this process, with the connection handed in.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from harness.checkrun import CheckRun, run_check
from harness.hypervisornode import (
    EVERY_STATE_CPUS,
    EVERY_STATE_MEMORY_KIB,
    NodeDomain,
    SharedDefault,
    write_every_state_node,
    write_hypervisor_node,
)
from harness.snapshotkit import generation, poisoned_env, poisoned_path, snapshot_dir

from libcheck.host import CHECK as HOST_CHECK
from libcheck.hostruntime import HostRun
from libcheck.inspector import Inspector

GIB = 1024 ** 3


def host_run(uri: str, state_dir: Path, *args: str, env=None) -> CheckRun:
    return run_check("check_vm_host", "--connect", uri, *args, state_dir=state_dir, env=env)


def assert_clean(run: CheckRun) -> None:
    assert run.stderr == "" and "Traceback" not in run.stdout, run.stdout + run.stderr


@pytest.fixture
def every_state(tmp_path: Path) -> str:
    return write_every_state_node(tmp_path / "node.xml")


@pytest.fixture
def three_running(tmp_path: Path) -> str:
    return write_hypervisor_node(tmp_path / "three.xml",
                                 [NodeDomain(f"web{index}", vcpus=2) for index in range(3)])


# -- counts, capacity, problems ----------------------------------------------------------------

def test_every_state_is_counted_exactly(every_state, state_dir):
    run = host_run(every_state, state_dir)
    assert_clean(run)
    values = {label: item.value for label, item in run.perfdata.items()}
    assert values == {
        "running": 2,  # running and blocked
        "paused": 1, "shutoff": 1, "crashed": 1, "suspended": 1,
        "other": 2,  # shutting down, and no state
        "autostart_down": 0,
        "host_cpus": EVERY_STATE_CPUS,
        # Every domain but the shut-off one has a QEMU process: 1+2+3+4+1+2+1 vCPUs.
        "active_vcpus": 14, "vcpu_overcommit": 3.5,
        "host_memory": EVERY_STATE_MEMORY_KIB * 1024,
        "active_memory": 9 * GIB, "mem_overcommit": 0.5625,
    }
    # No free memory on a node file (no NUMA cells), no drift without an expected list.
    assert {"host_memory_free", "not_monitored", "gone"}.isdisjoint(run.perfdata)
    assert run.perfdata["host_memory"].uom == "B" and run.perfdata["running"].uom == ""


def test_problems_are_named_worst_first(every_state, state_dir):
    run = host_run(every_state, state_dir)
    assert run.returncode == 2
    assert run.status == (f"VM_HOST CRITICAL - {every_state}: vm-crashed: crashed; "
                          "vm-paused: paused; vm-pmsuspended: suspended")
    assert run.lines[1:4] == ["vm-crashed: crashed", "vm-paused: paused",
                              "vm-pmsuspended: suspended"]


def test_the_state_options_change_the_verdict(every_state, state_dir):
    run = host_run(every_state, state_dir, "--state-if-crashed", "warning",
                   "--state-if-stopped", "critical")
    assert run.returncode == 2
    assert run.status == (f"VM_HOST CRITICAL - {every_state}: vm-shutoff: shut off; "
                          "vm-shuttingdown: shutting down; vm-crashed: crashed (+2 more)")
    run = host_run(every_state, state_dir, "--state-if-crashed", "ok", "--state-if-paused", "ok")
    assert run.returncode == 0
    assert run.status == (f"VM_HOST OK - {every_state}: 2 running, 1 paused, 1 shut off, "
                          "1 crashed, 1 suspended, 2 other; 14 vCPUs on 4 CPUs (3.50x), "
                          "9.0 GiB of 16.0 GiB memory (0.56x)")


def test_verbose_lists_every_domain_with_its_state(every_state, state_dir):
    run = host_run(every_state, state_dir, "-v")
    assert run.lines[-8:] == [
        "vm-blocked: running (blocked on a resource)", "vm-crashed: crashed",
        "vm-nostate: in no known state", "vm-paused: paused",
        "vm-pmsuspended: suspended by guest power management", "vm-running: running",
        "vm-shutoff: shut off", "vm-shuttingdown: shutting down"]


def test_a_host_of_running_domains_is_ok(three_running, state_dir):
    run = host_run(three_running, state_dir)
    assert_clean(run)
    assert run.returncode == 0
    assert run.status == (f"VM_HOST OK - {three_running}: 3 running; 6 vCPUs on 4 CPUs "
                          "(1.50x), 3.0 GiB of 16.0 GiB memory (0.19x)")


@pytest.mark.parametrize(("args", "code", "words"), [
    (("-c", "running=10:"), 2, "CRITICAL - {uri}: 3 running (< 10)"),
    (("-w", "running=3:", "-c", "running=2:"), 0, "OK - {uri}: 3 running;"),
    (("-w", "vcpu_overcommit=1"), 1, "WARNING - {uri}: vCPU overcommit 1.50x (> 1)"),
    (("-c", "mem_overcommit=0.1"), 2, "CRITICAL - {uri}: memory overcommit 0.19x (> 0.1)"),
    (("-c", "active_vcpus=5"), 2, "CRITICAL - {uri}: 6 vCPUs (> 5)"),
])
def test_thresholds_judge_counts_and_ratios(three_running, state_dir, args, code, words):
    run = host_run(three_running, state_dir, *args)
    assert_clean(run)
    assert run.returncode == code, run.stdout
    assert run.status.startswith("VM_HOST " + words.format(uri=three_running)), run.stdout


def test_a_threshold_the_host_cannot_judge_is_unknown_and_says_why(three_running, state_dir):
    run = host_run(three_running, state_dir, "-w", "host_memory_free=1")
    assert run.returncode == 3
    assert run.status.endswith("threshold -w host_memory_free judges nothing: libvirt reports "
                               "no free memory for this host (its driver has neither memory "
                               "statistics nor NUMA cells)")
    run = host_run(three_running, state_dir, "-w", "gone=0")
    assert run.returncode == 3
    assert "no expected domains are given (--expect-domain, --expect-file)" in run.status


# -- drift -------------------------------------------------------------------------------------

def test_drift_from_the_expected_domains_names_both_kinds(three_running, state_dir):
    run = host_run(three_running, state_dir, "--expect-domain", "web0",
                   "--expect-domain", "db")
    assert_clean(run)
    assert run.returncode == 1
    assert run.status == (
        f"VM_HOST WARNING - {three_running}: "
        "web1: not monitored (not among the expected domains); "
        "web2: not monitored (not among the expected domains); "
        "db: expected, but not on this hypervisor (removed or migrated?)")
    assert (run.perfdata["not_monitored"].value, run.perfdata["gone"].value) == (2, 1)


def test_drift_from_an_expected_file_and_its_own_states(three_running, state_dir, tmp_path):
    expected = tmp_path / "expected"
    expected.write_text("# hypervisor hv1\nweb0\nweb1\n\nweb2\nold-vm\n")
    run = host_run(three_running, state_dir, "--expect-file", str(expected),
                   "--state-if-gone", "critical")
    assert run.returncode == 2
    assert run.status == (f"VM_HOST CRITICAL - {three_running}: old-vm: expected, but not on "
                          "this hypervisor (removed or migrated?)")
    assert (run.perfdata["not_monitored"].value, run.perfdata["gone"].value) == (0, 1)
    run = host_run(three_running, state_dir, "--expect-file", str(expected),
                   "--expect-domain", "old-vm", "--state-if-gone", "ok", "-c", "gone=0")
    assert run.returncode == 2
    assert run.status == f"VM_HOST CRITICAL - {three_running}: 1 gone (> 0)"


def test_everything_expected_is_no_drift(three_running, state_dir, tmp_path):
    expected = tmp_path / "expected"
    expected.write_text("web0\nweb1\nweb2\n")
    run = host_run(three_running, state_dir, "--expect-file", str(expected), "-c", "gone=0",
                   "-c", "not_monitored=0")
    assert run.returncode == 0, run.stdout
    assert (run.perfdata["not_monitored"].value, run.perfdata["gone"].value) == (0, 0)


# -- the host snapshot -------------------------------------------------------------------------

def test_a_snapshot_hit_opens_no_libvirt_connection(three_running, state_dir, tmp_path):
    poison = poisoned_env(poisoned_path(tmp_path / "poison"))
    first = host_run(three_running, state_dir)
    top = snapshot_dir(state_dir, three_running)
    before = generation(top)
    assert (top / f"g-{before}" / "host").is_file()
    hit = host_run(three_running, state_dir, env=poison)
    assert_clean(hit)
    assert (hit.returncode, hit.stdout) == (first.returncode, first.stdout)
    assert generation(top) == before  # served, not refreshed
    # The poison works: a direct read loads libvirt, and fails.
    direct = host_run(three_running, state_dir, "--snapshot-max-age", "0", env=poison)
    assert direct.returncode == 3
    assert direct.status == ("VM_HOST UNKNOWN - internal error: ImportError: poisoned "
                             "(run with -vvv for a traceback)")


def test_a_vm_checks_refresh_serves_the_next_host_run(every_state, state_dir, tmp_path):
    cpu = run_check("check_vm_cpu", "--connect", every_state, "-d", "vm-running",
                    "--sample-interval", "0.2", state_dir=state_dir)
    assert cpu.returncode == 0, cpu.stdout + cpu.stderr
    top = snapshot_dir(state_dir, every_state)
    before = generation(top)
    hit = host_run(every_state, state_dir, env=poison_env(tmp_path))
    assert_clean(hit)
    assert hit.returncode == 2
    assert hit.status.startswith(f"VM_HOST CRITICAL - {every_state}: vm-crashed: crashed;")
    assert hit.perfdata["active_vcpus"].value == 14
    assert generation(top) == before


def test_a_stale_snapshot_is_refreshed(three_running, state_dir):
    host_run(three_running, state_dir)
    top = snapshot_dir(state_dir, three_running)
    before = generation(top)
    run = host_run(three_running, state_dir, "--snapshot-max-age", "0.000001")
    assert run.returncode == 0
    assert generation(top) > before


def poison_env(tmp_path: Path) -> dict[str, str]:
    return poisoned_env(poisoned_path(tmp_path / "poison"))


# -- what only a read-write connection can set (in this process) -------------------------------

def in_process(default: SharedDefault, state_dir: Path, *args: str) -> tuple[int, list[str]]:
    stream = io.StringIO()
    code = HostRun(HOST_CHECK, stream=stream,
                   open_inspector=lambda uri: Inspector(default.read_only(), uri))(
        ["--connect", "test:///default", "--state-dir", str(state_dir), *args])
    return code, stream.getvalue().splitlines()


@pytest.fixture
def shared_default():
    with SharedDefault() as default:
        yield default


@pytest.mark.parametrize("max_age", ["15", "0"])
def test_autostart_reasons_and_crashes_from_a_read_write_setup(shared_default, state_dir,
                                                               max_age):
    code, lines = in_process(shared_default, state_dir, "--snapshot-max-age", max_age)
    assert code == 2, lines
    status, perfdata = lines[0].split(" | ")
    assert status == (
        "VM_HOST CRITICAL - test:///default: crashed-dump: shut off (crashed: QEMU ended "
        "unexpectedly or the guest panicked); auto-down: shut off, but marked autostart; "
        "paused-user: paused (by the user)")
    values = dict(item.split("=", 1) for item in perfdata.split())
    assert {label: value.split(";")[0] for label, value in values.items()
            if label in ("running", "paused", "shutoff", "crashed", "autostart_down")} == {
        "running": "2", "paused": "1", "shutoff": "3", "crashed": "0", "autostart_down": "1"}
    # The driver's own `test` (8 GiB, 2 vCPUs) and auto-up and paused-user (1 GiB, 2 each).
    assert values["active_vcpus"].startswith("6;")
    assert values["active_memory"].startswith(f"{10 * GIB}B;")


def test_autostart_down_takes_its_option_and_a_destroyed_vm_is_no_problem(shared_default,
                                                                          state_dir):
    code, lines = in_process(shared_default, state_dir, "--state-if-crashed", "ok",
                             "--state-if-paused", "ok", "--state-if-autostart-down", "critical",
                             "-v")
    assert code == 2, lines
    assert lines[0].startswith("VM_HOST CRITICAL - test:///default: auto-down: shut off, but "
                               "marked autostart | ")
    assert lines[1] == "auto-down: shut off, but marked autostart"
    # -v lists every domain once; a problem would name it once more.
    assert lines.count("destroyed: shut off (destroyed)") == 1
    assert lines.count("auto-down: shut off, autostart") == 1
    assert [line for line in lines if line.startswith("auto-up: running")
            and line.endswith(", autostart")] != []
