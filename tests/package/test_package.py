"""The Debian package as an operator meets it: installed, run by the stock daemons, purged.

The package is built from this checkout and installed with apt. Debian's
icinga2 and nagios4 then run its checks as packaged: their own stock
configuration, started as their systemd units say, dropping root for the
nagios user, with one added file of hosts and services each (Nagios also gets
the example templates, as README says). The VMs are a running guest and a
shut-off domain on the tier's own libvirtd, whose sockets give nagios
read-only access, as a stock Debian hypervisor does. The checks of a
hypervisor run as nagios on that libvirtd and on a test-driver node with a
VM in each state and a storage pool. The tests run in file order: the last
one purges the package.
"""

from __future__ import annotations

import shutil
import stat
import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from harness.checknames import SERVICES
from harness.package import debpackage, stock_icinga2, stock_nagios4
from harness.package.nagiosuser import PYTHON3, group_names, run_as_nagios, uid
from harness.package.results import CRITICAL, OK, WARNING, DaemonRun, Expected, problems
from harness.package.service import SYSTEM_PATH
from harness.vm.hypervisor import LIBVIRT_SOCKET

from libcheck import __version__
from libcheck.registry import ALL_CHECKS, CHECKS, HOST_CHECKS, TOOLS
from libcheck.state import state_key

pytestmark = pytest.mark.realvm

PLUGINS = tuple(entry.executable for entry in ALL_CHECKS)
HYPERVISOR_PLUGINS = tuple(entry.executable for entry in HOST_CHECKS)
PLUGIN_DIR = Path("/usr/lib/nagios/plugins")
SHARE_DIR = Path("/usr/share/check-vm")
NAGIOS_COMMANDS = Path("/etc/nagios-plugins/config/check-vm.cfg")
DEBIAN_RUNTIME = {"python3", "python3-libvirt", "python3-nagiosplugin", "python3-lxml"}
URI = "qemu:///system"
READ_WRITE_URI = f"{URI}?socket={LIBVIRT_SOCKET}"
STATE_CHECKS = tuple(entry.name for entry in CHECKS)

RUNNING, SHUTOFF = "check-vm-running", "check-vm-shutoff"
RUNNING_CPU = Expected("VM_CPU", OK, ("cpu_usage", "vcpu0_usage", "vcpu1_usage"))
RUNNING_MEM = Expected("VM_MEM", OK, ("mem_usage", "mem_used"))
RUNNING_DISK = Expected("VM_DISK_IO", OK, ("vda_capacity", "vdb_capacity",
                                           "total_read_bytes_per_second"))
RUNNING_NIC = Expected("VM_NIC", OK, ("total_rx_bits_per_second", "total_tx_bits_per_second"))
# A memory warning at 1 %, which a running guest's kernel alone exceeds.
TIGHT_MEM = Expected("VM_MEM", WARNING, ("mem_usage",))
# The state policy's default for a stopped domain (--state-if-stopped critical).
STOPPED = {prefix: Expected(prefix, CRITICAL) for prefix in
           ("VM_CPU", "VM_MEM", "VM_DISK_IO", "VM_NIC")}

ICINGA2_EXPECTED = {
    RUNNING: RUNNING_CPU,
    f"{RUNNING}!vm-cpu": RUNNING_CPU,
    f"{RUNNING}!vm-mem": RUNNING_MEM,
    f"{RUNNING}!vm-disk-io": RUNNING_DISK,
    f"{RUNNING}!vm-nic": RUNNING_NIC,
    f"{RUNNING}!vm-mem-tight": TIGHT_MEM,
    SHUTOFF: STOPPED["VM_CPU"],
    f"{SHUTOFF}!vm-cpu": STOPPED["VM_CPU"],
}
# The services of check_vm-templates.cfg, and one with a service threshold.
NAGIOS4_EXPECTED = {
    RUNNING: RUNNING_CPU,
    f"{RUNNING}!VM CPU": RUNNING_CPU,
    f"{RUNNING}!VM memory": RUNNING_MEM,
    f"{RUNNING}!VM disk I/O": RUNNING_DISK,
    f"{RUNNING}!VM network": RUNNING_NIC,
    f"{RUNNING}!VM memory tight": TIGHT_MEM,
    SHUTOFF: STOPPED["VM_CPU"],
    f"{SHUTOFF}!VM CPU": STOPPED["VM_CPU"],
    f"{SHUTOFF}!VM memory": STOPPED["VM_MEM"],
    f"{SHUTOFF}!VM disk I/O": STOPPED["VM_DISK_IO"],
    f"{SHUTOFF}!VM network": STOPPED["VM_NIC"],
}


