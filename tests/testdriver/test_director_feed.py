"""check_vm_director_feed on test-driver hypervisors: the files the Director imports.

Each test runs the executable on node files it writes (test:///PATH), and
reads the two JSON files as the fileshipper module would.
"""

from __future__ import annotations

import fcntl
import json
import os
import stat
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from harness.cluster.testnodes import mac_of
from harness.paths import REPO
from harness.testnode import domain_xml, node_xml

FEED = REPO / "checks" / "check_vm_director_feed"
PAUSED, SHUT_OFF = 3, 5


def node(path: Path, domains: dict[str, int], uuids: dict[str, str] | None = None) -> str:
    """A node file of `domains` (name -> libvirt state), its URI."""
    xml = []
    for name, state in domains.items():
        identity = (uuids or {}).get(name) or str(uuid.uuid5(uuid.NAMESPACE_DNS, name))
        text = domain_xml(name, identity, mac_of(name), f"tap-{name}")
        if state != 1:
            text = text.replace("</devices>\n",
                                f"</devices>\n    <test:runstate>{state}</test:runstate>\n")
        xml.append(text)
    path.write_text(node_xml(xml))
    return f"test://{path}"


def feed(config: Path, output: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(FEED), "--config", str(config),
                           "--output-dir", str(output)],
                          capture_output=True, text=True, timeout=60, check=False)


def read(output: Path, name: str) -> list[dict]:
    return json.loads((output / name).read_text())


def placed(output: Path) -> dict[str, str]:
    """VM host name -> the hypervisor it is listed on."""
    return {row["name"]: row["hypervisor"] for row in read(output, "vms.json")}


@pytest.fixture
def output(tmp_path: Path) -> Path:
    path = tmp_path / "import"
    path.mkdir()
    return path


def configured(tmp_path: Path, lines: list[str]) -> Path:
    path = tmp_path / "feed.conf"
    path.write_text("# hypervisors\n" + "\n".join(lines) + "\n")
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
    assert len(lines) == 1 and "agent-a: cannot read" in lines[0]
    assert "keeping its 1 VMs from the previous run" in lines[0]
    assert placed(output) == {"kept": "agent-a", "app": "agent-b"}
    expected = {row["name"]: row["vm_expected_domains"]
                for row in read(output, "hypervisors.json")}
    assert expected == {"agent-a": ["kept"], "agent-b": ["app"]}


@pytest.mark.parametrize("hostile", ["garbage", "symlink", "fifo", "not rows"])
def test_a_hostile_previous_file_is_ignored_never_followed(tmp_path: Path, output: Path,
                                                            hostile: str) -> None:
    a = node(tmp_path / "a.xml", {"web": 1})
    target = tmp_path / "secret"
    target.write_text('[{"name": "planted", "hypervisor": "agent-a"}]')
    previous = output / "vms.json"
    if hostile == "garbage":
        previous.write_bytes(b"\xff{[")
    elif hostile == "symlink":
        previous.symlink_to(target)
    elif hostile == "fifo":
        os.mkfifo(previous)
    else:
        previous.write_text('{"name": "x"}')
    result = feed(configured(tmp_path, [f"agent-a {a}"]), output)
    assert result.returncode == 0
    assert "ignoring the previous" in result.stderr and result.stderr.count("\n") == 1
    assert placed(output) == {"web": "agent-a"}
    assert stat.S_ISREG(previous.lstat().st_mode)
    assert "planted" in target.read_text()


@pytest.mark.parametrize(("lines", "words"), [
    ([], "no hypervisor configured"),
    (["agent-a"], ":2: expected ENDPOINT URI [CHECK_URI], found 1 words"),
    (["agent-a test:///default x y"], ":2: expected ENDPOINT URI [CHECK_URI], found 4 words"),
    (["agent-a test:///default", "agent-a test:///default"], ":3: hypervisor agent-a is "
                                                              "listed twice"),
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
