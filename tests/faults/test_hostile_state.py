"""Hostile or broken state: discarded or refused, never followed, never fatal.

The check always still reports a measured result (within the run when the
state cannot be used) and says in its long output what was wrong.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from harness.asuser import nobody_command
from harness.checkrun import CheckRun
from harness.faultkit import CHECKS, assert_state_valid, needs_root, timed_check

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
