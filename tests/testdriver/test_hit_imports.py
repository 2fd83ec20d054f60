"""What a snapshot hit imports beyond the floor of a Python plugin.

A hit is the run of nearly every check every minute: its cost is the
interpreter, nagiosplugin, argparse and json (the floor) plus whatever the
library adds.  Every module a hit imports that the floor does not must be in
ALLOWED, so that a new import on the hit's path fails here instead of costing
every run unseen; and every module in ALLOWED must still be imported by some
hit, so that the list cannot grow stale.  Under `python -X importtime`, with
the real executables on libvirt's test driver; each hit is verified as one:
the snapshot's generation is unchanged.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness.paths import CHECKS as CHECKS_DIR
from harness.snapshotkit import generation, snapshot_dir

from libcheck.registry import CHECKS, HOST_CHECKS

URI = "test:///default"
DOMAIN = "test"
FLOOR = "import nagiosplugin, argparse, json"
SAMPLE_INTERVAL = "0.05"
# Longer than a first run's two generations lie apart: the refresher samples twice.
REFRESHER_INTERVAL = "0.5"

# The library's own modules that serve a hit, and the few of the standard
# library that it needs and the floor does not load.
ALLOWED = frozenset({
    "libcheck", "libcheck.checkbase", "libcheck.cli", "libcheck.clocks", "libcheck.commands",
    "libcheck.cpu", "libcheck.devices", "libcheck.digests", "libcheck.discovery",
    "libcheck.disk", "libcheck.domainref", "libcheck.errors", "libcheck.evaluation",
    "libcheck.host", "libcheck.hostcheckbase", "libcheck.hostruntime",
    "libcheck.hostsnapshot", "libcheck.measure", "libcheck.mem", "libcheck.metrics",
    "libcheck.nic", "libcheck.perdevice", "libcheck.perfdata", "libcheck.policy",
    "libcheck.privatefiles", "libcheck.rates", "libcheck.records", "libcheck.registry",
    "libcheck.runtime", "libcheck.samplecodec", "libcheck.sampler", "libcheck.samples",
    "libcheck.state", "libcheck.thresholds", "libcheck.units",
    # argparse's first translated message loads locale; SHA-256 names the files;
    # the state directory's owner is looked up by uid; the launcher holds off
    # garbage collection while the modules load (all built into the interpreter
    # but locale).
    "locale", "_locale", "_sha256", "_sha2", "pwd", "gc",
})

# A check whose refresh makes the snapshot that another check's hit then reads.
REFRESHER = {"check_vm_cpu": "check_vm_mem"}


def imported_modules(argv: list[str]) -> tuple[int, set[str]]:
    """The exit status of `argv` run under -X importtime, and every module it imported."""
    done = subprocess.run([sys.executable, "-X", "importtime", *argv], capture_output=True,
                          text=True, timeout=60, check=False)
    names = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
             if line.startswith("import time:")}
    return done.returncode, names - {"imported package"}


@pytest.fixture(scope="module")
def floor() -> set[str]:
    status, names = imported_modules(["-c", FLOOR])
    assert status == 0
    return names


def vm_command(executable: str, state_dir: Path, interval: str = SAMPLE_INTERVAL) -> list[str]:
    mem = ["--balloon-max-age", "0"] if executable == "check_vm_mem" else []
    return [str(CHECKS_DIR / executable), "--connect", URI, "-d", DOMAIN,
            "--state-dir", str(state_dir), "--sample-interval", interval, *mem]


def host_command(executable: str, state_dir: Path) -> list[str]:
    return [str(CHECKS_DIR / executable), "--connect", URI, "--state-dir", str(state_dir)]


def run(argv: list[str]) -> None:
    subprocess.run([sys.executable, *argv], capture_output=True, timeout=60, check=False)


def hit_modules(executable: str, state_dir: Path) -> set[str]:
    """The modules of one verified hit of `executable`."""
    own = (host_command if executable in HOST_EXECUTABLES else vm_command)(executable, state_dir)
    refresher = vm_command(REFRESHER.get(executable, "check_vm_cpu"), state_dir,
                           REFRESHER_INTERVAL)
    if executable in VM_EXECUTABLES:
        run(own)  # its baseline, older than the refresh below
        time.sleep(2 * float(SAMPLE_INTERVAL))
    run(refresher)
    top = snapshot_dir(state_dir, URI)
    before = generation(top)
    status, names = imported_modules(own)
    assert status != 3, f"{executable} ended UNKNOWN"
    assert generation(top) == before, f"{executable}'s timed run refreshed: no hit"
    return names


VM_EXECUTABLES = tuple(entry.executable for entry in CHECKS)
# check_vm_pool reads the pools on every run: it has no hit.
HOST_EXECUTABLES = tuple(entry.executable for entry in HOST_CHECKS if entry.name == "host")


@pytest.fixture(scope="module")
def hits(tmp_path_factory: pytest.TempPathFactory) -> dict[str, set[str]]:
    return {executable: hit_modules(executable, tmp_path_factory.mktemp(executable))
            for executable in (*VM_EXECUTABLES, *HOST_EXECUTABLES)}


@pytest.mark.parametrize("executable", (*VM_EXECUTABLES, *HOST_EXECUTABLES))
def test_a_hit_imports_nothing_beyond_the_allowlist(executable, hits, floor):
    beyond = hits[executable] - floor - ALLOWED
    assert not beyond, f"{executable}'s hit imports {sorted(beyond)}: cut them, or allow them"


def test_every_allowed_module_serves_some_hit(hits, floor):
    used = set().union(*hits.values()) - floor
    # The interpreter names SHA-256's built-in module after its version.
    unused = ALLOWED - used - {"_sha256", "_sha2"}
    assert not unused, f"allowed but imported by no hit: {sorted(unused)}"


def test_a_hit_loads_neither_libvirt_nor_lxml(hits):
    for executable, names in hits.items():
        heavy = {name for name in names if name.split(".")[0] in ("libvirt", "lxml")}
        assert not heavy, f"{executable}'s hit imports {sorted(heavy)}"
