"""A real Icinga 2 daemon runs the shipped CheckCommands against libvirt's test driver.

The daemon loads commands.conf and templates.conf unchanged, the apply rules
of both example files (only their intervals shortened to 5 s), VM hosts in
both ways of modelling (per-VM thresholds in host variables, or in the entries
of a hypervisor's vars.vms) and one host written by check_vm_inventory. The
services run with command_endpoint = this node, the path an agent takes.
Results come from the daemon's API (state, output, the command line it ran)
and from what its InfluxdbWriter stored in a real InfluxDB (what Icinga
parsed of the perfdata), read back with InfluxQL.
"""

from __future__ import annotations

import re

import pytest
from harness.checkrun import parse_perfdata
from harness.icinga.environment import AWKWARD_NAME, inventory, write_awkward_node
from harness.icinga.scenario import (
    INTERVAL,
    NODE,
    Run,
    command_has,
    results_per_checkable,
    run_scenario,
)
from harness.paths import NODE_URI

from libcheck.inventory import object_name

AWKWARD_HOST = object_name(AWKWARD_NAME)
WEB_NICS = ("52:54:00:00:00:01", "52:54:00:00:00:02")

EXPECTED_SERVICES = {
    "web01!vm-cpu": 1,                   # its vm_cpu_warning 10; it uses 25%
    "web01!vm-mem": 0,
    "web01!disk vda": 0,
    "web01!disk vdb": 0,
    f"web01!nic {WEB_NICS[0]}": 0,
    f"web01!nic {WEB_NICS[1]}": 0,
    "db 01 'quoted'!vm-cpu": 2,          # its vm_cpu_critical 10; it uses 100%
    "db 01 'quoted'!vm-mem": 3,          # no balloon: unknown by default
    "db 01 'quoted'!disk vda": 0,
    "paused01!vm-cpu": 1,                # paused: warning by default
    "paused01!vm-mem": 1,
    "paused01!vm-disk-io": 1,            # no vm_disks: one service for all disks
    "paused01!vm-nic": 1,
    "stopped01!vm-cpu": 1,               # its vm_cpu_state_if_stopped warning
    "stopped01!vm-mem": 2,               # shut off: critical by default
    "stopped01!vm-disk-io": 2,
    "stopped01!vm-nic": 2,
    "hv-e2e!vm-cpu test": 0,
    "hv-e2e!vm-mem test": 1,             # its vms entry: vm_mem_warning 40; 50% used
    "hv-e2e!vm-disk-io test": 0,
    "hv-e2e!vm-nic test": 0,
    f"{AWKWARD_HOST}!vm-cpu": 0,
    f"{AWKWARD_HOST}!vm-mem": 3,
    f"{AWKWARD_HOST}!disk vda": 0,
}
# Host -> (vm_alive's state, the host's state): WARNING is UP, CRITICAL is DOWN.
EXPECTED_HOSTS = {"web01": (0, 0), "db 01 'quoted'": (0, 0), "paused01": (1, 0),
                  "stopped01": (2, 1), AWKWARD_HOST: (0, 0), "hv-e2e": (0, 0)}

HOSTS = f"""\
object Host "web01" {{
	import "vm-host"
	vars.hypervisor = NodeName
	command_endpoint = vars.hypervisor
	vars.vm_connect = "{NODE_URI}"
	vars.vm_disks = [ "vda", "vdb" ]
	vars.vm_interfaces = {{
		"{WEB_NICS[0]}" = {{ target = "testnet0" }}
		"{WEB_NICS[1]}" = {{ target = "backend0" }}
	}}
	vars.vm_cpu_warning = "10"
	vars.vm_cpu_verbose = 2
	vars.vm_mem_balloon_max_age = 0     // the test driver's balloon never updates
}}

object Host "db 01 'quoted'" {{
	import "vm-host"
	vars.hypervisor = NodeName
	command_endpoint = vars.hypervisor
	vars.vm_connect = "{NODE_URI}"
	vars.vm_disks = [ "vda" ]
	vars.vm_interfaces = {{ }}
	vars.vm_cpu_critical = "10"
}}

object Host "paused01" {{
	import "vm-host"
	vars.hypervisor = NodeName
	command_endpoint = vars.hypervisor
	vars.vm_connect = "{NODE_URI}"
}}

object Host "stopped01" {{
	import "vm-host"
	vars.hypervisor = NodeName
	command_endpoint = vars.hypervisor
	vars.vm_connect = "{NODE_URI}"
	vars.vm_cpu_state_if_stopped = "warning"
}}

object Host "hv-e2e" {{
	check_command = "dummy"
	vars.agent_endpoint = NodeName
	vars.vm_connect = "test:///default"
	vars.vms["test"] = {{
		vm_mem_warning = "40"
		vm_mem_balloon_max_age = 0
	}}
}}
"""

# What Icinga 2.13 makes of a unit: its name and the factor to its base unit.
# A counter's "c" is lost in 2.13 (it reads as no unit).
ICINGA_UNITS = {"": (None, 1), "c": (None, 1), "%": ("percent", 1), "B": ("bytes", 1),
                "s": ("seconds", 1), "ms": ("seconds", 0.001)}


