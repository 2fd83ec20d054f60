"""The shipped graph templates against the series the plugins' own labels give.

The checks of a VM run on libvirt's test driver (the default node's domain
`test`, and web01 of tests/data/node.xml with two disks, two interfaces and
four vCPUs). Every label they print becomes the series Icinga 2's
GraphiteWriter stores for it,
`icinga2.<host>.services.<service>.<command>.perfdata.<label>.value`, for
both ways README's examples name the services: the VM as the Icinga host
(services vm-cpu, vm-mem...) and the VM as part of a hypervisor's service
names ("vm-cpu web01"...). The checks of a hypervisor run on the same two
nodes as their hypervisor hosts' services vm-host and vm-pool (the default
node alone has a storage pool). No template may name a series outside that
set, and a broken template must be reported.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from harness.checknames import service_name
from harness.checkrun import run_check
from harness.graphs.templatecheck import GRAPHS, chart_devices, glob_matches, template_problems
from harness.paths import DEFAULT_URI, NODE_URI

from libcheck.registry import CHECKS as REGISTERED
from libcheck.registry import HOST_CHECKS

# Options a check needs on the test driver, which has no balloon statistics; the
# hypervisor check's drift labels need an expected list, and its run must be OK.
EXTRA_OPTIONS = {"mem": ("--balloon-max-age", "0"),
                 "host": ("--expect-domain", "absent-vm", "--state-if-gone", "ok",
                          "--state-if-not-monitored", "ok", "--state-if-paused", "ok")}
# (check, Icinga service template, CheckCommand, extra options) of every registered check
CHECKS = tuple((entry.executable, service_name(entry), entry.command,
                EXTRA_OPTIONS.get(entry.name, ())) for entry in REGISTERED)
# (libvirt URI, domain, Icinga host when the VM is the host, hypervisor host)
VMS = ((DEFAULT_URI, "test", "test.example.com", "hv0.example.com"),
       (NODE_URI, "web01", "web01.example.com", "hv1.example.com"))
# (check, Icinga service, CheckCommand, extra options, state kept, URIs) of every check
# of a hypervisor
HYPERVISOR_CHECKS = tuple((entry.executable, service_name(entry), entry.command,
                           EXTRA_OPTIONS.get(entry.name, ()), entry.load().uses_snapshot,
                           (DEFAULT_URI,) if entry.name == "pool" else (DEFAULT_URI, NODE_URI))
                          for entry in HOST_CHECKS)


def graphite_name(name: str) -> str:
    """A host or service name as Icinga 2's GraphiteWriter puts it in a path."""
    for character in (".", " ", "/", "\\"):
        name = name.replace(character, "_")
    return name


def service_prefix(host: str, service: str, command: str) -> str:
    return f"icinga2.{graphite_name(host)}.services.{graphite_name(service)}.{command}"


def labels_of(check: str, state_dir: Path | None, *args: str) -> set[str]:
    run = run_check(check, *args, state_dir=state_dir)
    assert run.returncode == 0, run.stdout + run.stderr
    return set(run.perfdata)


@pytest.fixture(scope="module")
def labels(tmp_path_factory) -> dict[tuple[str, str], set[str]]:
    """{(domain or hypervisor URI, check): the perfdata labels it prints}."""
    state_dir = tmp_path_factory.mktemp("state")
    found = {(domain, check): labels_of(check, state_dir, "--connect", uri, "-d", domain,
                                        "--sample-interval", "0.3", *options)
             for uri, domain, *_ in VMS for check, _, _, options in CHECKS}
    found.update({(uri, check): labels_of(check, state_dir if keeps_state else None,
                                          "--connect", uri, *options)
                  for check, _, _, options, keeps_state, uris in HYPERVISOR_CHECKS
                  for uri in uris})
    return found


def hypervisor_of(uri: str) -> str:
    return next(hypervisor for vm_uri, _, _, hypervisor in VMS if vm_uri == uri)


