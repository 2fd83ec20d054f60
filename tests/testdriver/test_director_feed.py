"""check_vm_director_feed on test-driver hypervisors: the files the Director imports.

Each test runs the executable on node files it writes (test:///PATH), and
reads the two JSON files as the fileshipper module would. Hostile files in its
output directory are the fault tier's (tests/faults/test_hostile_feed.py).
"""

from __future__ import annotations

import fcntl
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from harness.cluster.testnodes import mac_of
from harness.directorfeed import FEED, PAUSED, SHUT_OFF, configured, feed, node, placed, read


@pytest.fixture
def output(tmp_path: Path) -> Path:
    path = tmp_path / "import"
    path.mkdir()
    return path


def test_every_vm_once_with_its_hypervisor_and_the_hypervisors_expected_vms(
        tmp_path: Path, output: Path) -> None:
    a = node(tmp_path / "a.xml", {"web": 1, "db": SHUT_OFF})
    b = node(tmp_path / "b.xml", {"app": 1})
    config = configured(tmp_path, [f"agent-a {a}", f"agent-b {b} qemu:///system  # local"])
    result = feed(config, output)
    assert (result.returncode, result.stderr) == (0, "")
    vms = {row["name"]: row for row in read(output, "vms.json")}
    assert sorted(vms) == ["app", "db", "web"]
    assert vms["web"]["hypervisor"] == "agent-a" and vms["web"]["vm_connect"] == a
    assert vms["db"]["state"] == "shut off"  # a stopped VM keeps its host
    assert vms["app"]["vm_connect"] == "qemu:///system"
    assert vms["app"]["vm_interface_macs"] == [mac_of("app")]
    assert vms["app"]["vm_interfaces"] == {mac_of("app"): {"target": "tap-app"}}
    assert vms["app"]["vm_disks"] == ["vda"]
    hypervisors = {row["name"]: row for row in read(output, "hypervisors.json")}
    assert hypervisors["agent-a"]["vm_expected_domains"] == ["db", "web"]
    assert hypervisors["agent-b"]["vm_hypervisor_connect"] == "qemu:///system"
    assert hypervisors["agent-b"]["vm_hypervisor_endpoint"] == "agent-b"
    for name in ("vms.json", "hypervisors.json"):
        assert stat.S_IMODE((output / name).stat().st_mode) == 0o644
    assert sorted(os.listdir(output)) == ["hypervisors.json", "vms.json"]


def test_a_migrating_vm_is_listed_once_on_the_host_it_runs_on(
        tmp_path: Path, output: Path) -> None:
    a = node(tmp_path / "a.xml", {"mig": 1})
    b_path = tmp_path / "b.xml"
    b = node(b_path, {})
    config = configured(tmp_path, [f"agent-a {a}", f"agent-b {b}"])
    assert feed(config, output).returncode == 0
    assert placed(output) == {"mig": "agent-a"}
    node(b_path, {"mig": PAUSED})  # the incoming side of a live migration
    assert feed(config, output).returncode == 0
    assert placed(output) == {"mig": "agent-a"}
    node(tmp_path / "a.xml", {"mig": SHUT_OFF})  # done; the source keeps a definition
    node(b_path, {"mig": 1})
    assert feed(config, output).returncode == 0
    assert placed(output) == {"mig": "agent-b"}
    expected = {row["name"]: row["vm_expected_domains"]
                for row in read(output, "hypervisors.json")}
    assert expected == {"agent-a": [], "agent-b": ["mig"]}


def test_a_vm_running_on_both_stays_where_it_was_listed(tmp_path: Path, output: Path) -> None:
    b = node(tmp_path / "b.xml", {"twin": 1})
    a = node(tmp_path / "a.xml", {})
    config = configured(tmp_path, [f"agent-a {a}", f"agent-b {b}"])
    assert feed(config, output).returncode == 0
    node(tmp_path / "a.xml", {"twin": 1})
    result = feed(config, output)
    assert result.returncode == 0 and result.stderr == ""
    assert placed(output) == {"twin": "agent-b"}


