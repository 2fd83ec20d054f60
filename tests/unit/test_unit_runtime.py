"""One whole check run in-process: options -> inspector -> state -> output (libcheck.runtime).

The inspector reads either libvirt's built-in test driver or a fake
connection with a fake clock; the pause between two samples is a tiny
injected sleep (or the fake clock's). The watchdog (a libvirt that hangs)
belongs to another tier.
"""

from __future__ import annotations

import io
import os
import re
import time
from pathlib import Path
from typing import Optional

import libvirt
import pytest
from harness.fakes import FakeClock, FakeConnection, FakeDomain
from nagiosplugin.state import Ok, Warn

from libcheck import cpu as cpu_module
from libcheck.clocks import Clocks
from libcheck.cpu import CHECK
from libcheck.disk import CHECK as DISK_CHECK
from libcheck.errors import ConnectionFailed
from libcheck.inspector import Inspector
from libcheck.runtime import Reporter, Run
from libcheck.samples import DomainState

TEST_URI = "test:///default"


class Result:
    """What a run printed and returned."""

    def __init__(self, code: int, output: str) -> None:
        self.code = code
        self.output = output
        self.lines = output.splitlines()

    @property
    def first(self) -> str:
        return self.lines[0]


@pytest.fixture
def state_dir(tmp_path: Path) -> Path:
    return tmp_path / "state"


@pytest.fixture
def check(state_dir, capsys):
    """Run check_vm_cpu in-process against the test driver; stderr must stay clean."""
    sleeps: list[float] = []

    def tiny_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        time.sleep(run.pause)

    def run(*argv: str) -> Result:
        stream = io.StringIO()
        code = Run(CHECK, stream=stream,
                   open_inspector=lambda uri: Inspector(libvirt.openReadOnly(TEST_URI), uri),
                   sleep=tiny_sleep)(["--state-dir", str(state_dir), *argv])
        assert "Traceback" not in capsys.readouterr().err
        return Result(code, stream.getvalue())

    run.sleeps = sleeps
    run.pause = 0.02
    return run


# -- OK and threshold breaches against the test driver -------------------------------------

def test_an_ok_run_prints_one_status_line_with_perfdata(check):
    result = check("-d", "test", "--connect", TEST_URI)
    assert result.code == 0
    assert len(result.lines) == 1
    assert re.fullmatch(
        r"VM_CPU OK - test: \d+\.\d% of 2 vCPUs \| (\S+=\S+ )*cpu_usage=[\d.]+%;;;0;100"
        r"( \S+=\S+)*", result.first)
    assert re.search(r"\bvcpu0_usage=[\d.]+%;;;0;100\b", result.first)
    assert re.search(r"\bcpu_time_ns=\d+c;;;0\b", result.first)


def test_the_test_driver_cpu_time_follows_the_clock_so_usage_is_near_half(check):
    # The test driver's CPU time is the wall clock: one host CPU of two vCPUs.
    # A longer (still tiny) pause keeps scheduling noise small against it.
    check.pause = 0.1
    result = check("-d", "test", "--connect", TEST_URI)
    usage = float(re.search(r" cpu_usage=([\d.]+)%", result.first).group(1))
    assert 30 <= usage <= 70
    assert check.sleeps == [1.5]


def test_a_breached_critical_threshold_exits_2_naming_the_limit(check):
    result = check("-d", "test", "--connect", TEST_URI, "-w", "1", "-c", "2")
    assert result.code == 2
    assert re.match(r"VM_CPU CRITICAL - test: \d+\.\d% of 2 vCPUs \(> 2\) \| ", result.first)
    assert re.search(r" cpu_usage=[\d.]+%;1;2;0;100", result.first)


def test_verbose_adds_every_reading_and_the_measurement_basis(check):
    result = check("-d", "test", "--connect", TEST_URI, "-vv")
    assert result.code == 0
    assert any(line.startswith("cpu_usage: ") for line in result.lines[1:])
    assert re.fullmatch(r"rates measured over \d+\.\d\d s within this run \(no previous "
                        r"sample\)", result.lines[-1])


