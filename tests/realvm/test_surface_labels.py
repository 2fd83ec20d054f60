"""The perfdata labels every check prints on a real guest are the recorded ones.

tests/data/surface/labels-realvm.json holds, for every check, each domain of the
tier (the running guest with disks vda and vdb, a NIC and a balloon; a running
guest without balloon or disks; a shut-off domain) and each of two runs on one
state directory (the second has a previous sample), the set of labels the
executable printed. The domains' names differ per run of the tier, so the
record names them by their fixture. A label that appears, vanishes or is
renamed fails here; when that is meant, record again and name the change in
the commit:

    CHECK_VM_SURFACE_RECORD=ROOT flock /tmp/checkvm-heavy.lock \\
        .venv/bin/pytest tests/realvm/test_surface_labels.py

where ROOT is the checkout whose executables are recorded (this one: `.`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from harness.checkrun import parse_perfdata
from harness.paths import REPO
from harness.surface import differences, written

from libcheck.registry import CHECKS

pytestmark = pytest.mark.realvm

RECORD = REPO / "tests" / "data" / "surface" / "labels-realvm.json"
RECORD_FROM = "CHECK_VM_SURFACE_RECORD"
# Options that add labels: each check also runs once with each of its sets.
VARIANTS = {"check_vm_nic": (("--speed", "1G"),)}
# The guest's balloon updates its numbers every 2 s: samples 3 s apart always see
# an update, so the memory check's rates (swap, faults) are there in every run.
SETTLED = {"check_vm_mem": ("--sample-interval", "3")}
RUNS = 2


def printed_labels(root: Path, executable: str, uri: str, domain: str,
                   options: tuple[str, ...], state_dir: Path) -> dict[str, list[str]]:
    """The sorted perfdata labels of each run, by run."""
    command = [sys.executable, str(root / "checks" / executable), "--state-dir", str(state_dir),
               "--connect", uri, "-d", domain, *SETTLED.get(executable, ()), *options]
    labels = {}
    for run in range(1, RUNS + 1):
        completed = subprocess.run(command, capture_output=True, text=True, timeout=60,
                                   env={**os.environ, "COLUMNS": "100"}, check=False)
        first = (completed.stdout.splitlines() or [""])[0]
        perfdata = parse_perfdata(first.split(" | ", 1)[1]) if " | " in first else {}
        labels[f"run {run}"] = sorted(perfdata)
    return labels


def surface_labels(root: Path, uri: str, domains: dict[str, str],
                   scratch: Path) -> dict[str, dict[str, dict[str, list[str]]]]:
    """executable -> fixture name and options -> run -> labels, on every domain given
    (fixture name -> domain name), for the executables of the checkout `root`."""
    found: dict[str, dict[str, dict[str, list[str]]]] = {}
    for entry in CHECKS:
        for fixture, domain in domains.items():
            for options in ((), *VARIANTS.get(entry.executable, ())):
                key = " ".join((fixture, *options))
                state_dir = scratch / entry.executable / key.replace(" ", "_")
                found.setdefault(entry.executable, {})[key] = printed_labels(
                    root, entry.executable, uri, domain, options, state_dir)
    return found


@pytest.fixture
def tier_domains(guest, balloonless_guest, shutoff_domain) -> dict[str, str]:
    """The tier's domains by their fixture's name."""
    return {"guest": guest.name, "balloonless_guest": balloonless_guest,
            "shutoff_domain": shutoff_domain}


def test_every_check_prints_the_recorded_labels_on_a_real_guest(hypervisor, tier_domains,
                                                                tmp_path):
    if os.environ.get(RECORD_FROM):
        root = Path(os.environ[RECORD_FROM]).resolve()
        RECORD.write_text(written(surface_labels(root, hypervisor.uri, tier_domains,
                                                 tmp_path / "record")), encoding="utf-8")
    recorded = json.loads(RECORD.read_text(encoding="utf-8"))
    found = surface_labels(REPO, hypervisor.uri, tier_domains, tmp_path / "now")
    assert differences(found, recorded) == []


def test_the_record_has_labels_for_every_check():
    recorded = json.loads(RECORD.read_text(encoding="utf-8"))
    assert sorted(recorded) == sorted(entry.executable for entry in CHECKS)
    for executable, by_domain in recorded.items():
        assert any(by_domain["guest"].values()), executable