def series_for(labels, way: str) -> set[str]:
    """The stored series: way "host" (the VM is the Icinga host) or "hypervisor"
    (the VM's services are the hypervisor's); the hypervisor's own services either way."""
    series = set()
    for _, domain, vm_host, hypervisor in VMS:
        for check, service, command, _ in CHECKS:
            host, name = ((vm_host, service) if way == "host"
                          else (hypervisor, f"{service} {domain}"))
            prefix = service_prefix(host, name, command)
            series |= {f"{prefix}.perfdata.{label}.value" for label in labels[domain, check]}
    for check, service, command, *_, uris in HYPERVISOR_CHECKS:
        for uri in uris:
            prefix = service_prefix(hypervisor_of(uri), service, command)
            series |= {f"{prefix}.perfdata.{label}.value" for label in labels[uri, check]}
    return series


@pytest.fixture(scope="module")
def series(labels) -> set[str]:
    return series_for(labels, "host") | series_for(labels, "hypervisor")


def broken_copy(tmp_path: Path, name: str, old: str, new: str) -> Path:
    """graphs/ copied, with `old` replaced by `new` in one file (which must hold it)."""
    root = tmp_path / "graphs"
    shutil.copytree(GRAPHS, root)
    path = next(root.rglob(name))
    text = path.read_text()
    assert old in text, f"{old!r} not in {name}"
    path.write_text(text.replace(old, new, 1))
    return root


# The shipped templates.

def test_the_checks_print_the_labels_the_templates_graph(labels):
    assert {"cpu_usage", "cpu_user", "cpu_system", "vcpu3_usage"} <= labels["web01", "check_vm_cpu"]
    assert {"mem_used", "mem_usable", "mem_available", "host_rss"} <= labels["test", "check_vm_mem"]
    assert {"vdb_read_ops_per_second", "total_write_bytes_per_second"} \
        <= labels["web01", "check_vm_disk_io"]
    assert {"backend0_rx_packets_per_second", "total_tx_bits_per_second"} \
        <= labels["web01", "check_vm_nic"]
    assert {"running", "paused", "gone", "not_monitored", "vcpu_overcommit", "mem_overcommit"} \
        <= labels[NODE_URI, "check_vm_host"]
    assert {"default-pool_usage", "default-pool_available"} \
        <= labels[DEFAULT_URI, "check_vm_pool"]


def test_every_template_matches_the_stored_series(series):
    assert template_problems(series) == []


@pytest.mark.parametrize("way", ["host", "hypervisor"])
def test_the_dashboard_and_the_templates_serve_either_way_of_naming_services(labels, way):
    assert template_problems(series_for(labels, way)) == []


def test_every_template_is_found():
    assert sorted(path.name for path in (GRAPHS / "icingaweb2").glob("*.ini")) == \
        ["vm_cpu.ini", "vm_disk_io.ini", "vm_host.ini", "vm_mem.ini", "vm_nic.ini",
         "vm_pool.ini"]
    assert sorted(path.name for path in (GRAPHS / "grafana").glob("*.json")) == ["check_vm.json"]


def test_the_graphite_module_draws_one_graph_per_device(series):
    def devices(service: str, command: str) -> dict[str, set[str]]:
        return chart_devices(series, service_prefix("web01.example.com", service, command))
    assert devices("vm-cpu", "vm_cpu") == {"check_vm-cpu-vcpu": {"0", "1", "2", "3"}}
    assert devices("vm-disk-io", "vm_disk_io") == {
        "check_vm-disk-io-bytes": {"vda", "vdb", "total"},
        "check_vm-disk-io-ops": {"vda", "vdb", "total"}}
    assert devices("vm-nic", "vm_nic") == {
        "check_vm-nic-bits": {"testnet0", "backend0", "total"},
        "check_vm-nic-packets": {"testnet0", "backend0"}}
    assert devices("vm-mem", "vm_mem") == {}
    pools = chart_devices(series, service_prefix("hv0.example.com", "vm-pool", "vm_pool"))
    assert pools == {"check_vm-pool-usage": {"default-pool"},
                     "check_vm-pool-space": {"default-pool"}}
    assert chart_devices(series, service_prefix("hv1.example.com", "vm-host", "vm_host")) == {}