def test_the_state_files_are_named_by_a_hash_only(check, state_dir):
    check("-d", "test", "--connect", TEST_URI)
    names = os.listdir(state_dir)
    assert names
    hashed = r"((cpu|hostsnap)-[0-9a-f]{32}(\.json|\.lock)?)|\.pruned(-snapshots)?"
    assert all(re.fullmatch(hashed, name) for name in names)


# -- usage errors ----------------------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    [],
    ["--connect", TEST_URI],
    ["-d", ""],
    ["-d", "te\nst"],
    ["-d", "test", "-w", "10:5"],
    ["-d", "test", "-w", "abc"],
    ["-d", "test", "-c", "bogus=5"],
    ["-d", "test", "-c", "=5"],
    ["-d", "test", "-t", "abc"],
    ["-d", "test", "-t", "0"],
    ["-d", "test", "--max-age", "5x"],
    ["-d", "test", "--sample-interval", "6", "-t", "10"],
    ["-d", "test", "--state-if-missing", "maybe"],
    ["-d", "test", "--no-such-option"],
    ["-d", "test", "extra"],
    ["-d", "test", "-w", "vcpu9_usage=5"],
], ids=lambda argv: " ".join(argv) or "no-arguments")
def test_a_usage_error_is_one_unknown_line_and_exit_3(check, argv):
    result = check("--connect", TEST_URI, *argv) if "--connect" not in argv else check(*argv)
    assert result.code == 3
    assert len(result.lines) == 1
    assert result.first.startswith("VM_CPU UNKNOWN - ")
    assert "Traceback" not in result.output


def test_a_usage_error_names_the_problem(check):
    result = check("--connect", TEST_URI, "-d", "test", "-w", "10:5")
    assert result.first == ("VM_CPU UNKNOWN - -w '10:5': range '10:5': start 10 is greater "
                            "than end 5")


def test_a_missing_domain_option_says_it_is_required(check):
    assert check().first == ("VM_CPU UNKNOWN - the following arguments are required: "
                             "-d/--domain (see --help)")


# -- missing and non-running domains ----------------------------------------------------------

def test_a_missing_domain_is_critical_by_default(check):
    result = check("-d", "ghost", "--connect", TEST_URI)
    assert result.code == 2
    assert result.lines == [
        "VM_CPU CRITICAL - no domain 'ghost' on test:///default (give its name, UUID or ID "
        "as `virsh -r -c test:///default list --all` shows them)"]


@pytest.mark.parametrize(("state", "code", "word"), [
    ("unknown", 3, "UNKNOWN"), ("ok", 0, "OK"), ("warning", 1, "WARNING")])
def test_a_missing_domain_reports_the_state_if_missing(check, state, code, word):
    result = check("-d", "ghost", "--connect", TEST_URI, "--state-if-missing", state)
    assert result.code == code
    assert result.first.startswith(f"VM_CPU {word} - no domain 'ghost'")
    assert len(result.lines) == 1


def fake_run(connection: FakeConnection, *argv: str, clock: Optional[FakeClock] = None) -> Result:
    """Run against a fake connection (and, if given, a fake clock)."""
    clock = clock or FakeClock()
    stream = io.StringIO()
    code = Run(CHECK, stream=stream,
               open_inspector=lambda uri: Inspector(connection, uri, clock=clock.time,
                                                    boot_time=clock.monotonic),
               sleep=clock.sleep, clocks=Clocks(clock.time, clock.monotonic))(list(argv))
    return Result(code, stream.getvalue())


