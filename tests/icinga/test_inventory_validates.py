"""check_vm_inventory's output for VMs with hostile names loads into Icinga 2, all at once.

The hosts of every name of harness.hostilenames (collision pairs such as
`a!b` and `a_b`, names differing only by case, quotes, backslashes, `$`,
braces, newline, tab, non-ASCII, very long...) and of the shipped test node
go into one configuration with the shipped commands, templates and apply
rules, the way an operator installs them; `icinga2 daemon -C` must accept
it, and the compiled objects must hold one host per VM with the values the
inventory meant.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from harness.hostilenames import HOSTILE_NAMES, write_hostile_node
from harness.icinga.icinga2 import compiled_objects, errors_of, validate, zoned_configuration
from harness.paths import NODE_URI

pytestmark = pytest.mark.usefixtures("daemons_installed")


def inventory(*args: str) -> str:
    """The inventory's output, read as UTF-8 (what Icinga reads)."""
    result = subprocess.run([sys.executable, "-m", "libcheck.inventory", *args],
                            capture_output=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr
    return result.stdout.decode("utf-8")


def test_hostile_names_validate_together_with_one_host_each(tmp_path):
    hostile_uri = write_hostile_node(tmp_path / "hostile.xml")
    generated = {
        "hostile.conf": inventory("--connect", hostile_uri, "--hypervisor", "hv1.example.com"),
        "node.conf": inventory("--connect", NODE_URI, "--all", "--hypervisor", "hv2.example.com"),
    }
    root = tmp_path / "icinga"
    result = validate(zoned_configuration(root, generated), root)
    assert result.returncode == 0, errors_of(result)

    objects = compiled_objects(root)
    records = json.loads(inventory("--connect", hostile_uri, "--hypervisor", "hv1.example.com",
                                   "--format", "json"))
    hosts = {name for kind, name in objects if kind == "Host"}
    assert {record["name"] for record in records} <= hosts
    assert len(records) == len(HOSTILE_NAMES)
    for record in records:
        host = objects["Host", record["name"]]
        assert host["vars"]["vm_uuid"] == record["vm_uuid"]
        # Icinga's macro resolution gives the doubled `$` back.
        assert host["vars"]["vm_name"] == record["vm_name"].replace("$", "$$")
        assert host["display_name"] == record["display_name"]
        assert ("Service", f"{record['name']}!vm-cpu") in objects
        assert ("Service", f"{record['name']}!disk vda") in objects
