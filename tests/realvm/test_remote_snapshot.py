"""Checks of a remote hypervisor over qemu+ssh://: one SSH session per snapshot.

An sshd on 127.0.0.1 inside the tier's network namespace stands for the
hypervisor host; the checks run as root in the same namespace and reach the
tier's libvirtd through it (virt-ssh-helper on the far side). sshd's log
says how many SSH sessions they opened.

With the host snapshot (the default --snapshot-max-age) the checks of a
window share one refresh, so one session; with --snapshot-max-age 0 every
check opens its own. Both are measured in the steady state, every check
with a stored baseline. A run refreshes when the newest snapshot is not
--sample-interval newer than its own baseline; so the priming round runs
in the reverse order of the window, and the window starts only after more
than --sample-interval: its first check is the one whose baseline is the
newest snapshot, and it alone refreshes, for all of them.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from harness.checknames import TITLES
from harness.checkrun import CheckRun
from harness.paths import CHECKS
from harness.skips import unavailable
from harness.vm.host import TierUnavailable
from harness.vm.sshd import Sshd, in_netns

pytestmark = pytest.mark.realvm

SAMPLE_INTERVAL = "0.5"
# Between the priming round and the window: well over --sample-interval.
SETTLE_SECONDS = 2.0
# Long enough for sshd to log a session the checks did not wait for.
LATE_SESSION_GRACE = 1.0
PREFIXES = {executable: f"{title} OK - " for executable, title in TITLES.items()}


@pytest.fixture(scope="module")
def sshd(hypervisor, tmp_path_factory):
    """The tier's sshd, started for this module and stopped by PID after it."""
    server = Sshd(hypervisor.netns, tmp_path_factory.mktemp("sshd"))
    try:
        try:
            server.start()
        except TierUnavailable as exc:
            unavailable(f"no sshd for the qemu+ssh tests: {exc}")
        yield server
    finally:
        server.stop()


@pytest.fixture
def window(guest, balloonless_guest):
    """The checks of one window, (check, domain): every check of the guest,
    and the CPU check of a second guest (the snapshot holds every domain).
    Each pair once: a second run of the same pair would refresh, as its
    baseline would come from the window's own snapshot."""
    return [(check, guest.name) for check in PREFIXES] + [("check_vm_cpu", balloonless_guest)]


def run_remote(sshd: Sshd, check: str, domain: str, state_dir, *args: str) -> CheckRun:
    """Run `check` as root inside the namespace against the qemu+ssh:// URI."""
    command = [*in_netns(sshd.netns), sys.executable, str(CHECKS / check),
               "--connect", sshd.ssh_uri(), "-d", domain, "--state-dir", str(state_dir),
               "--sample-interval", SAMPLE_INTERVAL, *args]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60,
                               env={**os.environ, "COLUMNS": "100"}, check=False)
    return CheckRun(completed.returncode, completed.stdout, completed.stderr)


def assert_ok(check: str, run: CheckRun) -> None:
    assert run.returncode == 0, f"{check}: {run.stdout}{run.stderr}"
    assert run.stdout.startswith(PREFIXES[check]), run.stdout
    assert run.perfdata, f"{check} printed no perfdata: {run.stdout}"


def sessions_per_check(sshd: Sshd, window, state_dir, *args: str) -> list[int]:
    """Run the window's checks one after the other (each must be OK with
    perfdata, measured against its stored baseline); the SSH sessions each
    opened, read from sshd's log."""
    opened = []
    for check, domain in window:
        before = sshd.sessions()
        run = run_remote(sshd, check, domain, state_dir, *args, "-vv")
        assert_ok(check, run)
        assert "since the previous run" in run.stdout, run.stdout
        opened.append(sshd.sessions() - before)
    return opened


def prime(sshd: Sshd, window, state_dir, *args: str) -> None:
    """Give every check of the window a stored baseline, in reverse order."""
    for check, domain in reversed(window):
        assert_ok(check, run_remote(sshd, check, domain, state_dir, *args))
    time.sleep(SETTLE_SECONDS)


def measured_window(sshd: Sshd, window, state_dir, *args: str) -> tuple[list[int], int]:
    """Prime, then run the window: sessions per check, and in all (bounded
    wait for the log to show at least the per-check sum, then a grace)."""
    prime(sshd, window, state_dir, *args)
    start = sshd.sessions()
    opened = sessions_per_check(sshd, window, state_dir, *args)
    sshd.wait_for_sessions(start + sum(opened))
    time.sleep(LATE_SESSION_GRACE)
    return opened, sshd.sessions() - start


def test_snapshot_window_opens_one_ssh_session(sshd, window, tmp_path):
    opened, total = measured_window(sshd, window, tmp_path / "state")
    expected = [1] + [0] * (len(window) - 1)
    assert (opened, total) == (expected, 1), sshd.log_tail()


def test_direct_reads_open_one_ssh_session_per_check(sshd, window, tmp_path):
    opened, total = measured_window(sshd, window, tmp_path / "state",
                                    "--snapshot-max-age", "0")
    assert (opened, total) == ([1] * len(window), len(window)), sshd.log_tail()