@pytest.mark.parametrize(("state", "options", "code", "line"), [
    (DomainState.SHUTOFF, [], 2, "VM_CPU CRITICAL - vm1: shut off"),
    (DomainState.SHUTOFF, ["--state-if-stopped", "ok"], 0, "VM_CPU OK - vm1: shut off"),
    (DomainState.PAUSED, [], 1, "VM_CPU WARNING - vm1: paused"),
    (DomainState.CRASHED, ["--state-if-crashed", "unknown"], 3, "VM_CPU UNKNOWN - vm1: crashed"),
    (DomainState.NOSTATE, [], 3, "VM_CPU UNKNOWN - vm1: in no known state"),
])
def test_a_domain_that_is_not_running_gets_the_policy_state(tmp_path, state, options, code,
                                                            line):
    domain = FakeDomain(domain_id=-1)
    connection = FakeConnection([domain], stats={"state.state": state.value})
    result = fake_run(connection, "-d", "vm1", "--state-dir", str(tmp_path), *options)
    assert (result.code, result.lines) == (code, [line])
    assert connection.closed


@pytest.fixture
def commanded():
    """The test driver's domain `test` on a read-write connection, running again afterwards.

    The checks' own read-only connections see what this one does: the
    `test:///default` node is shared within the process.
    """
    connection = libvirt.open(TEST_URI)
    domain = connection.lookupByName("test")
    try:
        yield domain
    finally:
        domain = connection.lookupByName("test")
        if not domain.isActive():
            domain.create()
        elif domain.state()[0] == libvirt.VIR_DOMAIN_PAUSED:
            domain.resume()
        connection.close()


def revert_to_a_snapshot_paused(domain) -> None:
    snapshot = domain.snapshotCreateXML("<domainsnapshot><name>s</name></domainsnapshot>")
    domain.revertToSnapshot(snapshot, libvirt.VIR_DOMAIN_SNAPSHOT_REVERT_PAUSED)


@pytest.mark.parametrize(("command", "options", "code", "status"), [
    (lambda domain, _path: domain.suspend(), [], 1, "WARNING - test: paused (by the user)"),
    (lambda domain, _path: revert_to_a_snapshot_paused(domain), [], 1,
     "WARNING - test: paused (after a revert to a snapshot)"),
    (lambda domain, _path: domain.destroy(), [], 2, "CRITICAL - test: shut off (destroyed)"),
    (lambda domain, _path: domain.shutdown(), ["--state-if-stopped", "warning"], 1,
     "WARNING - test: shut off (a normal shutdown)"),
    (lambda domain, path: domain.save(str(path / "saved")), [], 2,
     "CRITICAL - test: shut off (saved to a file)"),
    # A crash is a crash whatever the policy for stopped domains says.
    (lambda domain, path: domain.coreDumpWithFormat(str(path / "core"), 0,
                                                     libvirt.VIR_DUMP_CRASH),
     ["--state-if-stopped", "ok"], 2,
     "CRITICAL - test: shut off (crashed: QEMU ended unexpectedly or the guest panicked)"),
], ids=["suspended", "reverted-paused", "destroyed", "shut-down", "saved", "crashed"])
def test_the_status_line_says_why_the_test_driver_domain_is_not_running(
        check, commanded, tmp_path, command, options, code, status):
    command(commanded, tmp_path)
    result = check("-d", "test", "--connect", TEST_URI, *options)
    assert (result.code, result.lines) == (code, [f"VM_CPU {status}"])


@pytest.mark.parametrize(("reason", "options", "code", "status"), [
    (libvirt.VIR_DOMAIN_PAUSED_IOERROR, [], 2,
     "CRITICAL - vm1: paused (by a disk I/O error: host storage full or failing?)"),
    (libvirt.VIR_DOMAIN_PAUSED_IOERROR, ["--state-if-paused-error", "warning"], 1,
     "WARNING - vm1: paused (by a disk I/O error: host storage full or failing?)"),
    (libvirt.VIR_DOMAIN_PAUSED_IOERROR, ["--state-if-paused", "ok"], 2,
     "CRITICAL - vm1: paused (by a disk I/O error: host storage full or failing?)"),
    (libvirt.VIR_DOMAIN_PAUSED_WATCHDOG, [], 2,
     "CRITICAL - vm1: paused (by its watchdog: the guest stopped responding)"),
    (libvirt.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED, [], 2,
     "CRITICAL - vm1: paused (after a failed post-copy migration)"),
    (libvirt.VIR_DOMAIN_PAUSED_MIGRATION, [], 1, "WARNING - vm1: paused (for a migration)"),
    (libvirt.VIR_DOMAIN_PAUSED_SNAPSHOT, [], 1,
     "WARNING - vm1: paused (while a snapshot is taken)"),
    (libvirt.VIR_DOMAIN_PAUSED_CRASHED, ["--state-if-crashed", "unknown"], 3,
     "UNKNOWN - vm1: paused (after the guest crashed)"),
])
def test_a_pause_on_an_error_is_critical_by_its_own_option(tmp_path, reason, options, code,
                                                           status):
    # No driver pauses on an I/O error on demand: the bulk answer carries libvirt's reason.
    connection = FakeConnection([FakeDomain()], stats={"state.state": libvirt.VIR_DOMAIN_PAUSED,
                                                       "state.reason": reason})
    result = fake_run(connection, "-d", "vm1", "--state-dir", str(tmp_path), *options)
    assert (result.code, result.lines) == (code, [f"VM_CPU {status}"])


