"""The shipped Nagios Core configuration: `nagios4 -v`, and a short real run.

The run uses the shipped commands and templates unchanged, with VM hosts on
libvirt's test driver, and reads the results from Nagios' status.dat.
"""

from __future__ import annotations

import re
import shutil
from typing import Optional

import pytest
from harness.icinga.environment import inventory
from harness.icinga.hypervisor import write_hypervisor_node
from harness.icinga.nagios import FAST_SETTINGS, SHIPPED, NagiosDaemon, main_config, verify
from harness.paths import NAGIOS_CONF, NODE_URI
from harness.polling import poll

pytestmark = pytest.mark.usefixtures("daemons_installed")

QUOTED_UUID = "1b6a5d4c-6c8e-4f0e-9b73-2b8a3f0f6c11"  # "db 01 'quoted'" in node.xml


def test_shipped_configuration_verifies(tmp_path):
    result = verify(main_config(tmp_path, settings=FAST_SETTINGS))
    assert result.returncode == 0, result.stdout
    assert "Total Warnings: 0" in result.stdout and "Total Errors:   0" in result.stdout
    # The hostgroups bring the four services to both example VM hosts, plus one
    # per-disk, and two to the example hypervisor.
    assert "Checked 11 services." in result.stdout
    assert "Checked 3 hosts." in result.stdout


BREAKS = {
    "missing command": ("check_vm-templates.cfg", "check_command           check_vm_nic",
                        "check_command           check_vm_nic_nowhere", "check_vm_nic_nowhere"),
    "missing template": ("check_vm-example-hosts.cfg", "use                     check-vm-host",
                         "use                     check-vm-host-nowhere",
                         "check-vm-host-nowhere"),
    "missing hostgroup": ("check_vm-templates.cfg", "hostgroup_name  vm-guests",
                          "hostgroup_name  vm-guests-elsewhere", "vm-guests"),
}


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_a_broken_reference_fails_verification(tmp_path, case):
    name, text, replacement, named = BREAKS[case]
    conf = tmp_path / "nagios-conf"
    shutil.copytree(NAGIOS_CONF, conf)
    source = (conf / name).read_text()
    assert text in source, f"{name} no longer contains {text!r}: update this test"
    (conf / name).write_text(source.replace(text, replacement, 1))
    result = verify(main_config(tmp_path / "run", conf=conf, settings=FAST_SETTINGS))
    assert result.returncode != 0
    assert named in result.stdout, result.stdout


# -- a real run ----------------------------------------------------------------------

def vm_host(name: str, vm_name: str, state_dir, **macros: str) -> str:
    lines = [f"    {key} {value}" for key, value in macros.items()]
    return "\n".join([
        "define host {", "    use check-vm-host", f"    host_name {name}",
        "    address 127.0.0.1", f"    _VM_NAME {vm_name}", f"    _VM_CONNECT {NODE_URI}",
        f"    _VM_OPTS --state-dir {state_dir}", *lines, "}", ""])


EXPECTED = {  # (host, service) -> state
    ("web01", "VM CPU"): 1,              # _CPU_WARN 10; it uses 25%
    ("web01", "VM memory"): 0,
    ("web01", "VM disk I/O"): 0,
    ("web01", "VM network"): 0,
    ("web01", "VM disk vdb"): 0,
    ("db01", "VM CPU"): 2,               # _CPU_CRIT 10; it uses 100%
    ("db01", "VM memory"): 3,            # no balloon
    ("db01", "VM disk I/O"): 0,
    ("db01", "VM network"): 3,           # no interfaces
    ("stopped01", "VM CPU"): 2,
    ("stopped01", "VM memory"): 2,
    ("stopped01", "VM disk I/O"): 2,
    ("stopped01", "VM network"): 2,
    ("hv01", "VM host"): 1,              # hv-off: not monitored (not in the expect file)
    ("hv01", "VM storage pools"): 0,
}
VM_HOSTS = ("web01", "db01", "stopped01")