@pytest.fixture(scope="module")
def run(tmp_path_factory, daemons_installed, influxdb) -> Run:
    root = tmp_path_factory.mktemp("icinga2-e2e")
    awkward = inventory("--connect", write_awkward_node(root / "awkward.xml"),
                        "--hypervisor", NODE)
    hosts = {"hosts.conf": HOSTS, "inventory.conf": awkward}
    with run_scenario(root, influxdb, hosts, EXPECTED_SERVICES, EXPECTED_HOSTS) as result:
        yield result


# -- states and command lines ------------------------------------------------------------

def test_every_service_ends_in_its_expected_state(run):
    states = {name: attrs["last_check_result"]["state"] for name, attrs in run.services.items()}
    assert states == EXPECTED_SERVICES


def test_host_checks_follow_the_domain_state(run):
    states = {name: (attrs["last_check_result"]["state"], attrs["state"])
              for name, attrs in run.hosts.items()}
    assert states == EXPECTED_HOSTS
    assert command_has(run.hosts["stopped01"]["last_check_result"], "--domain", "stopped01")
    # The host check keeps a previous sample apart from the vm-cpu service's.
    assert command_has(run.hosts["web01"]["last_check_result"], "--baseline-name", "alive")
    assert not command_has(run.result("web01!vm-cpu"), "--baseline-name", "alive")


def test_host_variables_set_per_vm_thresholds(run):
    web = run.result("web01!vm-cpu")
    assert command_has(web, "--warning", "10")
    assert re.match(r"VM_CPU WARNING - web01: 2\d\.\d% of 4 vCPUs \(> 10\)", web["output"])
    quoted = run.result("db 01 'quoted'!vm-cpu")
    assert command_has(quoted, "--domain", "db 01 'quoted'")
    assert command_has(quoted, "--critical", "10")
    assert command_has(run.result("stopped01!vm-cpu"), "--state-if-stopped", "warning")


def test_hypervisor_entries_set_per_vm_thresholds(run):
    mem = run.result("hv-e2e!vm-mem test")
    for argv in (("--domain", "test"), ("--connect", "test:///default"),
                 ("--warning", "40"), ("--balloon-max-age", "0")):
        assert command_has(mem, *argv), argv
    assert not command_has(run.result("hv-e2e!vm-cpu test"), "--warning", "40")


def test_command_defaults_and_shared_variables(run):
    cpu = run.result("hv-e2e!vm-cpu test")
    assert command_has(cpu, "--warning", "90") and command_has(cpu, "--critical", "95")
    state_dir = str(run.daemon.root / "state")
    assert all(command_has(attrs["last_check_result"], "--state-dir", state_dir)
               for attrs in run.services.values())


def test_device_services_check_their_device_only(run):
    disk = run.result("web01!disk vdb")
    assert command_has(disk, "--disk", "vdb")
    labels = set().union(*(parse_perfdata(item) for item in disk["performance_data"]))
    assert "vdb_ops_per_second" in labels and not any(x.startswith("vda_") for x in labels)
    nic = run.result(f"web01!nic {WEB_NICS[1]}")
    assert command_has(nic, "--interface", WEB_NICS[1])
    assert any(label.startswith("backend0_") for item in nic["performance_data"]
               for label in parse_perfdata(item))


def test_inventory_host_with_an_awkward_name_is_found(run):
    cpu = run.result(f"{AWKWARD_HOST}!vm-cpu")
    assert command_has(cpu, "--domain", AWKWARD_NAME)
    assert cpu["output"].startswith(f"VM_CPU OK - {AWKWARD_NAME}: ")


# -- rates across results, perfdata as Icinga parsed it --------------------------------

def test_the_second_result_is_a_rate_since_the_first(run):
    output = run.result("web01!vm-cpu")["output"]
    match = re.search(r"rates measured over ([\d.]+) s since the previous run", output)
    assert match, output
    assert INTERVAL - 2 < float(match[1]) < 4 * INTERVAL
    counts = results_per_checkable(run.points)
    assert min(counts[name] for name in EXPECTED_SERVICES) >= 2


def test_icinga_parsed_every_perfdata_value_and_unit(run):
    parsed = {(point.service, point.timestamp, point.label): point.fields
              for point in run.points if point.label}
    compared = 0
    for name, attrs in run.services.items():
        result = attrs["last_check_result"]
        for raw in result["performance_data"]:
            (label, item), = parse_perfdata(raw).items()
            fields = parsed[name, int(result["execution_end"]), label]
            unit, factor = ICINGA_UNITS[item.uom]
            assert fields.get("unit") == unit, (name, raw)
            assert fields["value"] == pytest.approx(item.value * factor, rel=1e-6), (name, raw)
            for key, text in (("warn", item.warn), ("crit", item.crit),
                              ("min", item.minimum), ("max", item.maximum)):
                if re.fullmatch(r"[-+]?[\d.]+", text):
                    assert fields[key] == pytest.approx(float(text) * factor), (name, raw, key)
            compared += 1
    assert compared > 100


def test_influxdb_keeps_the_backslash_icinga_puts_before_a_quote(run):
    stored = {point.tags["hostname"] for point in run.points if "ird" in point.tags["hostname"]}
    assert stored == {AWKWARD_HOST.replace('"', '\\"')}


def test_icinga_logged_no_perfdata_or_macro_trouble(run):
    log = run.daemon.log_text()
    troubles = [line for line in log.splitlines()
                if "invalid perfdata" in line.lower()
                or re.search(r"warning/(PluginUtility|MacroProcessor|InfluxdbWriter)", line)]
    assert log and not troubles, "\n".join(troubles)