def icinga2_hosts(vms) -> list[stock_icinga2.VmHost]:
    services = {**{service: (command, {}) for service, command in SERVICES.items()},
                "vm-mem-tight": ("vm_mem", {"vm_mem_warning": "1"})}
    return [stock_icinga2.VmHost(RUNNING, vms.running.name, services),
            stock_icinga2.VmHost(SHUTOFF, vms.shutoff.name, {"vm-cpu": ("vm_cpu", {})})]


def nagios4_hosts(vms) -> list[stock_nagios4.VmHost]:
    return [stock_nagios4.VmHost(RUNNING, vms.running.name,
                                 {"VM memory tight": "check_vm_mem!--warning mem_usage=1"}),
            stock_nagios4.VmHost(SHUTOFF, vms.shutoff.name)]


@pytest.fixture(scope="module")
def icinga2_run(installed, vms, nagios_state, daemons_stopped,
                tmp_path_factory) -> DaemonRun:
    """Icinga 2's results after every check ran twice (the daemon stopped again)."""
    log = tmp_path_factory.mktemp("icinga2") / "daemon.out"
    try:
        return stock_icinga2.run_checks(icinga2_hosts(vms), log)
    except stock_icinga2.InvalidConfig as exc:
        pytest.fail(f"icinga2 daemon -C rejects the configuration:\n{exc}", pytrace=False)


@pytest.fixture(scope="module")
def nagios4_run(installed, vms, nagios_state, daemons_stopped,
                tmp_path_factory) -> DaemonRun:
    """Nagios's results after every check was forced once (the daemon stopped again)."""
    log = tmp_path_factory.mktemp("nagios4") / "daemon.out"
    try:
        return stock_nagios4.run_checks(nagios4_hosts(vms), log)
    except stock_nagios4.InvalidConfig as exc:
        pytest.fail(f"nagios4 -v rejects the configuration:\n{exc}", pytrace=False)


def not_private_to_nagios(path: Path, mode: int) -> str:
    """What is wrong when `path` is not nagios's with exactly `mode`; '' when it is."""
    info = path.stat()
    if (info.st_uid, stat.S_IMODE(info.st_mode)) == (uid(), mode):
        return ""
    return f"{path}: owner uid {info.st_uid}, mode {stat.S_IMODE(info.st_mode):o}"


def written_since(path: Path, since: float) -> bool:
    return path.exists() and path.stat().st_mtime >= since


def state_file_problems(directory: Path, stems: list[str], since: float) -> list[str]:
    """What betrays that the plugins did not run as nagios, or wrote no fresh state."""
    if not directory.is_dir():
        return [f"no state directory {directory}"]
    found = [not_private_to_nagios(directory, 0o700),
             *(not_private_to_nagios(entry, 0o700 if entry.is_dir() else 0o600)
               for entry in directory.rglob("*"))]
    if not any(entry.name.startswith("hostsnap-") for entry in directory.iterdir()):
        found.append(f"no host snapshot in {directory}")
    found += [f"{stem}.json: not written since {since}" for stem in stems
              if not written_since(directory / f"{stem}.json", since)]
    return [problem for problem in found if problem]


def running_guest_stems(vms) -> list[str]:
    return [state_key(URI, vms.running.uuid, check) for check in STATE_CHECKS]


# The installed layout.

def test_the_installed_version_is_the_library_version(installed):
    assert debpackage.field("Version") == __version__


def test_the_package_depends_on_debians_python_packages_only(installed):
    assert debpackage.depended_on() == DEBIAN_RUNTIME


def test_every_executable_runs_debians_python3_without_site(installed):
    executables = [path for path in debpackage.listed_paths()
                   if path.parent in (PLUGIN_DIR, Path("/usr/bin"))]
    assert sorted(path.name for path in executables) == sorted([*PLUGINS, *TOOLS])
    interpreters = {path.name: debpackage.shebang(path) for path in executables}
    assert interpreters == dict.fromkeys(interpreters, (PYTHON3, "-S"))


def test_the_library_is_byte_compiled(installed):
    modules = sorted((SHARE_DIR / "libcheck").glob("*.py"))
    compiled = {path.name.split(".")[0] for path in
                (SHARE_DIR / "libcheck" / "__pycache__").glob("*.pyc")}
    assert modules and {module.stem for module in modules} <= compiled