def hypervisor_host(root, state_dir) -> str:
    """A hypervisor on a node with pools, expecting what the inventory lists."""
    uri = write_hypervisor_node(root / "hypervisor.xml", ["hv-web"], ["hv-off"])
    expected = root / "hv01.expected"
    expected.write_text(inventory("--connect", uri, "--format", "expect-file"))
    return "\n".join([
        "define host {", "    use check-vm-hypervisor", "    host_name hv01",
        "    address 127.0.0.1", f"    _VM_CONNECT {uri}",
        f"    _VM_HOST_OPTS --state-dir {state_dir} --expect-file {expected}", "}", ""])


@pytest.fixture(scope="module")
def nagios_run(tmp_path_factory, daemons_installed):
    root = tmp_path_factory.mktemp("nagios-run")
    state = root / "state"
    hosts = root / "hosts.cfg"
    hosts.write_text(
        vm_host("web01", "web01", state, _CPU_WARN="10", _MEM_OPTS="--balloon-max-age 0")
        + vm_host("db01", QUOTED_UUID, state, _CPU_CRIT="10")
        + vm_host("stopped01", "stopped01", state)
        + hypervisor_host(root, state)
        + "define service {\n    use check-vm-service\n    host_name web01\n"
          "    service_description VM disk vdb\n    check_command check_vm_disk_io!--disk vdb\n}\n")
    config = main_config(root, files=SHIPPED[:2], extra=(hosts,), settings=FAST_SETTINGS)
    daemon = NagiosDaemon(config)
    try:
        daemon.start()
        yield wait_for_all_checked(daemon)
    finally:
        daemon.stop()


def wait_for_all_checked(daemon: NagiosDaemon, timeout: float = 40) -> dict:
    def checked_everything() -> Optional[dict]:
        if not daemon.running():
            raise not_everything_checked(daemon, timeout)
        services = {(block["host_name"], block["service_description"]): block
                    for block in daemon.status("servicestatus")}
        hosts = {block["host_name"]: block for block in daemon.status("hoststatus")}
        checked = [block.get("has_been_checked") == "1"
                   for block in [*services.values(), *hosts.values()]]
        if set(services) == set(EXPECTED) and len(hosts) == 4 and all(checked):
            return {"services": services, "hosts": hosts}
        return None
    found = poll(checked_everything, timeout, 0.5)
    if found is None:
        raise not_everything_checked(daemon, timeout)
    return found


def not_everything_checked(daemon: NagiosDaemon, timeout: float) -> AssertionError:
    log = (daemon.root / "nagios.log").read_text(errors="replace")[-2000:]
    return AssertionError(f"Nagios did not check everything in {timeout} s:\n{log}")


def test_every_service_gets_its_expected_state(nagios_run):
    states = {key: int(block["current_state"]) for key, block in nagios_run["services"].items()}
    assert states == EXPECTED


def test_macros_reach_the_plugins(nagios_run):
    services = nagios_run["services"]
    # The test driver's 25% of 4 vCPUs, give or take the timing of a loaded host.
    assert re.match(r"VM_CPU WARNING - web01: 2\d\.\d% of 4 vCPUs \(> 10\)",
                    services["web01", "VM CPU"]["plugin_output"])
    # The UUID finds the domain whose name no shell quoting would survive.
    assert services["db01", "VM CPU"]["plugin_output"].startswith(
        "VM_CPU CRITICAL - db 01 'quoted': ")
    assert "cpu_usage=" in services["web01", "VM CPU"]["performance_data"]
    vdb = services["web01", "VM disk vdb"]["performance_data"]
    assert "vdb_ops_per_second=" in vdb and "vda_" not in vdb


def test_the_host_check_follows_the_domain_state(nagios_run):
    states = {name: int(nagios_run["hosts"][name]["current_state"]) for name in VM_HOSTS}
    assert states == {"web01": 0, "db01": 0, "stopped01": 1}


def test_the_hypervisor_gets_its_services_from_its_hostgroup(nagios_run):
    services = nagios_run["services"]
    host = services["hv01", "VM host"]
    assert "hv-off: not monitored (not among the expected domains)" in host["plugin_output"]
    assert "not_monitored=1;" in host["performance_data"]
    pools = services["hv01", "VM storage pools"]
    assert "vmimages_usage=15%;80;90;" in pools["performance_data"]