# -- a deterministic run on a fake connection and clock -------------------------------------------

def clock_driven_stats(clock: FakeClock):
    """Bulk stats of a domain using one host CPU of its two vCPUs, by the fake clock."""
    def stats() -> dict:
        busy = round(clock.mono * 1e9)
        return {"state.state": 1, "state.reason": 1, "cpu.time": busy,
                "vcpu.current": 2, "vcpu.maximum": 2,
                "vcpu.0.time": busy // 2, "vcpu.1.time": busy // 2}
    return stats


def test_a_fake_clock_run_gives_the_exact_golden_line(tmp_path):
    clock = FakeClock()
    connection = FakeConnection([FakeDomain()], stats=clock_driven_stats(clock))
    result = fake_run(connection, "-d", "vm1", "--state-dir", str(tmp_path), "-w", "80",
                      clock=clock)
    assert result.code == 0
    assert result.lines == [
        "VM_CPU OK - vm1: 50.0% of 2 vCPUs | cpu_time_ns=5001500000000c;;;0 "
        "cpu_usage=50%;80;;0;100 vcpu0_usage=50%;;;0;100 vcpu1_usage=50%;;;0;100"]
    assert clock.sleeps == [1.5]


def test_a_second_run_a_minute_later_uses_the_stored_baseline_without_sleeping(tmp_path):
    clock = FakeClock()
    connection = FakeConnection([FakeDomain()], stats=clock_driven_stats(clock))
    fake_run(connection, "-d", "vm1", "--state-dir", str(tmp_path), clock=clock)
    clock.advance(60)
    clock.sleeps.clear()
    result = fake_run(connection, "-d", "vm1", "--state-dir", str(tmp_path), "-vv",
                      clock=clock)
    assert clock.sleeps == []
    assert result.first.startswith("VM_CPU OK - vm1: 50.0% of 2 vCPUs | ")
    assert result.lines[-1] == "rates measured over 60.00 s since the previous run"


def test_a_tiny_threshold_is_judged_not_an_internal_error(tmp_path):
    clock = FakeClock()
    connection = FakeConnection([FakeDomain()], stats=clock_driven_stats(clock))
    result = fake_run(connection, "-d", "vm1", "--state-dir", str(tmp_path),
                      "-w", "0.00001", clock=clock)
    assert result.code == 1
    assert result.first.startswith("VM_CPU WARNING - vm1: 50.0% of 2 vCPUs (> 0.00001)")


def test_a_state_problem_is_said_in_the_status_line_and_is_not_a_failure(tmp_path):
    state_dir = tmp_path / "state"
    state_dir.mkdir()
    state_dir.chmod(0o777)
    clock = FakeClock()
    connection = FakeConnection([FakeDomain()], stats=clock_driven_stats(clock))
    result = fake_run(connection, "-d", "vm1", "--state-dir", str(state_dir), clock=clock)
    note = f"state not used: {state_dir} is writable by other users"
    assert result.code == 0
    assert result.first.startswith(f"VM_CPU OK - vm1: 50.0% of 2 vCPUs ({note}) | ")
    assert result.lines[1:] == [note]
    assert clock.sleeps == [1.5]


def test_a_state_directory_that_is_a_file_is_said_in_the_status_line(check, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = check("-d", "test", "--connect", TEST_URI, "-w", "0.001",
                   "--state-dir", str(blocker))
    assert result.code == 1
    assert re.fullmatch(rf"VM_CPU WARNING - test: \d+\.\d% of 2 vCPUs \(> 0.001\) "
                        rf"\(state not used: {re.escape(str(blocker))}: Not a directory\)",
                        result.first.split(" | ")[0])
    assert check.sleeps == [1.5]


# -- the disk check's selection ------------------------------------------------------------------

NODE_URI = f"test://{Path(__file__).resolve().parents[1] / 'data' / 'node.xml'}"


def disk_run(tmp_path: Path, *argv: str) -> Result:
    """check_vm_disk_io in-process against the test node (web01: vda, vdb, an empty cdrom sda)."""
    stream = io.StringIO()
    code = Run(DISK_CHECK, stream=stream, sleep=lambda _seconds: None,
               open_inspector=lambda uri: Inspector(libvirt.openReadOnly(uri), uri))(
        ["--connect", NODE_URI, "-d", "web01", "--state-dir", str(tmp_path), *argv])
    return Result(code, stream.getvalue())


def test_a_named_empty_cdrom_is_said_to_have_no_statistics(tmp_path):
    result = disk_run(tmp_path, "--disk", "sda")
    assert (result.code, result.lines) == (3, [
        "VM_DISK_IO UNKNOWN - web01: disk sda has no I/O statistics (an empty cdrom or a disk "
        "without a source has none)"])


def test_excluding_every_disk_leaves_none_to_report(tmp_path):
    result = disk_run(tmp_path, "--exclude-disk", "vda", "--exclude-disk", "vdb")
    assert (result.code, result.lines) == (3, [
        "VM_DISK_IO UNKNOWN - web01: no disk left to report (see --disk and --exclude-disk)"])


# -- failures ------------------------------------------------------------------------------------

def test_a_connection_failure_is_one_unknown_line(tmp_path):
    def refuse(uri):
        raise ConnectionFailed(f"cannot connect to libvirt at {uri}: no (hint)")

    stream = io.StringIO()
    code = Run(CHECK, stream=stream, open_inspector=refuse)(
        ["-d", "vm1", "--connect", "qemu:///system", "--state-dir", str(tmp_path)])
    assert code == 3
    assert stream.getvalue() == ("VM_CPU UNKNOWN - cannot connect to libvirt at "
                                 "qemu:///system: no (hint)\n")


def test_an_exception_inside_the_check_is_one_unknown_internal_error_line(check, monkeypatch):
    def boom(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(cpu_module, "_percent", boom)
    result = check("-d", "test", "--connect", TEST_URI)
    assert result.code == 3
    assert result.lines == [
        "VM_CPU UNKNOWN - internal error: RuntimeError: boom (run with -vvv for a traceback)"]


def test_vvv_adds_the_traceback_of_an_internal_error(check, monkeypatch):
    def boom(*_args, **_kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(cpu_module, "_percent", boom)
    result = check("-d", "test", "--connect", TEST_URI, "-vvv")
    assert result.code == 3
    assert result.first.startswith("VM_CPU UNKNOWN - internal error: RuntimeError: boom")
    assert any("Traceback" in line for line in result.lines[1:])
    assert any("_percent" in line or "boom" in line for line in result.lines[1:])


# -- the reporter ------------------------------------------------------------------------------

def test_the_reporter_writes_once_and_keeps_the_status_on_one_line():
    stream = io.StringIO()
    reporter = Reporter("VM_X", stream)
    assert reporter.emit(Warn, "a | b\nc  d", ["x=1"], ["long | one", "two\nlines"]) == 1
    assert reporter.emit(Ok, "second") == 0
    assert stream.getvalue() == "VM_X WARNING - a / b c d | x=1\nlong / one\ntwo lines\n"