def test_the_graph_templates_are_installed_as_shipped(installed):
    shipped = Path(__file__).resolve().parents[2] / "graphs"
    templates = [*shipped.glob("icingaweb2/*.ini"), *shipped.glob("grafana/*.json")]
    copies = {path: SHARE_DIR / "graphs" / path.relative_to(shipped) for path in templates}
    listed = debpackage.listed_paths()
    assert len(copies) == 7
    assert [str(copy) for path, copy in copies.items()
            if copy not in listed or copy.read_bytes() != path.read_bytes()] == []


def test_the_library_is_not_on_pythons_path(installed):
    result = run_as_nagios(PYTHON3, "-c", "import libcheck")
    assert result.returncode == 1 and "No module named 'libcheck'" in result.stderr


def test_check_vm_inventory_is_on_the_path(installed):
    assert shutil.which("check_vm_inventory", path=SYSTEM_PATH) == "/usr/bin/check_vm_inventory"
    result = run_as_nagios("check_vm_inventory", "--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"check_vm_inventory {__version__}")


@pytest.mark.parametrize("plugin", PLUGINS)
def test_a_plugin_prints_the_version(installed, plugin):
    result = run_as_nagios(str(PLUGIN_DIR / plugin), "--version")
    assert (result.returncode, result.stdout.strip()) == (0, f"{plugin} {__version__}")


# What nagios may do on a stock hypervisor.

def test_nagios_gets_read_only_libvirt_access_and_no_more(vms):
    assert "libvirt" not in group_names()
    read_only = run_as_nagios(PYTHON3, "-c", f"import libvirt; libvirt.openReadOnly({URI!r})")
    assert read_only.returncode == 0, read_only.stderr
    read_write = run_as_nagios(PYTHON3, "-c", f"import libvirt; libvirt.open({URI!r})")
    assert read_write.returncode == 1 and "Permission denied" in read_write.stderr


@pytest.mark.parametrize("plugin", PLUGINS)
def test_a_plugin_refused_by_the_socket_names_the_fix(installed, vms, nagios_state, plugin):
    domain = () if plugin in HYPERVISOR_PLUGINS else ("--domain", vms.running.name)
    result = run_as_nagios(str(PLUGIN_DIR / plugin), "--connect", READ_WRITE_URI, *domain)
    lines = (result.stdout + result.stderr).splitlines()
    prefix = plugin.replace("check_", "", 1).upper()
    assert result.returncode == 3 and len(lines) == 1, result
    assert lines[0].startswith(f"{prefix} UNKNOWN - ")
    assert "auth_unix_ro" in lines[0] and "polkit" in lines[0]


# The checks of a hypervisor, as nagios.

HYPERVISOR_NODE = """<node>
  <cpu><nodes>1</nodes><sockets>1</sockets><cores>4</cores><threads>1</threads>
    <active>4</active><mhz>2000</mhz><model>i686</model></cpu>
  <memory>8388608</memory>
  <domain type='test'>
    <name>vm-up</name><memory unit='KiB'>1048576</memory><vcpu>2</vcpu>
    <os><type arch='i686'>hvm</type></os>
  </domain>
  <domain type='test' xmlns:test='http://libvirt.org/schemas/domain/test/1.0'>
    <name>vm-held</name><memory unit='KiB'>2097152</memory><vcpu>2</vcpu>
    <os><type arch='i686'>hvm</type></os><test:runstate>3</test:runstate>
  </domain>
  <pool type='dir'>
    <name>vmimages</name><target><path>/var/lib/libvirt/images</path></target>
    <volume type='file'><name>a.img</name>
      <capacity unit='GiB'>150</capacity><allocation unit='GiB'>20</allocation></volume>
  </pool>
</node>
"""


@pytest.fixture(scope="module")
def hypervisor_node_uri() -> Iterator[str]:
    """The test-driver URI of HYPERVISOR_NODE, in a file nagios may read."""
    directory = Path(tempfile.mkdtemp(prefix="check-vm-node-"))
    try:
        directory.chmod(0o755)
        node = directory / "node.xml"
        node.write_text(HYPERVISOR_NODE, encoding="utf-8")
        node.chmod(0o644)
        yield f"test://{node}"
    finally:
        shutil.rmtree(directory)


def test_check_vm_host_as_nagios_counts_the_hypervisors_vms(installed, vms, nagios_state):
    result = run_as_nagios(str(PLUGIN_DIR / "check_vm_host"), "--connect", URI,
                           "-c", "running=1:", "--expect-domain", vms.running.name,
                           "--expect-domain", vms.shutoff.name)
    assert (result.returncode, result.stderr) == (0, ""), result
    assert result.stdout.startswith(f"VM_HOST OK - {URI}: 1 running, 1 shut off")
    for item in ("running=1;;1:;0", "shutoff=1;;;0", "not_monitored=0;;;0", "gone=0;;;0"):
        assert f" {item}" in result.stdout, result.stdout


def test_check_vm_host_as_nagios_names_a_paused_vm(installed, nagios_state,
                                                   hypervisor_node_uri):
    result = run_as_nagios(str(PLUGIN_DIR / "check_vm_host"), "--connect", hypervisor_node_uri,
                           "--expect-domain", "vm-up", "--expect-domain", "vm-gone")
    assert result.returncode == 1, result
    assert result.stdout.startswith(f"VM_HOST WARNING - {hypervisor_node_uri}: vm-held: paused; "
                                    "vm-held: not monitored ")
    assert "\nvm-gone: expected, but not on this hypervisor" in result.stdout
    for item in ("running=1;", "paused=1;", "gone=1;", "not_monitored=1;", "host_cpus=4;",
                 "active_vcpus=4;", "vcpu_overcommit=1;", "mem_overcommit=0.375;"):
        assert f" {item}" in result.stdout, result.stdout


def test_check_vm_pool_as_nagios_judges_the_pool(installed, nagios_state, hypervisor_node_uri):
    # The test driver's pools are 100 GiB, allocated as their volumes say.
    result = run_as_nagios(str(PLUGIN_DIR / "check_vm_pool"), "--connect", hypervisor_node_uri,
                           "--volumes", "-w", "15", "-c", "vmimages_overcommit=2")
    assert result.returncode == 1, result
    assert result.stdout.startswith(f"VM_POOL WARNING - {hypervisor_node_uri}: vmimages 20.0% "
                                    "used (> 15)")
    for item in ("vmimages_usage=20%;15;;0;100", "vmimages_overcommit=1.5;;2;0",
                 "vmimages_capacity=107374182400B;"):
        assert f" {item}" in result.stdout or f"| {item}" in result.stdout, result.stdout


# Icinga 2 as packaged.

@pytest.mark.parametrize("name", ICINGA2_EXPECTED)
def test_icinga2_result(icinga2_run, name):
    result = icinga2_run.results.get(name)
    assert result, f"icinga2 recorded no result for {name}: {sorted(icinga2_run.results)}"
    assert problems(result, ICINGA2_EXPECTED[name], icinga2_run.started_at) == []


def test_icinga2_hands_a_service_threshold_to_the_plugin(icinga2_run):
    usage = icinga2_run.results[f"{RUNNING}!vm-mem-tight"].perfdata_items()["mem_usage"]
    assert float(usage.warn) == 1


def test_icinga2_runs_the_checks_as_nagios(icinga2_run, vms, nagios_state):
    stems = running_guest_stems(vms)
    assert state_file_problems(nagios_state, stems, icinga2_run.started_at) == []


# Nagios Core 4 as packaged.

@pytest.mark.parametrize("name", NAGIOS4_EXPECTED)
def test_nagios4_result(nagios4_run, name):
    result = nagios4_run.results.get(name)
    assert result, f"nagios4 recorded no result for {name}: {sorted(nagios4_run.results)}"
    assert problems(result, NAGIOS4_EXPECTED[name], nagios4_run.started_at) == []


def test_nagios4_hands_a_service_threshold_to_the_plugin(nagios4_run):
    usage = nagios4_run.results[f"{RUNNING}!VM memory tight"].perfdata_items()["mem_usage"]
    assert float(usage.warn) == 1


def test_nagios4_runs_the_checks_as_nagios(nagios4_run, vms, nagios_state):
    stems = running_guest_stems(vms)
    assert state_file_problems(nagios_state, stems, nagios4_run.started_at) == []


# Last: the purge.

def test_purge_removes_the_package_but_not_the_checks_state(installed, icinga2_run, nagios4_run,
                                                            nagios_state):
    listed, conffiles = debpackage.listed_paths(), debpackage.conffiles()
    assert NAGIOS_COMMANDS in conffiles
    state_files = sorted(path.name for path in nagios_state.iterdir())
    assert state_files, "the daemons' checks left no state to keep"
    debpackage.purge()
    assert debpackage.status() in ("", "not-installed")
    left = [path for path in {*listed, *conffiles} if path.exists() or path.is_symlink()]
    shared = debpackage.owned_by_any_package([path for path in left if path.is_dir()])
    assert sorted(set(left) - shared) == []
    assert not SHARE_DIR.exists() and not NAGIOS_COMMANDS.exists()
    assert sorted(path.name for path in nagios_state.iterdir()) == state_files
