"""The hypervisor in Icinga 2: vm-host and vm-pool from the shipped apply rules.

check_vm_inventory writes the hypervisor's variables (its endpoint, its URI,
the domains it wrote hosts for) as a Host template or, with
--hypervisor-host, as a Host object of its own; the apply rules of
templates.conf give every Host with them the services vm-host and vm-pool.
A real daemon runs both ways on test-driver nodes with pools, one of them
with a VM name that needs every escape: the checks run on the hypervisor's
endpoint with its URI and expected domains, and their perfdata reaches the
InfluxDB the daemon writes to. `icinga2 daemon -C` takes the hosts the
inventory writes for hostile names, and the expected-domains file it writes
is what check_vm_host reads.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from harness.hostilenames import HOSTILE_NAMES, write_hostile_node
from harness.icinga.environment import AWKWARD_NAME, daemon_environment, inventory
from harness.icinga.hypervisor import POOL_USAGE, write_hypervisor_node
from harness.icinga.icinga2 import compiled_objects, errors_of, validate, zoned_configuration
from harness.icinga.scenario import NODE, Run, command_has, run_scenario
from harness.paths import CHECKS, NODE_URI

from libcheck.cli import domain_reference_problem
from libcheck.domainref import Lookup, lookup_order

MERGED = "hv-merged"      # a hand-kept Host that imports the inventory's template
OWN = "hv-own"            # the Host object the inventory writes (--hypervisor-host)
EXPECTED_SERVICES = {
    f"{MERGED}!vm-host": 1,   # listed without --all: the shut-off hv-off is not monitored
    f"{MERGED}!vm-pool": 0,
    f"{OWN}!vm-host": 0,      # with --all: every domain expected, the awkward name too
    f"{OWN}!vm-pool": 0,
}


def template_literal(text: str) -> str:
    """The Host template of the inventory's output, as the DSL literal it wrote."""
    (literal,) = re.findall(r"^template Host (\".*\") \{$", text, re.MULTILINE)
    return literal


@pytest.fixture(scope="module")
def uris(tmp_path_factory) -> dict[str, str]:
    """Each hypervisor host's node: plain names, or the awkward one and a shut-off VM."""
    root = tmp_path_factory.mktemp("hypervisor-nodes")
    return {MERGED: write_hypervisor_node(root / "plain.xml", ["hv-web"], ["hv-off"]),
            OWN: write_hypervisor_node(root / "awkward.xml", [AWKWARD_NAME], ["aw-off"])}


@pytest.fixture(scope="module")
def run(tmp_path_factory, daemons_installed, influxdb, uris) -> Run:
    root = tmp_path_factory.mktemp("icinga2-hypervisor")
    merged = inventory("--connect", uris[MERGED], "--hypervisor", NODE)
    hand_kept = (f'object Host "{MERGED}" {{\n\timport {template_literal(merged)}\n'
                 '\tcheck_command = "dummy"\n}\n')
    hosts = {"merged.conf": merged + "\n" + hand_kept,
             "own.conf": inventory("--connect", uris[OWN], "--all", "--hypervisor", NODE,
                                   "--hypervisor-host", OWN)}
    with run_scenario(root, influxdb, hosts, EXPECTED_SERVICES, [MERGED, OWN]) as result:
        yield result


def test_both_services_on_both_kinds_of_hypervisor_host(run):
    states = {name: run.result(name)["state"] for name in EXPECTED_SERVICES}
    assert states == EXPECTED_SERVICES
    assert "hv-web!vm-host" not in run.services  # a VM's host has no hypervisor's variables


def test_the_checks_run_on_the_hypervisors_endpoint_with_its_uri(run, uris):
    for host, uri in uris.items():
        for service in ("vm-host", "vm-pool"):
            result = run.result(f"{host}!{service}")
            assert result["check_source"] == NODE
            assert command_has(result, "--connect", uri), result["command"]
    pool = run.result(f"{OWN}!vm-pool")
    assert command_has(pool, "--warning", "80") and command_has(pool, "--critical", "90")


def test_the_expected_domains_reach_check_vm_host(run, uris):
    merged = run.result(f"{MERGED}!vm-host")
    assert command_has(merged, "--expect-domain", "hv-web")
    assert "hv-off" not in merged["command"]
    assert "hv-off: not monitored (not among the expected domains)" in merged["output"]
    own = run.result(f"{OWN}!vm-host")
    # The `$` the inventory doubled is one again: Icinga resolved the array's macros.
    assert command_has(own, "--expect-domain", AWKWARD_NAME)
    assert command_has(own, "--expect-domain", "aw-off")
    assert own["output"].startswith(f"VM_HOST OK - {uris[OWN]}: "), own["output"]


