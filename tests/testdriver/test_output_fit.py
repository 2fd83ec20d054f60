"""A big domain through the real executables: the whole output fits Nagios' 8 KiB.

The test driver's domain has 96 vCPUs, 40 disks and 24 interfaces with tap
names as long as Linux allows. Each check's output must fit 8192 bytes at
every verbosity, its perfdata the budget, with every item whole and a note
on what was left out; and its status line must be the one the same domain
gets when nothing has to be left out (the same executable with the bounds
lifted), but for the numbers, which move with the test driver's clock.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from harness.checknames import EXECUTABLES
from harness.checkrun import CheckRun, parse_perfdata, run_check
from harness.paths import CHECKS, REPO
from harness.testnode import devices_node_xml, scsi_disk_names

OUTPUT_LIMIT = 8192
PERFDATA_BUDGET = 7 * 1024
VCPUS, DISKS, NICS = 96, 40, 24
# Lifts both bounds, then runs the executable named by argv[1] as it would run.
UNBOUNDED = ("import runpy, sys; sys.path.insert(0, sys.argv[1]); "
             "import libcheck.evaluation as e, libcheck.runtime as r; "
             "e.PERFDATA_BUDGET = r.OUTPUT_LIMIT = 10 ** 9; "
             "sys.argv = sys.argv[2:]; runpy.run_path(sys.argv[0], run_name='__main__')")
CHECK_NAMES = EXECUTABLES


@pytest.fixture(scope="module")
def uri(tmp_path_factory) -> str:
    nics = [f"tap{index:04d}-5e6f7a8" for index in range(NICS)]
    path = tmp_path_factory.mktemp("node") / "big.xml"
    path.write_text(devices_node_xml("big", "6a1b3a0e-5b2c-4c2e-9d51-3f6c2b7d8e02", VCPUS,
                                     scsi_disk_names(DISKS), nics, bus="scsi"))
    return f"test://{path}"


def arguments(check_name: str, uri: str) -> list[str]:
    extra = ["--balloon-max-age", "0"] if check_name == "check_vm_mem" else []
    return ["--connect", uri, "-d", "big", "--sample-interval", "0.1", *extra]


def unbounded(check_name: str, uri: str, state_dir: Path) -> CheckRun:
    """The same executable on the same domain with nothing ever left out."""
    command = [sys.executable, "-c", UNBOUNDED, str(REPO), str(CHECKS / check_name),
               "--state-dir", str(state_dir), *arguments(check_name, uri)]
    completed = subprocess.run(command, capture_output=True, text=True, timeout=60,
                               env={**os.environ, "COLUMNS": "100"}, check=False)
    return CheckRun(completed.returncode, completed.stdout, completed.stderr)


def shape(status: str) -> str:
    """A status line without what moves with the clock: numbers, the busiest device."""
    return re.sub(r"\d+(\.\d+)?", "N", re.sub(r"\(busiest [^)]*\)", "(busiest X)", status))


@pytest.mark.parametrize("check_name", CHECK_NAMES)
def test_a_big_domain_fits_and_keeps_its_status_line(tmp_path, uri, check_name):
    whole = unbounded(check_name, uri, tmp_path / "whole")
    assert whole.returncode in (0, 3), whole.stdout[:300] + whole.stderr
    for verbosity in ((), ("-v",), ("-vv",), ("-vvv",)):
        run = run_check(check_name, *arguments(check_name, uri), *verbosity,
                        state_dir=tmp_path / "bounded")
        assert len(run.stdout.encode()) <= OUTPUT_LIMIT, len(run.stdout.encode())
        assert (run.returncode, shape(run.status)) == (whole.returncode, shape(whole.status))
        perfdata = run.lines[0].split(" | ", 1)[1] if " | " in run.lines[0] else ""
        assert len(perfdata.encode()) + 1 <= PERFDATA_BUDGET
        assert len(parse_perfdata(perfdata)) == len(perfdata.split())  # every item whole
        if len(whole.lines[0].encode()) > PERFDATA_BUDGET:
            assert any(line.startswith("left out of the perfdata") for line in run.lines[1:])
            assert set(run.perfdata) < set(whole.perfdata)


@pytest.mark.parametrize("check_name", ["check_vm_disk_io", "check_vm_nic"])
def test_without_the_bounds_the_big_domain_would_pass_nagios_limit(tmp_path, uri, check_name):
    # The test driver reports no vCPU wait or steal: 96 vCPUs fit on it.
    assert len(unbounded(check_name, uri, tmp_path / "state").lines[0].encode()) > OUTPUT_LIMIT