def test_two_vms_of_one_name_are_listed_once_and_named(tmp_path: Path, output: Path) -> None:
    a = node(tmp_path / "a.xml", {"dup": 1}, {"dup": str(uuid.uuid4())})
    b = node(tmp_path / "b.xml", {"dup": 1}, {"dup": str(uuid.uuid4())})
    result = feed(configured(tmp_path, [f"agent-a {a}", f"agent-b {b}"]), output)
    assert result.returncode == 0
    assert placed(output) == {"dup": "agent-a"}
    assert result.stderr.count("\n") == 1
    assert "two VMs named dup (different UUIDs) on agent-a, agent-b" in result.stderr


def test_an_unreadable_hypervisor_keeps_its_vms_and_says_so(tmp_path: Path,
                                                             output: Path) -> None:
    a_path = tmp_path / "a.xml"
    a = node(a_path, {"kept": 1})
    b = node(tmp_path / "b.xml", {"app": 1})
    config = configured(tmp_path, [f"agent-a {a}", f"agent-b {b}"])
    assert feed(config, output).returncode == 0
    a_path.write_text("<node>broken")
    result = feed(config, output)
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines()
             if line.startswith("check_vm_director_feed: ")]
    assert len(lines) == 1 and f"{config}:2: agent-a: cannot read" in lines[0]
    assert "keeping its 1 VMs from the previous run" in lines[0]
    assert placed(output) == {"kept": "agent-a", "app": "agent-b"}
    expected = {row["name"]: row["vm_expected_domains"]
                for row in read(output, "hypervisors.json")}
    assert expected == {"agent-a": ["kept"], "agent-b": ["app"]}


def test_an_unreadable_host_keeps_a_vm_a_stale_definition_elsewhere_does_not_take(
        tmp_path: Path, output: Path) -> None:
    """Migrated without --undefinesource: A keeps a shut-off definition; then B,
    where the VM runs, cannot be read for a run."""
    a = node(tmp_path / "a.xml", {"mig": SHUT_OFF})
    b_path = tmp_path / "b.xml"
    b = node(b_path, {"mig": 1})
    config = configured(tmp_path, [f"agent-a {a}", f"agent-b {b}"])
    assert feed(config, output).returncode == 0
    assert placed(output) == {"mig": "agent-b"}
    b_path.write_text("<node>broken")
    assert feed(config, output).returncode == 1
    assert placed(output) == {"mig": "agent-b"}
    node(tmp_path / "a.xml", {"mig": 1})  # it was started again on A meanwhile
    assert feed(config, output).returncode == 1
    assert placed(output) == {"mig": "agent-a"}


@pytest.mark.parametrize(("lines", "words"), [
    ([], "no hypervisor configured"),
    (["agent-a"], ":2: expected ENDPOINT URI [CHECK_URI], found 1 words"),
    (["agent-a test:///default x y"], ":2: expected ENDPOINT URI [CHECK_URI], found 4 words"),
    (["agent-a test:///default", "agent-a test:///default"], ":3: hypervisor agent-a is "
                                                              "listed twice"),
    (["agent!a test:///default"], ":2: 'agent!a' is no Icinga endpoint name"),
])
def test_a_bad_configuration_writes_nothing_and_says_where(tmp_path: Path, output: Path,
                                                           lines: list[str], words: str) -> None:
    result = feed(configured(tmp_path, lines), output)
    assert result.returncode == 3 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and words in result.stderr
    assert os.listdir(output) == []


@pytest.mark.parametrize("problem", ["missing config", "missing output", "bad option"])
def test_what_cannot_run_is_one_line_and_exit_3(tmp_path: Path, problem: str) -> None:
    config = configured(tmp_path, ["agent-a test:///default"])
    args = {"missing config": ["--config", str(tmp_path / "nope"),
                               "--output-dir", str(tmp_path)],
            "missing output": ["--config", str(config), "--output-dir", str(tmp_path / "no")],
            "bad option": ["--bogus"]}[problem]
    result = subprocess.run([sys.executable, str(FEED), *args], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 3
    assert result.stderr.count("\n") == 1
    assert result.stderr.startswith("check_vm_director_feed: ")
    assert "Traceback" not in result.stderr


def test_a_second_run_while_one_writes_writes_nothing(tmp_path: Path, output: Path) -> None:
    config = configured(tmp_path, ["agent-a test:///default"])
    fd = os.open(output, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        result = feed(config, output)
    finally:
        os.close(fd)
    assert result.returncode == 1 and "another run is writing" in result.stderr
    assert os.listdir(output) == []