def test_their_perfdata_is_stored(run):
    stored = {}
    for point in run.points:
        if point.label and point.service in EXPECTED_SERVICES:
            stored.setdefault(point.service, {})[point.label] = point.fields["value"]
    merged = stored[f"{MERGED}!vm-host"]
    assert (merged["running"], merged["shutoff"], merged["not_monitored"],
            merged["gone"]) == (1, 1, 1, 0)
    assert merged["host_cpus"] == 4 and merged["vcpu_overcommit"] == pytest.approx(0.5)
    for host in (MERGED, OWN):
        pools = stored[f"{host}!vm-pool"]
        for pool, usage in POOL_USAGE.items():
            assert pools[f"{pool}_usage"] == pytest.approx(usage)
            assert pools[f"{pool}_capacity"] == 100 * 2**30


def test_the_written_hypervisor_host_checks_its_endpoints_zone(run):
    # vm-hypervisor's cluster-zone check finds the zone through a macro of the
    # endpoint (this node's zone is "master": no zone of the endpoint's name).
    output = run.hosts[OWN]["last_check_result"]["output"]
    assert f"'{NODE}'" in output, output
    assert run.hosts[MERGED]["last_check_result"]["state"] == 0


# -- validation, and the expected-domains file -------------------------------------

def carried(names) -> list[str]:
    """The names the inventory expects as they are: those --expect-domain takes
    and looks up by name, which an expected-domains file can hold (the others
    are expected by their UUID)."""
    return [name for name in names if not domain_reference_problem(name)
            and lookup_order(name)[0] is Lookup.NAME and not name.startswith("#")]


def test_hypervisor_hosts_validate_with_hostile_names(tmp_path, daemons_installed):
    hostile = write_hostile_node(tmp_path / "hostile.xml")
    own = inventory("--connect", hostile, "--hypervisor", "hv1.example.com",
                    "--hypervisor-host", "hv1.example.com")
    merged = inventory("--connect", NODE_URI, "--all", "--hypervisor", "hv2.example.com")
    hand_kept = (f'object Host "hv2.example.com" {{\n\timport {template_literal(merged)}\n'
                 '\tcheck_command = "dummy"\n}\n')
    root = tmp_path / "icinga"
    result = validate(zoned_configuration(root, {"own.conf": own,
                                                 "merged.conf": merged + hand_kept}), root)
    assert result.returncode == 0, errors_of(result)

    objects = compiled_objects(root)
    host = objects["Host", "hv1.example.com"]
    assert "vm-hypervisor" in host["templates"]
    # Macros are resolved when the check runs: the compiled values keep the `$$`.
    entries = host["vars"]["vm_expected_domains"]
    assert len(entries) == len(HOSTILE_NAMES)
    assert set(carried(HOSTILE_NAMES)) <= {entry.replace("$$", "$") for entry in entries}
    for name in ("hv1.example.com", "hv2.example.com"):
        service = objects["Service", f"{name}!vm-host"]
        assert service["command_endpoint"] == name
        assert service["vars"]["vm_host_expect_domain"] == \
            objects["Host", name]["vars"]["vm_expected_domains"]
        assert objects["Service", f"{name}!vm-pool"]["command_endpoint"] == name
    assert objects["Host", "hv2.example.com"]["vars"]["vm_hypervisor_connect"] == NODE_URI


def test_the_way_b_example_hypervisor_expects_its_vms(tmp_path, daemons_installed):
    root = tmp_path / "icinga"
    config = zoned_configuration(root, {}, ("example-hypervisor-vms.conf",))
    result = validate(config, root)
    assert result.returncode == 0, errors_of(result)
    objects = compiled_objects(root)
    service = objects["Service", "hv1.example.com!vm-host"]
    assert sorted(service["vars"]["vm_host_expect_domain"]) == ["build 7", "db01", "web01"]
    assert service["command_endpoint"] == "hv1.example.com"
    assert service["vars"]["vm_host_connect"] == "qemu:///system"
    assert ("Service", "hv1.example.com!vm-pool") in objects


def test_check_vm_host_expects_every_domain_the_expect_file_lists(tmp_path):
    hostile = write_hostile_node(tmp_path / "hostile.xml")
    listed = tmp_path / "expected"
    listed.write_text(inventory("--connect", hostile, "--format", "expect-file"),
                      encoding="utf-8")
    result = subprocess.run(
        [str(CHECKS / "check_vm_host"), "--connect", hostile, "--state-dir",
         str(tmp_path / "state"), "--expect-file", str(listed), "-v"],
        capture_output=True, timeout=60, check=False, env=daemon_environment())
    output = result.stdout.decode("utf-8")
    assert "not_monitored=0;" in output and "gone=0;" in output, output


def test_the_expect_file_lists_the_names_one_a_line(tmp_path: Path):
    hostile = write_hostile_node(tmp_path / "hostile.xml")
    lines = inventory("--connect", hostile, "--format", "expect-file").splitlines()
    assert lines[0].startswith("# check_vm inventory of ")
    assert len(lines) == 1 + len(HOSTILE_NAMES)
    assert set(carried(HOSTILE_NAMES)) <= set(lines[1:])
