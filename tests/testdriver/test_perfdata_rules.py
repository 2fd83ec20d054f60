"""The perfdata rules graphs depend on, through the real executables.

Labels must survive Graphite and Icinga Web's graphite module unchanged,
must not change when a VM gains or loses a device, and a VM with many
devices must stay within Nagios' 8 KiB of plugin output without a value
ever being cut.  Each test writes a test-driver node of its own.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from harness.checknames import EXECUTABLES
from harness.checkrun import run_check
from harness.testnode import devices_node_xml

NAGIOS_OUTPUT_LIMIT = 8192
# What Icinga 2's GraphiteWriter or Icinga Web's graphite module take apart.
MANGLED = re.compile(r"[\s/\\.()\[\]$#]|::")
CHECKS = EXECUTABLES


def disk_names(count: int) -> list[str]:
    return [f"vd{chr(ord('a') + index)}" for index in range(count)]


def node(tmp_path: Path, disks: list[str], nics: list[str], vcpus: int = 2,
         name: str = "node.xml") -> str:
    """Write a node whose one domain `vm` has these disks and interfaces."""
    path = tmp_path / name
    path.write_text(devices_node_xml("vm", "6a1b3a0e-5b2c-4c2e-9d51-3f6c2b7d8e01", vcpus,
                                     disks, nics))
    return f"test://{path}"


def check(tmp_path: Path, check_name: str, uri: str, *args: str):
    """One run of `check_name` on the node's domain `vm`."""
    extra = ("--balloon-max-age", "0") if check_name == "check_vm_mem" else ()
    return run_check(check_name, "--connect", uri, "-d", "vm", "--sample-interval", "0.1",
                     *extra, *args, state_dir=tmp_path / "state")


def test_device_names_graphite_would_take_apart_are_mapped_one_to_one(tmp_path):
    nics = ["eth0.100", "eth0_2e100", "br(x)", "a::b", "tap1a2b-5e", "total"]
    uri = node(tmp_path, ["vda"], nics)
    run = check(tmp_path, "check_vm_nic", uri)
    assert run.returncode == 0, run.stdout
    labels = set(run.perfdata)
    prefixes = {label[:-len("_rx_bits_per_second")] for label in labels
                if label.endswith("_rx_bits_per_second") and not label.startswith("total_")}
    assert prefixes == {"eth0_2e100", "eth0__2e100", "br_28x_29", "a_3a_3ab", "tap1a2b-5e",
                        "_74otal"}
    assert not [label for label in labels if MANGLED.search(label)]


def test_a_threshold_names_a_device_by_its_label(tmp_path):
    uri = node(tmp_path, ["vda"], ["eth0.100"])
    run = check(tmp_path, "check_vm_nic", uri, "-w", "eth0_2e100_rx_bits_per_second=1")
    assert run.returncode == 1, run.stdout
    assert run.perfdata["eth0_2e100_rx_bits_per_second"].warn == "1"
    refused = check(tmp_path, "check_vm_nic", uri, "-w", "eth0.100_rx_bits_per_second=1")
    assert refused.returncode == 3, refused.stdout


@pytest.mark.parametrize("check_name", ["check_vm_disk_io", "check_vm_nic"])
def test_a_device_more_changes_no_other_label(tmp_path, check_name):
    before = node(tmp_path, ["vda", "vdb"], ["eth0", "eth1"], name="before.xml")
    after = node(tmp_path, ["vda", "vdb", "vdc"], ["eth0", "eth1", "eth2"],
                 name="after.xml")
    labels_before = set(check(tmp_path, check_name, before).perfdata)
    labels_after = set(check(tmp_path, check_name, after).perfdata)
    assert labels_before < labels_after
    assert all(label.startswith(("vdc_", "eth2_")) for label in labels_after - labels_before)


@pytest.mark.parametrize("nic_prefix", ["eth", "tap1a2b3c4d-"])
@pytest.mark.parametrize("check_name", CHECKS)
def test_sixteen_disks_and_interfaces_fit_nagios_output(tmp_path, check_name, nic_prefix):
    uri = node(tmp_path, disk_names(16), [f"{nic_prefix}{index}" for index in range(16)],
               vcpus=16)
    run = check(tmp_path, check_name, uri)
    assert run.returncode in (0, 3), run.stdout  # the test driver's balloon is static
    assert len(run.stdout.encode()) < NAGIOS_OUTPUT_LIMIT
    first = run.lines[0]
    if " | " in first:
        items = first.split(" | ", 1)[1].split(" ")
        assert len(run.perfdata) == len(items)  # every item whole: parsed strictly


def test_trimmed_perfdata_is_said_and_keeps_labels_with_a_threshold(tmp_path):
    uri = node(tmp_path, disk_names(4), [f"tap1a2b3c4d-{index}" for index in range(16)])
    run = check(tmp_path, "check_vm_nic", uri, "-w", "tap1a2b3c4d-3_rx_bytes=1:")
    assert run.returncode == 0, run.stdout
    assert "tap1a2b3c4d-3_rx_bytes" in run.perfdata
    assert "tap1a2b3c4d-4_rx_bytes" not in run.perfdata
    assert "tap1a2b3c4d-4_rx_bits_per_second" in run.perfdata
    note = next(line for line in run.lines[1:] if line.startswith("left out of the perfdata"))
    assert "<nic>_rx_bytes" in note
