"""Every check of one guest, started at the same moment, as a scheduler does it.

Each check asks libvirt for its numbers without waiting for the domain's job;
QEMU gives the disk counters and the balloon's statistics only inside a job,
so while a concurrent check holds it the answer lacks them. Each run must
then wait for the job and still report the running guest in full: never
"no disk has I/O statistics" or a missing balloon.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from harness.checknames import TITLES
from harness.checkrun import CheckRun
from harness.paths import CHECKS

pytestmark = pytest.mark.realvm

PREFIXES = {executable: f"{title} OK - " for executable, title in TITLES.items()}
COPIES = 2  # of each check per round, each with its own state directory
ROUNDS = 8


def start_round(uri: str, domain: str, state_root) -> list[tuple[str, subprocess.Popen]]:
    """Start every check COPIES times at once; (check, process) pairs."""
    started = []
    for copy in range(COPIES):
        for check in PREFIXES:
            state = state_root / f"{check}-{copy}"
            state.mkdir(mode=0o700, exist_ok=True)
            command = [sys.executable, str(CHECKS / check), "--connect", uri, "-d", domain,
                       "--state-dir", str(state)]
            started.append((check, subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)))
    return started


def finished(started) -> list[tuple[str, CheckRun]]:
    runs = []
    for check, process in started:
        stdout, stderr = process.communicate(timeout=60)
        runs.append((check, CheckRun(process.returncode, stdout, stderr)))
    return runs


def test_checks_started_together_all_report_the_running_guest(hypervisor, guest, tmp_path):
    failures = []
    for _round in range(ROUNDS):
        for check, run in finished(start_round(hypervisor.uri, guest.name, tmp_path)):
            if run.returncode != 0 or not run.stdout.startswith(PREFIXES[check]):
                failures.append(f"{check}: exit {run.returncode}: {run.stdout}{run.stderr}")
    assert not failures, "\n".join(failures)
