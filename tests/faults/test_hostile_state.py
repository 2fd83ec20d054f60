"""Hostile or broken state: discarded or refused, never followed, never fatal.

The check always still reports a measured result (within the run when the
state cannot be used) and says in its long output what was wrong.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import time
from pathlib import Path

import pytest
from harness.asuser import nobody_command
from harness.checkrun import CheckRun
from harness.faultkit import (
    CHECKS,
    assert_state_valid,
    measured_without_the_baseline,
    needs_root,
    timed_check,
)

from libcheck.registry import CHECKS as REGISTERED
from libcheck.state import state_key

URI = "test:///default"
UUID = "6695eb01-f6a4-8304-79aa-97f2502e193f"
CHECK_NAMES = {entry.executable: entry.name for entry in REGISTERED}
ALL = sorted(CHECKS)
FAST = ("--sample-interval", "0.2", "--balloon-max-age", "0")


def run(check: str, state_dir: Path, *extra: str):
    options = FAST if check == "check_vm_mem" else FAST[:2]
    return timed_check(check, "--connect", URI, "-d", "test", *options, *extra,
                       state_dir=state_dir)


def state_file(state_dir: Path, check: str) -> Path:
    return state_dir / f"{state_key(URI, UUID, CHECK_NAMES[check])}.json"


def assert_measured_with_note(timed, check: str, note: str) -> None:
    lines = timed.run.lines
    assert timed.run.returncode == 0, timed.run.stdout
    assert lines[0].startswith(f"{CHECKS[check]} OK - test: "), lines[0]
    assert any(note in line for line in lines[1:]), timed.run.stdout
    assert "Traceback" not in timed.run.stdout and timed.run.stderr == ""
    assert timed.seconds < 5


def assert_measured_saying_so(timed, check: str, note: str) -> None:
    """Measured within the run, and the status line ends with why the state was not used."""
    assert_measured_with_note(timed, check, note)
    assert timed.run.status.endswith(f" ({note})"), timed.run.status


CORRUPT = {
    "empty": (b"", "not valid JSON"),
    "truncated": (b'{"format":"check_vm-state/1","snapshots":[{"wall_ti', "not valid JSON"),
    "wrong shape": (json.dumps({"format": "check_vm-state/1",
                                "snapshots": [{"wall_time": "yesterday"}]}).encode(),
                    "a snapshot has no valid time"),
    "a list": (b"[1, 2, 3]", "not in this version's format"),
    "binary": (bytes(range(256)), "not valid JSON"),
}


@pytest.mark.parametrize("check", ALL)
@pytest.mark.parametrize("case", sorted(CORRUPT))
def test_corrupt_state_is_discarded_and_replaced(check, case, state_dir):
    content, note = CORRUPT[case]
    state_dir.mkdir(mode=0o700)
    state_file(state_dir, check).write_bytes(content)
    timed = run(check, state_dir)
    assert_measured_with_note(timed, check, note)
    assert "previous state discarded: " in timed.run.stdout
    assert len(assert_state_valid(state_dir)) == 1


@pytest.mark.parametrize("check", ALL)
def test_a_100_mb_state_file_is_refused_quickly(check, state_dir):
    state_dir.mkdir(mode=0o700)
    with open(state_file(state_dir, check), "wb") as handle:
        handle.truncate(100 * 1024 * 1024)
    timed = run(check, state_dir)
    assert_measured_with_note(timed, check, "the state file is too large")
    assert state_file(state_dir, check).stat().st_size < 4096


@needs_root
@pytest.mark.parametrize("check", ALL)
def test_a_state_file_of_another_user_is_not_trusted(check, state_dir):
    state_dir.mkdir(mode=0o700)
    path = state_file(state_dir, check)
    path.write_text('{"format":"check_vm-state/1","snapshots":[]}')
    os.chown(path, 65534, 65534)
    timed = run(check, state_dir)
    assert_measured_with_note(timed, check, "the state file belongs to another user")
    assert path.stat().st_uid == os.geteuid()  # replaced by our own, atomically


@pytest.mark.parametrize("check", ALL)
def test_world_writable_state_directory_is_not_used(check, state_dir):
    state_dir.mkdir()
    state_dir.chmod(0o777)
    timed = run(check, state_dir)
    assert_measured_saying_so(timed, check, f"state not used: {state_dir} is writable by "
                                            "other users")
    assert list(state_dir.iterdir()) == []


@needs_root
@pytest.mark.parametrize("check", ALL)
def test_state_directory_of_another_user_is_not_used(check, state_dir):
    state_dir.mkdir(mode=0o700)
    os.chown(state_dir, 65534, 65534)
    timed = run(check, state_dir)
    assert_measured_saying_so(timed, check, f"state not used: {state_dir} belongs to another "
                                            "user")
    assert list(state_dir.iterdir()) == []


@pytest.mark.parametrize("check", ALL)
@pytest.mark.parametrize("planted", ["state", "temporary", "lock"])
def test_a_planted_symlink_is_never_followed(check, planted, state_dir, tmp_path):
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    state_dir.mkdir(mode=0o700)
    path = state_file(state_dir, check)
    link = {"state": path, "temporary": path.with_name(f".{path.name}.tmp"),
            "lock": path.with_suffix(".lock")}[planted]
    link.symlink_to(victim)
    for _ in range(2):
        timed = run(check, state_dir)
        assert timed.run.returncode == 0, timed.run.stdout
        assert timed.run.lines[0].startswith(f"{CHECKS[check]} OK - test: ")
    assert victim.read_bytes() == b"precious\n"
    assert all(not entry.is_symlink() or entry == link for entry in state_dir.iterdir())
    assert {p.resolve().parent for p in state_dir.iterdir()} <= {state_dir, tmp_path}
    assert_state_valid(state_dir) if planted != "lock" else None


@pytest.mark.parametrize("check", ALL)
def test_a_symlinked_state_directory_is_refused(check, tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    link = tmp_path / "link"
    link.symlink_to(real)
    timed = run(check, link)
    assert_measured_saying_so(timed, check, f"state not used: {link} is a symlink (the state "
                                            "directory is never reached through one)")
    assert list(real.iterdir()) == []


@pytest.mark.parametrize("check", ALL)
def test_a_symlink_above_the_state_directory_is_refused(check, tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    state_dir = tmp_path / "link" / "state"
    timed = run(check, state_dir)
    assert_measured_saying_so(timed, check, f"state not used: {state_dir}: {tmp_path / 'link'} "
                                            "is a symlink (the state directory is never reached "
                                            "through one)")
    assert list(real.iterdir()) == []


@pytest.mark.parametrize("check", ALL)
def test_a_file_given_as_the_state_directory_is_said_in_the_status_line(check, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    timed = run(check, blocker)
    assert_measured_saying_so(timed, check, f"state not used: {blocker}: Not a directory")


@needs_root
@pytest.mark.parametrize("check", ALL)
def test_a_state_directory_the_user_cannot_write_is_said_in_the_status_line(check,
                                                                            nobody_dir):
    # As a daemon's user with someone else's HOME: measured within the run, and said so.
    private = nobody_dir / "root-only"
    private.mkdir(mode=0o700)
    state_dir = private / "state"
    options = FAST if check == "check_vm_mem" else FAST[:2]
    with nobody_command(check) as command:
        completed = subprocess.run(
            [*command, "--connect", URI, "-d", "test", *options, "--state-dir", str(state_dir)],
            capture_output=True, text=True, timeout=30, check=False)
    run = CheckRun(completed.returncode, completed.stdout, completed.stderr)
    note = f"state not used: {state_dir}: Permission denied"
    assert (run.returncode, run.stderr) == (0, ""), run.stdout + run.stderr
    assert run.status.startswith(f"{CHECKS[check]} OK - test: ")
    assert run.status.endswith(f" ({note})")
    assert note in run.lines[1:]


# -- what stands at our names is not always a file: FIFOs and devices -----------------------

HOUR_AND_A_MINUTE = 3660.0
# A character device that is harmless to open (the numbers of /dev/null).
NULL_DEVICE = os.makedev(1, 3)


def plant_special(path: Path, kind: str) -> None:
    """Put a FIFO or a character device at `path`, in place of what stood there,
    looking older than the hourly pruning (so a marker makes pruning due)."""
    if path.exists() or path.is_symlink():
        path.unlink()
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    else:
        os.mknod(path, 0o600 | stat.S_IFCHR, NULL_DEVICE)
    then = time.time() - HOUR_AND_A_MINUTE
    os.utime(path, (then, then), follow_symlinks=False)


def our_name(state_dir: Path, check: str, which: str) -> Path:
    """A name in the state directory that the checks write, after a first run."""
    if which == "state lock":
        return state_file(state_dir, check).with_suffix(".lock")
    if which == "snapshot lock":
        (lock,) = state_dir.glob("hostsnap-*.lock")
        return lock
    return state_dir / which


SPECIAL_KINDS = ["fifo", pytest.param("device", marks=needs_root)]


@pytest.mark.parametrize("check", ALL)
@pytest.mark.parametrize("kind", SPECIAL_KINDS)
@pytest.mark.parametrize("which", [".pruned", ".pruned-snapshots", "state lock",
                                   "snapshot lock"])
def test_a_fifo_or_device_at_a_marker_or_lock_never_hangs_and_is_replaced(check, kind, which,
                                                                         state_dir):
    assert run(check, state_dir).run.returncode == 0
    planted = our_name(state_dir, check, which)
    plant_special(planted, kind)
    # Past the snapshot's age, so that this run refreshes it and takes its lock.
    time.sleep(1.1)
    timed = run(check, state_dir, "--snapshot-max-age", "1")
    assert timed.run.returncode == 0, timed.run.stdout
    assert timed.run.lines[0].startswith(f"{CHECKS[check]} OK - test: "), timed.run.stdout
    assert "state not used" not in timed.run.stdout
    assert timed.seconds < 9  # a hang ends at the check's own 10 s timeout
    assert stat.S_ISREG(planted.lstat().st_mode)  # ours again, a regular file
    assert_state_valid(state_dir)


# Device numbers of the local/experimental range that no driver here claims.
DRIVERLESS_DEVICE = os.makedev(240, 77)


def plant_unopenable(path: Path, kind: str) -> None:
    """Put at `path` what open() refuses outright: a listening-free socket, or a
    device without a driver."""
    path.unlink()
    if kind == "socket":
        # A socket's path must fit 108 bytes: bind it by its name in its directory.
        here = os.getcwd()
        os.chdir(path.parent)
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as bound:
                bound.bind(path.name)
        finally:
            os.chdir(here)
    else:
        os.mknod(path, 0o600 | stat.S_IFCHR, DRIVERLESS_DEVICE)


@pytest.mark.parametrize("kind", ["socket", pytest.param("driverless device", marks=needs_root)])
@pytest.mark.parametrize("which", ["state lock", "snapshot lock"])
def test_a_lock_name_that_cannot_be_opened_is_replaced(kind, which, state_dir):
    check = "check_vm_cpu"
    assert run(check, state_dir).run.returncode == 0
    planted = our_name(state_dir, check, which)
    plant_unopenable(planted, kind)
    time.sleep(1.1)
    again = run(check, state_dir, "--snapshot-max-age", "1")
    assert again.run.lines[0].startswith(f"{CHECKS[check]} OK - test: "), again.run.stdout
    assert "state not used" not in again.run.stdout
    assert "host snapshot not used" not in again.run.stdout
    assert stat.S_ISREG(planted.lstat().st_mode)
    assert_state_valid(state_dir)


@pytest.mark.parametrize("kind", SPECIAL_KINDS)
def test_a_fifo_or_device_as_the_state_file_counts_as_absent_and_is_replaced(kind, state_dir):
    check = "check_vm_nic"
    assert run(check, state_dir).run.returncode == 0
    plant_special(state_file(state_dir, check), kind)
    timed = run(check, state_dir)
    assert_measured_with_note(timed, check,
                              "previous state discarded: the state file is not a regular file")
    assert len(assert_state_valid(state_dir)) == 1


# -- pruning removes only the names the checks write ------------------------------------------

A_WEEK_AND_A_DAY = 8 * 86400.0
HASH = "0123456789abcdef" * 2
# Files an operator may keep in a directory given as --state-dir: every near miss
# of the names the checks write.
NOT_OURS = [
    "notes.json", "backup.json.tmp", "x.lock", "a.json", ".json", ".lock",
    f"cpu-{HASH[:31]}.json", f"cpu-{HASH}0.json", f"cpu-{HASH.upper()}.json",
    f"CPU-{HASH}.json", f"cpux-{HASH}.json", f"disk-{HASH}.json", f"-{HASH}.json",
    f"cpu_{HASH}.json", f"cpu-{HASH}.JSON", f"cpu-{HASH}.json~", f"cpu-{HASH}.json.bak",
    f"cpu-{HASH}.json.tmp", f".cpu-{HASH}.json", f".cpu-{HASH}.json.tmp.1",
    f"..cpu-{HASH}.json.tmp", f".cpu-{HASH[:31]}.json.tmp", f"cpu-{HASH}.lock.old",
    f"cpu-{HASH}.locks", f"cpu-{HASH[:31]}.lock", f"cpu-{HASH}x.lock",
    f"hostsnap-{HASH}.json", f"hostsnap-{HASH[:31]}.lock", f"hostsnap-{HASH}.lock.1",
    f"cpu-{HASH}\n.json", f"cpu-{HASH}.json\n",
]
# What the checks write, left by a domain no longer checked: pruned after a week.
OURS = [f"{name}-{HASH}.json" for name in CHECK_NAMES.values()] + [
    f".cpu-{HASH}.json.tmp", f"nic-{HASH}.lock", f"hostsnap-{HASH}.lock"]


@pytest.mark.parametrize("check", ALL)
def test_pruning_removes_only_the_names_the_checks_write(check, state_dir):
    state_dir.mkdir(mode=0o700)
    then = time.time() - A_WEEK_AND_A_DAY
    for name in NOT_OURS + OURS:
        (state_dir / name).write_bytes(b"precious\n")
        os.utime(state_dir / name, (then, then))
    timed = run(check, state_dir)
    assert timed.run.returncode == 0, timed.run.stdout
    left = set(os.listdir(state_dir))
    assert not set(OURS) & left, "a week-old file of ours was not pruned"
    assert set(NOT_OURS) <= left, f"pruned: {sorted(set(NOT_OURS) - left)}"
    assert all((state_dir / name).read_bytes() == b"precious\n" for name in NOT_OURS)


# -- values out of range in a state file ------------------------------------------------------

def rewrite_snapshots(path: Path, change) -> None:
    """Apply `change` to every stored snapshot of the state file at `path`."""
    document = json.loads(path.read_bytes())
    for snapshot in document["snapshots"]:
        change(snapshot)
    path.write_text(json.dumps(document))


def every_counter(value):
    def change(snapshot: dict) -> None:
        for counters in snapshot["counters"].values():
            for name in counters:
                counters[name] = value
    return change


def an_hour_older(snapshot: dict) -> None:
    snapshot["wall_time"] -= 3600
    snapshot["boot_time"] -= 3600


OUT_OF_RANGE = {
    "negative counters": (every_counter(-10**17), "a counter is negative"),
    "counters beyond 64 bits": (every_counter(2**64), "a counter is beyond 64 bits"),
    "fractional counters": (every_counter(0.5), "a counter is not a whole number"),
}
# Rates the test driver's domain cannot reach, whatever the counter.
ABSURD_RATE = 1e12


@pytest.mark.parametrize("check", ALL)
@pytest.mark.parametrize("case", sorted(OUT_OF_RANGE))
def test_a_state_file_with_values_out_of_range_counts_as_absent(check, case, state_dir):
    change, why = OUT_OF_RANGE[case]
    assert run(check, state_dir).run.returncode == 0
    path = state_file(state_dir, check)
    rewrite_snapshots(path, lambda snapshot: (an_hour_older(snapshot), change(snapshot)))
    timed = run(check, state_dir, "--max-age", "7200", "-vv")
    assert_measured_with_note(timed, check, f"previous sample unusable: {why}")
    assert all(item.value < ABSURD_RATE for label, item in timed.run.perfdata.items()
               if label.endswith("_per_second")), timed.run.stdout
    assert "since the previous run" not in timed.run.stdout, timed.run.stdout
    (document,) = assert_state_valid(state_dir)
    assert all(0 <= value < 2**64 and isinstance(value, int)
               for snapshot in document["snapshots"]
               for counters in snapshot["counters"].values() for value in counters.values())


@pytest.mark.parametrize("check", ALL)
def test_a_state_file_from_the_future_is_not_a_baseline_and_is_replaced(check, state_dir):
    # An hour ahead on both clocks, in this boot: no clock step explains it.
    assert run(check, state_dir).run.returncode == 0
    path = state_file(state_dir, check)
    rewrite_snapshots(path, lambda snapshot: snapshot.update(
        wall_time=snapshot["wall_time"] + 3600, boot_time=snapshot["boot_time"] + 3600))
    timed = run(check, state_dir, "-vv")
    assert_measured_with_note(timed, check, "the previous sample is not older than this one")
    assert measured_without_the_baseline(timed.run.stdout,
                                         "the previous sample is not older than this one")
    (document,) = assert_state_valid(state_dir)
    assert all(snapshot["boot_time"] < time.clock_gettime(time.CLOCK_BOOTTIME)
               for snapshot in document["snapshots"])
