"""Concurrent and repeated runs: valid states, valid files, bounded state."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness.faultkit import CHECKS, assert_state_valid
from harness.paths import CHECKS as CHECKS_DIR

URI = "test:///default"
ALL = sorted(CHECKS)
DISK_NAMES = {"vda"}
NIC_NAMES = {"testnet0"}


def command(check: str, state_dir: Path) -> list[str]:
    extra = ["--balloon-max-age", "0"] if check == "check_vm_mem" else []
    return [sys.executable, str(CHECKS_DIR / check), "--connect", URI, "-d", "test",
            "--state-dir", str(state_dir), "--sample-interval", "0.3", *extra]


def run_at_once(commands: list[list[str]]) -> list[tuple[int, str, str]]:
    processes = [subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, env={**os.environ}) for c in commands]
    return [(p.wait(timeout=60), *p.communicate()) for p in processes]


def assert_valid_result(check: str, code: int, stdout: str, stderr: str) -> None:
    assert code == 0, stdout + stderr
    assert stdout.startswith(f"{CHECKS[check]} OK - test: "), stdout
    assert stdout.count("\n") == 1 and " | " in stdout, stdout
    assert stderr == ""


@pytest.mark.parametrize("check", ALL)
def test_twenty_runs_of_one_check_at_once(check, state_dir):
    started = time.monotonic()
    results = run_at_once([[*command(check, state_dir), "-vv"]] * 20)
    for code, stdout, stderr in results:
        first_line = stdout.splitlines()[0] + "\n"
        assert_valid_result(check, code, first_line, stderr)
    assert time.monotonic() - started < 30
    # The lock makes them take turns: one samples twice, the others measure
    # against what it saved instead of each pausing on its own.
    against_state = sum("since the previous run" in stdout for _, stdout, _ in results)
    assert against_state >= 15, against_state
    assert len(assert_state_valid(state_dir)) == 1
    assert not list(state_dir.glob(".*.tmp"))


def test_twenty_runs_of_different_checks_at_once(state_dir):
    commands = [command(check, state_dir) for check in ALL for _ in range(5)]
    results = run_at_once(commands)
    for check_command, result in zip(commands, results):
        assert_valid_result(Path(check_command[1]).name, *result)
    assert len(assert_state_valid(state_dir)) == len(ALL)


def test_two_hundred_runs_keep_the_state_bounded(state_dir):
    sizes = []
    for round_number in range(50):
        for check in ALL:
            completed = subprocess.run(command(check, state_dir), capture_output=True,
                                       text=True, timeout=60, check=False)
            assert_valid_result(check, completed.returncode, completed.stdout,
                                completed.stderr)
        if round_number in (10, 49):
            sizes.append(sum(path.stat().st_size for path in state_dir.glob("*.json")))
    files = sorted(path.name for path in state_dir.iterdir())
    assert len([name for name in files if name.endswith(".json")]) == len(ALL)
    assert len([name for name in files if name.endswith(".lock")]) == len(ALL) + 1  # + snapshot
    assert not [name for name in files if name.endswith(".tmp")]
    assert sizes[1] <= sizes[0] * 1.5  # bounded history, not growth per run
    groups = set()
    for document in assert_state_valid(state_dir):
        for snapshot in document["snapshots"]:
            groups |= set(snapshot["counters"])
    vcpus = {"vcpu0", "vcpu1"}
    assert groups <= {""} | vcpus | DISK_NAMES | NIC_NAMES


def test_files_of_long_gone_domains_are_pruned(state_dir):
    state_dir.mkdir(mode=0o700)
    old = state_dir / "cpu-0123456789abcdef0123456789abcdef.json"
    old.write_text(json.dumps({"format": "check_vm-state/1", "snapshots": []}))
    old.with_suffix(".lock").touch()
    eight_days_ago = time.time() - 8 * 86400
    os.utime(old, (eight_days_ago, eight_days_ago))
    completed = subprocess.run(command("check_vm_cpu", state_dir), capture_output=True,
                               text=True, timeout=60, check=False)
    assert completed.returncode == 0
    assert not old.exists()
    assert old.with_suffix(".lock").exists()  # a run may hold it: never removed
    assert len(assert_state_valid(state_dir)) == 1
