"""The perfdata labels every check prints on the test driver are the recorded ones.

tests/data/surface/labels-testdriver.json holds, for every check, every domain of
tests/data/node.xml and of test:///default, and each of two runs on one state
directory (the second has a previous sample), the set of labels the executable
printed. A label that appears, vanishes or is renamed fails here; when that is
meant, record again and name the change in the commit:

    CHECK_VM_SURFACE_RECORD=ROOT .venv/bin/pytest tests/testdriver/test_surface_labels.py

where ROOT is the checkout whose executables are recorded (this one: `.`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

import libvirt
from harness.checkrun import parse_perfdata
from harness.paths import DEFAULT_URI, NODE_URI, REPO
from harness.surface import differences, written

from libcheck.registry import CHECKS

RECORD = REPO / "tests" / "data" / "surface" / "labels-testdriver.json"
RECORD_FROM = "CHECK_VM_SURFACE_RECORD"
URIS = {"node.xml": NODE_URI, "test:///default": DEFAULT_URI}
# Options that add labels: each check also runs once with each of its sets.
VARIANTS = {"check_vm_nic": (("--speed", "1G"),)}
RUNS = 2


class Case(NamedTuple):
    """One executable on one domain with one set of extra options."""

    executable: str
    uri_name: str
    domain: str
    options: tuple[str, ...]

    @property
    def key(self) -> str:
        return " ".join((self.uri_name, repr(self.domain), *self.options))


def domains(uri: str) -> list[str]:
    """The names of every domain the test driver at `uri` defines."""
    connection = libvirt.openReadOnly(uri)
    try:
        return sorted(domain.name() for domain in connection.listAllDomains())
    finally:
        connection.close()


def cases() -> list[Case]:
    """Every executable on every domain, plain and with each of its variants."""
    return [Case(executable, uri_name, domain, options)
            for executable in (entry.executable for entry in CHECKS)
            for uri_name, uri in URIS.items()
            for domain in domains(uri)
            for options in ((), *VARIANTS.get(executable, ()))]


def printed_labels(root: Path, case: Case, state_dir: Path) -> dict[str, list[str]]:
    """The sorted perfdata labels of each run of the case, by run."""
    command = [sys.executable, str(root / "checks" / case.executable),
               "--state-dir", str(state_dir), "--sample-interval", "0.3",
               "--connect", URIS[case.uri_name], "-d", case.domain, *case.options]
    labels = {}
    for run in range(1, RUNS + 1):
        completed = subprocess.run(command, capture_output=True, text=True, timeout=60,
                                   env={**os.environ, "COLUMNS": "100"}, check=False)
        first = (completed.stdout.splitlines() or [""])[0]
        perfdata = parse_perfdata(first.split(" | ", 1)[1]) if " | " in first else {}
        labels[f"run {run}"] = sorted(perfdata)
    return labels


def surface_labels(root: Path, scratch: Path) -> dict[str, dict[str, dict[str, list[str]]]]:
    """executable -> case -> run -> labels, for the executables of the checkout `root`."""
    every = cases()
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = pool.map(lambda numbered: printed_labels(
            root, numbered[1], scratch / f"state-{numbered[0]}"), enumerate(every))
        found: dict[str, dict[str, dict[str, list[str]]]] = {}
        for case, labels in zip(every, results):
            found.setdefault(case.executable, {})[case.key] = labels
    return found


def test_every_check_prints_the_recorded_labels_on_the_test_driver(tmp_path):
    if os.environ.get(RECORD_FROM):
        root = Path(os.environ[RECORD_FROM]).resolve()
        RECORD.write_text(written(surface_labels(root, tmp_path)), encoding="utf-8")
    recorded = json.loads(RECORD.read_text(encoding="utf-8"))
    assert differences(surface_labels(REPO, tmp_path / "now"), recorded) == []


def test_the_record_has_labels_for_every_check():
    recorded = json.loads(RECORD.read_text(encoding="utf-8"))
    assert sorted(recorded) == sorted(entry.executable for entry in CHECKS)
    for executable, by_case in recorded.items():
        assert any(labels for runs in by_case.values() for labels in runs.values()), executable


def test_differences_name_each_label_gained_and_lost():
    recorded = {"check_vm_x": {"case": {"run 1": ["kept", "lost"]}}}
    found = {"check_vm_x": {"case": {"run 1": ["gained", "kept"]}}}
    assert differences(found, recorded) == ["check_vm_x case run 1: +gained -lost"]
    assert differences(recorded, recorded) == []
