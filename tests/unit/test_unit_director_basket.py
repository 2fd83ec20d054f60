"""The Director basket (director/check_vm-basket.json): generated, and whole.

The basket is written by scripts/generate_director.py from templates.conf and
the parsers, never by hand; these tests hold what the Director needs of it
that a restore does not check: every variable a CheckCommand reads from the
host has a field, every member service imports a shipped template, the jobs'
switches are the strings the Director tests for, and every file of the
Director's path names the same import directory. The web tier restores it
into a real Director.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys

import pytest
from harness.paths import REPO, load_script

SCRIPT = REPO / "scripts" / "generate_director.py"
BASKET = REPO / "director" / "check_vm-basket.json"
COMMANDS = REPO / "icinga2-conf" / "commands.conf"
SERVICE_UNIT = REPO / "debian" / "check-vm.check-vm-director-feed.service"


generate_director = load_script("generate_director")


@pytest.fixture(scope="module")
def basket() -> dict:
    return json.loads(BASKET.read_text())


def test_the_committed_basket_is_the_generated_one():
    assert BASKET.read_text() == generate_director.basket_text(), (
        "run python3 scripts/generate_director.py")


def test_check_mode_names_a_stale_basket(tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(generate_director, "ROOT", tmp_path)
    (tmp_path / "icinga2-conf").mkdir()
    (tmp_path / "icinga2-conf" / "templates.conf").write_text(
        (REPO / "icinga2-conf" / "templates.conf").read_text())
    assert generate_director.main(["--check"]) == 1
    assert "director/check_vm-basket.json is stale" in capsys.readouterr().err
    assert generate_director.main([]) == 0
    assert generate_director.main(["--check"]) == 0


def test_the_command_line_check_passes_on_the_repository():
    result = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True,
                            text=True, timeout=60, check=False)
    assert result.returncode == 0, result.stderr


def _command_variables(command: str) -> set[str]:
    text = COMMANDS.read_text()
    body = text[text.index(f'object CheckCommand "{command}"'):]
    body = body[:body.index("\n}\n")]
    return set(re.findall(r'"\$(vm_[a-z_]+)\$"', body))


def _field_names(basket: dict, template: dict) -> set[str]:
    by_id = {int(key): field["varname"] for key, field in basket["Datafield"].items()}
    return {by_id[reference["datafield_id"]] for reference in template["fields"]}


@pytest.mark.parametrize(("template", "commands", "set_otherwise"), [
    ("vm-host", ["vm_cpu", "vm_mem", "vm_disk_io", "vm_nic", "vm_alive"],
     {"_domain", "_connect", "_state_dir"}),
    ("vm-hypervisor", ["vm_host", "vm_pool"],
     {"_connect", "_state_dir", "_expect_domain"}),
])
def test_every_variable_a_command_reads_has_a_field_on_its_host_template(
        basket, template, commands, set_otherwise):
    fields = _field_names(basket, basket["HostTemplate"][template])
    read = {variable for command in commands for variable in _command_variables(command)}
    missing = {variable for variable in read - fields
               if not any(variable.endswith(suffix) for suffix in set_otherwise)}
    assert not missing
    assert {"vm_cpu_warning", "vm_disk_io_critical"} <= fields or template != "vm-host"


def test_threshold_fields_are_arrays_and_fields_are_declared_once(basket):
    fields = {field["varname"]: field for field in basket["Datafield"].values()}
    assert len(fields) == len(basket["Datafield"])
    assert fields["vm_cpu_warning"]["datatype"].endswith("DataTypeArray")
    assert fields["vm_disks"]["datatype"].endswith("DataTypeArray")
    assert fields["vm_interfaces"]["datatype"].endswith("DataTypeDictionary")
    assert {field["category"] for field in fields.values()} == set(
        basket["DatafieldCategory"])


def test_every_member_service_imports_a_shipped_template(basket):
    templates = set(basket["ServiceTemplate"])
    for service_set in basket["ServiceSet"].values():
        for name, member in service_set["services"].items():
            assert member["object_name"] == name
            assert set(member["imports"]) <= templates


def test_per_device_services_loop_over_arrays_the_feed_writes(basket):
    members = basket["ServiceSet"]["check_vm VM"]["services"]
    assert members["disk "]["apply_for"] == "host.vars.vm_disks"
    assert members["nic "]["apply_for"] == "host.vars.vm_interface_macs"
    assert members["nic "]["vars"] == {"vm_nic_interface": ["$config$"]}


def test_templates_keep_the_shipped_commands_and_intervals(basket):
    cpu = basket["ServiceTemplate"]["vm-cpu"]
    assert (cpu["check_command"], cpu["check_interval"], cpu["imports"]) == (
        "vm_cpu", "60", ["vm-service"])
    assert basket["ServiceTemplate"]["vm-mem"]["check_interval"] == "120"
    assert basket["HostTemplate"]["vm-host"]["check_command"] == "vm_alive"
    # templates.conf's `vars.vm_name = name`: a host made by hand checks its own name.
    assert basket["HostTemplate"]["vm-host"]["vars"] == {"vm_name": "$host.name$"}
    assert basket["HostTemplate"]["vm-hypervisor"]["vars"] == {
        "cluster_zone": "$vm_hypervisor_endpoint$"}


def test_job_switches_are_the_strings_the_director_tests_for(basket):
    for job in basket["DirectorJob"].values():
        for key, value in job["settings"].items():
            if key in ("run_import", "apply_changes", "deploy_when_changed", "force_generate"):
                assert value in ("y", "n"), (job["job_name"], key)
    sources = set(basket["ImportSource"])
    rules = set(basket["SyncRule"])
    for job in basket["DirectorJob"].values():
        assert job["settings"].get("source", next(iter(sources))) in sources
        assert job["settings"].get("rule", next(iter(rules))) in rules


def test_the_sync_puts_each_vm_host_in_its_hypervisors_zone(basket):
    properties = basket["SyncRule"]["check_vm VM hosts"]["properties"]
    zone = next(p for p in properties if p["destination_field"] == "zone")
    assert zone["source_expression"] == "${hypervisor}"
    assert all(rule["purge_existing"] == "y" for rule in basket["SyncRule"].values())


def test_a_hypervisors_host_stays_in_the_masters_zone_and_its_services_run_on_its_agent(
        basket):
    properties = basket["SyncRule"]["check_vm hypervisors"]["properties"]
    assert "zone" not in {p["destination_field"] for p in properties}
    assert {"source_expression": "${name}", "destination_field": "object_name"}.items() <= \
        properties[0].items()
    members = basket["ServiceSet"]["check_vm hypervisor"]["services"]
    assert {name: member["use_agent"] for name, member in members.items()} == {
        "vm-host": "y", "vm-pool": "y"}


def test_the_import_directory_is_the_one_the_feed_writes():
    from libcheck.directorfeed import DEFAULT_OUTPUT
    basket = json.loads(BASKET.read_text())
    directories = {source["settings"]["basedir"] for source in basket["ImportSource"].values()}
    assert directories == {DEFAULT_OUTPUT}
    unit = SERVICE_UNIT.read_text()
    assert f"--output-dir {DEFAULT_OUTPUT}" in unit
    assert f"StateDirectory={DEFAULT_OUTPUT.rsplit('/', 1)[1]}" in unit
    assert f'basedir = "{DEFAULT_OUTPUT}"' in (REPO / "director" /
                                               "fileshipper-imports.ini").read_text()
