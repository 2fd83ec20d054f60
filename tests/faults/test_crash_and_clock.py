"""Killed runs, tiny timeouts, clock jumps and unwritable or full state directories."""

from __future__ import annotations

import contextlib
import json
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness.checkrun import CheckRun
from harness.faultkit import (
    BOOT_CLOCK_VM_CPUS,
    BOOT_CLOCK_VM_VCPUS,
    CHECKS,
    TimedRun,
    assert_state_valid,
    boot_clock_vm_check,
    faketime_library,
    measured_without_the_baseline,
    needs_root,
    steady_usage_bounds,
    stepped_clock,
    timed_check,
)
from harness.paths import CHECKS as CHECKS_DIR

URI = "test:///default"
ALL = sorted(CHECKS)


def check_args(check: str, *extra: str) -> list[str]:
    mem = ["--balloon-max-age", "0"] if check == "check_vm_mem" else []
    return ["--connect", URI, "-d", "test", "--sample-interval", "0.3", *mem, *extra]


def sane_cpu(run: CheckRun) -> None:
    assert run.returncode == 0, run.stdout
    assert 45.0 <= run.perfdata["cpu_usage"].value <= 55.0  # the test driver's 50%


@pytest.mark.parametrize("check", ALL)
def test_runs_killed_at_random_points_leave_usable_state(check, state_dir):
    randomness = random.Random(f"kill-{check}")
    for _ in range(15):
        process = subprocess.Popen(
            [sys.executable, str(CHECKS_DIR / check), *check_args(check),
             "--state-dir", str(state_dir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(randomness.uniform(0.0, 0.6))
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    assert_state_valid(state_dir)
    timed = timed_check(check, *check_args(check), state_dir=state_dir)
    assert timed.run.returncode == 0, timed.run.stdout
    assert len(timed.run.lines) == 1
    assert len(assert_state_valid(state_dir)) == 1
    assert not list(state_dir.glob(".*.tmp"))
    if check == "check_vm_cpu":
        sane_cpu(timed.run)


@pytest.mark.parametrize("check", ALL)
def test_a_tiny_timeout_is_unknown_and_the_next_run_is_sane(check, state_dir):
    outcomes = set()
    # The watchdog fires anywhere: in libvirt, in the pause, in the state write.
    for timeout in ("0.001", "0.005", "0.01", "0.02", "0.03", "0.05", "0.08"):
        timed = timed_check(check, "--connect", URI, "-d", "test", "-t", timeout,
                            *(["--balloon-max-age", "0"] if check == "check_vm_mem" else []),
                            state_dir=state_dir)
        outcomes.add(timed.run.returncode)
        assert timed.run.returncode in (0, 3), timed.run.stdout
        assert timed.run.stdout.count("\n") >= 1 and "Traceback" not in timed.run.stdout
        assert timed.seconds < float(timeout) + 1.5
        assert_state_valid(state_dir)
    assert 3 in outcomes
    timed = timed_check(check, *check_args(check), state_dir=state_dir)
    assert timed.run.returncode == 0, timed.run.stdout
    if check == "check_vm_cpu":
        sane_cpu(timed.run)


def edit_stored_snapshots(state_dir: Path, **changes) -> None:
    """Change every stored snapshot: a number is added to its field, None removes
    the field, a string replaces it."""
    for path in state_dir.glob("*.json"):
        document = json.loads(path.read_text())
        for snapshot in document["snapshots"]:
            for field, change in changes.items():
                if change is None:
                    snapshot.pop(field, None)
                elif isinstance(change, str):
                    snapshot[field] = change
                else:
                    snapshot[field] += change
        path.write_text(json.dumps(document))


# Long against the start-up of a run, so that steady_usage_bounds are narrow.
PAUSE = 2.0


def assert_true_usage(timed: TimedRun, cpus: float = 1.0, vcpus: int = 2) -> None:
    """The run measured without its stored baseline and reports the steady
    usage it really had."""
    assert timed.run.returncode == 0, timed.run.stdout
    low, high = steady_usage_bounds(timed, PAUSE, cpus, vcpus)
    assert low <= timed.run.perfdata["cpu_usage"].value <= high, (low, high, timed.run.stdout)
    assert "since the previous run" not in timed.run.stdout


@pytest.mark.parametrize(("changes", "reason"), [
    ({"wall_time": 86400.0},
     "the clock was stepped since the previous sample, 86400 s back"),
    ({"wall_time": -7200.0, "boot_time": -7200.0},
     "the previous sample is older than --max-age"),
], ids=["wall-clock-back-a-day", "two-hours-old"])
def test_clock_jumps_between_runs_are_measured_within_the_run(state_dir, changes, reason):
    timed_check("check_vm_cpu", *check_args("check_vm_cpu"), state_dir=state_dir)
    edit_stored_snapshots(state_dir, **changes)
    timed = timed_check("check_vm_cpu", *check_args("check_vm_cpu", "-vv"), state_dir=state_dir)
    sane_cpu(timed.run)
    assert measured_without_the_baseline(timed.run.stdout, reason), timed.run.stdout
    assert_state_valid(state_dir)


def test_clock_forward_within_max_age_gives_the_true_rate(state_dir):
    # The baseline's wall time says 30 s more passed than the boot-time clock
    # does: a wall clock stepped forward.  The test driver's counter follows the
    # real (unstepped) clock, so the true usage is its steady 50%.
    timed_check("check_vm_cpu", *check_args("check_vm_cpu"), state_dir=state_dir)
    edit_stored_snapshots(state_dir, wall_time=-30.0)
    timed = timed_check("check_vm_cpu", "--connect", URI, "-d", "test", "-vv",
                        "--sample-interval", str(PAUSE), state_dir=state_dir)
    assert_true_usage(timed)
    assert "the clock was stepped since the previous sample, 30 s forward" in timed.run.stdout
    assert_state_valid(state_dir)


@pytest.fixture
def faketime() -> Path:
    return faketime_library()


def test_a_wall_clock_stepped_back_within_the_interval_keeps_the_true_rate(state_dir, faketime):
    # 60 s of work at one CPU-second per second; the wall clock then goes back
    # 50 s, so that it shows only 10 s between the runs.
    boot_clock_vm_check(state_dir=state_dir, earlier=60.0)
    timed = boot_clock_vm_check("-vv", "--sample-interval", str(PAUSE), state_dir=state_dir,
                                env=stepped_clock(faketime, -50.0))
    assert_true_usage(timed, BOOT_CLOCK_VM_CPUS, BOOT_CLOCK_VM_VCPUS)
    assert "the clock was stepped since the previous sample, 50 s back" in timed.run.stdout
    assert_state_valid(state_dir)


def test_a_wall_clock_stepped_forward_within_max_age_keeps_the_true_rate(state_dir, faketime):
    boot_clock_vm_check(state_dir=state_dir)
    timed = boot_clock_vm_check("-vv", "--sample-interval", str(PAUSE), state_dir=state_dir,
                                env=stepped_clock(faketime, 300.0))
    assert_true_usage(timed, BOOT_CLOCK_VM_CPUS, BOOT_CLOCK_VM_VCPUS)
    assert "the clock was stepped since the previous sample, 300 s forward" in timed.run.stdout
    assert_state_valid(state_dir)


def test_a_baseline_from_another_boot_of_the_monitoring_host_is_not_used(state_dir):
    timed_check("check_vm_cpu", *check_args("check_vm_cpu"), state_dir=state_dir)
    edit_stored_snapshots(state_dir, boot_id="00000000-0000-4000-8000-000000000000")
    timed = timed_check("check_vm_cpu", "--connect", URI, "-d", "test", "-vv",
                        "--sample-interval", str(PAUSE), state_dir=state_dir)
    assert_true_usage(timed)
    assert measured_without_the_baseline(
        timed.run.stdout, "the monitoring host was restarted since the previous sample")
    assert_state_valid(state_dir)


def test_a_state_file_without_boot_time_costs_one_measurement_within_the_run(state_dir):
    timed_check("check_vm_cpu", *check_args("check_vm_cpu"), state_dir=state_dir)
    edit_stored_snapshots(state_dir, boot_time=None, boot_id=None)
    first = timed_check("check_vm_cpu", *check_args("check_vm_cpu", "-vv"), state_dir=state_dir)
    sane_cpu(first.run)
    assert measured_without_the_baseline(
        first.run.stdout, "the previous sample was stored by an earlier version")
    assert_state_valid(state_dir)
    second = timed_check("check_vm_cpu", *check_args("check_vm_cpu", "-vv"), state_dir=state_dir)
    sane_cpu(second.run)
    assert "since the previous run" in second.run.stdout


def mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def mounted(tmp_path: Path):
    """Mount points the test creates; unmounted at the end."""
    points: list[Path] = []
    yield points
    for point in reversed(points):
        subprocess.run(["umount", "-l", str(point)], check=False, capture_output=True)


@needs_root
@pytest.mark.parametrize("check", ALL)
def test_full_state_directory_still_measures_and_says_so(check, tmp_path, mounted):
    state_dir = tmp_path / "full"
    state_dir.mkdir(mode=0o700)
    mount("-t", "tmpfs", "-o", "size=64k,mode=0700", "tmpfs", str(state_dir))
    mounted.append(state_dir)
    filler = state_dir / "filler"
    with open(filler, "wb", buffering=0) as handle, contextlib.suppress(OSError):
        handle.write(b"\0" * 128 * 1024)  # fills the 64 KiB tmpfs
    timed = timed_check(check, *check_args(check), state_dir=state_dir)
    assert timed.run.returncode == 0, timed.run.stdout
    assert timed.run.lines[0].startswith(f"{CHECKS[check]} OK - test: ")
    assert "state not saved: No space left on device" in timed.run.lines[1:]
    assert assert_state_valid(state_dir) == []


@needs_root
@pytest.mark.parametrize("check", ALL)
def test_read_only_state_directory_still_measures_and_says_so(check, tmp_path, mounted):
    source, state_dir = tmp_path / "rw", tmp_path / "ro"
    source.mkdir(mode=0o700)
    state_dir.mkdir(mode=0o700)
    mount("--bind", str(source), str(state_dir))
    mounted.append(state_dir)
    mount("-o", "remount,bind,ro", str(state_dir))
    timed = timed_check(check, *check_args(check), state_dir=state_dir)
    assert timed.run.returncode == 0, timed.run.stdout
    assert any("Read-only file system" in line for line in timed.run.lines[1:])
    assert list(source.iterdir()) == []