def test_the_dashboard_has_a_host_and_a_vm_variable_over_graphite():
    dashboard = json.loads((GRAPHS / "grafana" / "check_vm.json").read_text())
    variables = {variable["name"]: variable for variable in dashboard["templating"]["list"]}
    assert set(variables) == {"datasource", "host", "vm"}
    assert variables["datasource"]["query"] == "graphite"
    assert variables["host"]["query"] == "icinga2.*"
    def targets(hypervisor: bool) -> list[str]:
        return [target["target"] for panel in dashboard["panels"]
                if panel["type"] != "row"
                and panel["description"].startswith(("check_vm_host:", "check_vm_pool:"))
                == hypervisor for target in panel["targets"]]
    assert targets(False) and all("$host" in target and "$vm" in target
                                  for target in targets(False))
    # The hypervisor's services are its own, whichever VM is picked.
    assert targets(True) and all("$host" in target and "$vm" not in target
                                 for target in targets(True))


def test_the_vm_variable_picks_one_vm_of_a_hypervisor(series):
    cpu = "icinga2.hv1_example_com.services.vm-cpu{,_}web01.vm_cpu.perfdata.cpu_usage.value"
    matched = {name for name in series if glob_matches(cpu, name.split("."))}
    assert matched == {"icinga2.hv1_example_com.services.vm-cpu_web01.vm_cpu.perfdata."
                       "cpu_usage.value"}


# Broken templates are reported.

@pytest.mark.parametrize("name, old, new, reported", [
    ("vm_nic.ini", "$interface$_rx_bits_per_second", "$interface$_rx_bit_per_second",
     "[check_vm-nic-bits] rx: icinga2.*.services.*.vm_nic.perfdata.*_rx_bit_per_second.value "
     "matches no stored series"),
    ("vm_cpu.ini", 'check_command = "vm_cpu"', 'check_command = "vm_cpus"',
     "check_command vm_cpus is not a CheckCommand of check_vm"),
    ("vm_mem.ini", "perfdata.mem_usable.value", "perfdata.mem_usable.max",
     "mem_usable.max matches no stored series"),
    ("vm_disk_io.ini", "write = \"alias(color($metric$, '#ffaa44'), 'Written (bytes/s)')\"",
     "writes = \"alias(color($metric$, '#ffaa44'), 'Written (bytes/s)')\"",
     "function for writes, which has no metrics filter"),
    ("check_vm.json", ".vm_mem.perfdata.mem_used.value", ".vm_memory.perfdata.mem_used.value",
     "vm_memory.perfdata.mem_used.value matches no stored series"),
    ("check_vm.json", '"query": "icinga2.$host.services.vm-cpu*"',
     '"query": "icinga2.$host.service.vm-cpu*"', "variable vm: icinga2.*.service.vm-cpu*"),
    ("check_vm.json", "services.vm-nic{,_}$vm.", "services.vm-nic{,_}$guest.",
     "$guest is no variable of the dashboard"),
])
def test_a_broken_template_is_reported(series, tmp_path, name, old, new, reported):
    problems = template_problems(series, broken_copy(tmp_path, name, old, new))
    assert len(problems) == 1 and reported in problems[0], problems


def test_a_counter_graphed_raw_is_reported_and_through_its_rate_is_not(series, tmp_path):
    raw = ('read = "$service_name_template$.perfdata.$disk$_read_bytes_per_second.value"\n'
           'bytes = "$service_name_template$.perfdata.$disk$_read_bytes.value"')
    root = broken_copy(tmp_path, "vm_disk_io.ini",
                       'read = "$service_name_template$.perfdata.$disk$_read_bytes_per_second'
                       '.value"', raw)
    assert template_problems(series, root) == [
        "vm_disk_io.ini [check_vm-disk-io-bytes] bytes: counter $disk$_read_bytes graphed "
        "without nonNegativeDerivative"]
    path = root / "icingaweb2" / "vm_disk_io.ini"
    path.write_text(path.read_text().replace(
        "[check_vm-disk-io-bytes.functions]\n",
        "[check_vm-disk-io-bytes.functions]\nbytes = \"nonNegativeDerivative($metric$)\"\n"))
    assert template_problems(series, root) == []


def test_no_series_at_all_reports_every_pattern():
    problems = template_problems(set())
    assert problems and all(problem.endswith("matches no stored series") for problem in problems)
    assert len(problems) == 34 + 2 + 23  # .ini curves, dashboard variables, dashboard targets
