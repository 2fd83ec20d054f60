"""check_vm_inventory against libvirt's test driver: the custom node and test:///default.

Run as `python -m libcheck.inventory`, the way an operator runs it, and
in-process with a connection handed to the inspector.
"""

from __future__ import annotations

import json
import subprocess
import sys

import libvirt
import pytest
from harness.paths import DEFAULT_URI, NODE_URI

from libcheck.inventory import Inspector, Interface, Inventory


def inventory(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "libcheck.inventory", *args],
                          capture_output=True, text=True, timeout=60, check=False)


def records(*args: str) -> dict[str, dict]:
    result = inventory("--format", "json", *args)
    assert result.returncode == 0, result.stderr
    return {record["vm_name"]: record for record in json.loads(result.stdout)}


def test_active_domains_by_default_and_all_with_all():
    assert sorted(records("--connect", NODE_URI)) == ["db 01 'quoted'", "paused01", "web01"]
    everything = records("--connect", NODE_URI, "--all")
    assert sorted(everything) == ["db 01 'quoted'", "paused01", "stopped01", "web01"]
    assert everything["stopped01"]["state"] == "shut off"
    assert everything["paused01"]["state"] == "paused"


def test_disks_leave_out_the_empty_cdrom_and_nics_are_keyed_by_mac():
    web = records("--connect", NODE_URI, "--hypervisor", "hv1")["web01"]
    assert web["vm_disks"] == ["vda", "vdb"]
    # The test driver renames vnet* targets: the MAC is what stays.
    assert web["vm_interfaces"] == {"52:54:00:00:00:01": {"target": "testnet0"},
                                    "52:54:00:00:00:02": {"target": "backend0"}}
    assert (web["hypervisor"], web["vm_connect"]) == ("hv1", NODE_URI)
    assert web["vm_uuid"] == "4dea22b3-1d52-d8f3-2516-782e98ab3fa0"


def test_a_shut_off_domain_lists_the_interfaces_it_gets_a_device_for_keyed_by_mac():
    stopped = records("--connect", NODE_URI, "--all")["stopped01"]
    # The test driver names even a shut-off domain's taps (testnet0), where
    # QEMU's has no name until it starts; the user-mode NIC never has a device.
    assert stopped["vm_interfaces"] == {"52:54:00:00:05:01": {"target": "testnet0"},
                                        "52:54:00:00:05:02": {"target": "tapstop0"}}
    result = inventory("--connect", NODE_URI, "--all", "--hypervisor", "hv1")
    assert '\t\t"52:54:00:00:05:02" = { target = "tapstop0" }' in result.stdout


def test_the_hypervisor_defaults_to_the_host_name_libvirt_reports():
    (record,) = records("--connect", DEFAULT_URI).values()
    connection = libvirt.openReadOnly(DEFAULT_URI)
    try:
        assert record["hypervisor"] == connection.getHostname()
    finally:
        connection.close()


def test_icinga2_output_is_one_host_per_domain_with_escaped_names():
    result = inventory("--connect", NODE_URI, "--hypervisor", "hv1.example.com")
    assert result.returncode == 0, result.stderr
    hosts = [line for line in result.stdout.splitlines() if line.startswith("object Host ")]
    assert hosts == ['object Host "db 01 \'quoted\'" {', 'object Host "paused01" {',
                     'object Host "web01" {']
    assert '\tvars.vm_disks = [ "vda", "vdb" ]' in result.stdout
    assert '\t\t"52:54:00:00:00:01" = { target = "testnet0" }' in result.stdout
    assert result.stdout == inventory("--connect", NODE_URI,
                                      "--hypervisor", "hv1.example.com").stdout


@pytest.mark.parametrize(("uri", "message"), [
    ("bogus:///x", "'bogus' is not a libvirt driver"),
    ("qemu:///system?socket=/nonexistent/sock", "is libvirtd (or virtqemud) running"),
])
def test_a_bad_uri_is_one_line_and_exit_3(uri, message):
    result = inventory("--connect", uri)
    assert result.returncode == 3
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1 and message in result.stderr


def test_a_connection_handed_in_is_used_as_is():
    connection = libvirt.openReadOnly(NODE_URI)
    inspector = Inspector(connection)
    try:
        domains = {domain.name: domain for domain in Inventory(inspector).domains(True)}
    finally:
        inspector.close()
    assert domains["web01"].interfaces[1] == Interface("backend0", "52:54:00:00:00:02")
    assert domains["db 01 'quoted'"].disks == ("vda",)
    assert [nic.mac for nic in domains["stopped01"].interfaces] == ["52:54:00:00:05:01",
                                                                     "52:54:00:00:05:02"]
