"""The shipped Icinga 2 configuration, as `icinga2 daemon -C` compiles it.

The files are loaded unchanged, the way an operator installs them: the example
zones.conf, commands.conf and templates.conf in the global zone, the examples
(and check_vm_inventory's output) in the satellite zone that is the parent of
the hypervisors' agent zones. The compiled objects (the daemon's debug object
file) show what the apply rules made of them.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional

import pytest
from harness.checknames import HOST_COMMAND
from harness.icinga.environment import AWKWARD_NAME, inventory, write_awkward_node
from harness.icinga.icinga2 import compiled_objects, errors_of, validate
from harness.paths import CHECKS, ICINGA_CONF, NODE_URI

from libcheck.inventory import object_name
from libcheck.registry import CHECKS as REGISTERED

pytestmark = pytest.mark.usefixtures("daemons_installed")

GLOBAL_FILES = ("commands.conf", "templates.conf")
SATELLITE_FILES = ("example-hosts-per-vm.conf", "example-hypervisor-vms.conf")
# Every CheckCommand -> the plugin it runs: one per registered check, and the host
# check, which runs the CPU check.
PLUGINS = {**{entry.command: entry.executable for entry in REGISTERED},
           HOST_COMMAND: "check_vm_cpu"}
REPEATABLE = {"--warning", "--critical", "--disk", "--exclude-disk", "--interface",
              "--exclude-interface"}


def zoned_config(root: Path, conf: Path = ICINGA_CONF,
                 extra: Optional[dict[str, str]] = None) -> Path:
    """A main config loading the files of `conf` as an operator would; `extra`
    adds files (name -> text) to the satellite zone."""
    zones = root / "zones.d"
    for zone, names in (("global-templates", GLOBAL_FILES), ("satellite", SATELLITE_FILES)):
        (zones / zone).mkdir(parents=True, exist_ok=True)
        for name in names:
            (zones / zone / name).symlink_to(conf / name)
    for name, text in (extra or {}).items():
        (zones / "satellite" / name).write_text(text)
    config = root / "icinga2.conf"
    config.write_text(f'const CheckVmPluginDir = "{CHECKS}"\n'
                      "include <itl>\n"
                      f'include "{conf / "example-zones.conf"}"\n'
                      f'include_zones "check_vm", "{zones}"\n')
    return config


def validated(root: Path, **kwargs) -> tuple[subprocess.CompletedProcess, dict]:
    result = validate(zoned_config(root, **kwargs), root)
    assert result.returncode == 0, errors_of(result)
    return result, compiled_objects(root)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory) -> dict:
    """The compiled objects of the shipped configuration."""
    return validated(tmp_path_factory.mktemp("shipped"))[1]


def service(objects: dict, name: str) -> dict:
    assert ("Service", name) in objects, sorted(
        key[1] for key in objects if key[0] == "Service")
    return objects["Service", name]


# -- the shipped files ---------------------------------------------------------

def test_hosts_per_vm_get_a_service_per_check_and_device(shipped):
    web = "web01.example.com"
    for name in ("vm-cpu", "vm-mem", "disk vda", "disk vdb", "nic 52:54:00:6b:3c:01"):
        assert service(shipped, f"{web}!{name}")["command_endpoint"] == "hv1.example.com"
    # Per-device services replace the VM-wide one; a VM without a list keeps it.
    assert ("Service", f"{web}!vm-disk-io") not in shipped
    assert service(shipped, "db01.example.com!vm-disk-io")["check_command"] == "vm_disk_io"
    assert service(shipped, f"{web}!disk vdb")["vars"]["vm_disk_io_disk"] == ["vdb"]
    nic = service(shipped, f"{web}!nic 52:54:00:6b:3c:01")["vars"]
    assert nic["vm_nic_interface"] == ["52:54:00:6b:3c:01"]
    assert nic["vm_nic_speed"] == "1G"


def test_a_vm_host_is_checked_on_its_hypervisor(shipped):
    host = shipped["Host", "web01.example.com"]
    assert host["check_command"] == "vm_alive"
    assert host["command_endpoint"] == "hv1.example.com"
    assert host["vars"]["vm_name"] == "web01"
    assert host["vars"]["vm_cpu_critical"] == ["95", "vcpu_usage=99"]
    assert shipped["Host", "db01.example.com"]["vars"]["vm_name"] == "db01"


def test_hypervisor_vms_get_their_own_thresholds(shipped):
    web = service(shipped, "hv1.example.com!vm-cpu web01")
    assert web["vars"]["vm_name"] == "web01"
    assert web["vars"]["vm_cpu_warning"] == "80"
    assert web["command_endpoint"] == "hv1.example.com"
    assert "vm_cpu_warning" not in service(shipped, "hv1.example.com!vm-cpu db01")["vars"]
    assert service(shipped, "hv1.example.com!vm-mem build 7")["vars"]["vm_name"] == "build 7"
    assert service(shipped, "hv1.example.com!vm-disk-io db01")["vars"]["vm_disk_io_disk"] == [
        "vda", "vdb"]


def test_templates_set_the_intervals(shipped):
    intervals = {name: shipped["Service", f"web01.example.com!{name}"]["check_interval"]
                 for name in ("vm-cpu", "vm-mem", "disk vda", "nic 52:54:00:6b:3c:01")}
    assert intervals == {"vm-cpu": 60, "vm-mem": 120, "disk vda": 60,
                         "nic 52:54:00:6b:3c:01": 60}
    cpu = shipped["Service", "web01.example.com!vm-cpu"]
    assert (cpu["retry_interval"], cpu["max_check_attempts"]) == (30, 3)


def test_plugin_dir_constant_is_used(shipped):
    for command, plugin in PLUGINS.items():
        assert shipped["CheckCommand", command]["command"] == [str(CHECKS / plugin)]


# -- commands.conf against the plugins' --help -------------------------------------

_OPTION_LINE = re.compile(r"^  (?:-\w(?: \S+)?, )?(--[a-z][a-z-]+)", re.MULTILINE)


def help_text(plugin: str) -> str:
    return subprocess.run([sys.executable, str(CHECKS / plugin), "--help"], check=True,
                          capture_output=True, text=True).stdout


def help_options(plugin: str) -> set[str]:
    """Every long option of a plugin, from its --help."""
    return set(_OPTION_LINE.findall(help_text(plugin)))


def help_defaults(plugin: str) -> dict[str, str]:
    """Option -> the "(default: ...)" of its help, where it says one."""
    text = help_text(plugin).split("\noptions:\n", 1)[1].split("\n\n", 1)[0]
    starts = [(match.start(), match[1]) for match in _OPTION_LINE.finditer(text)]
    defaults = {}
    for (start, option), (end, _) in zip(starts, [*starts[1:], (len(text), "")]):
        paragraph = " ".join(text[start:end].split())
        found = re.search(r"default: (.*)\)$", paragraph)
        if found:
            defaults[option] = found[1]
    return defaults


def expected_keys(command: str) -> set[str]:
    options = help_options(PLUGINS[command]) - {"--help", "--version", "--verbose"}
    if command == "vm_alive":  # a host check: no thresholds
        options -= {"--warning", "--critical"}
    return options | {"-v", "-vv", "-vvv"}


@pytest.mark.parametrize("command", sorted(PLUGINS))
def test_every_plugin_option_is_an_argument(shipped, command):
    arguments = shipped["CheckCommand", command]["arguments"]
    assert set(arguments) == expected_keys(command)


@pytest.mark.parametrize("command", sorted(PLUGINS))
def test_descriptions_quote_the_plugins_defaults(shipped, command):
    arguments = shipped["CheckCommand", command]["arguments"]
    described = {key: found[1] for key, argument in arguments.items()
                 if (found := re.search(r"default: (.*)\)$", argument["description"]))}
    expected = {option: default for option, default in help_defaults(PLUGINS[command]).items()
                if option in arguments}
    assert described == expected


@pytest.mark.parametrize("command", sorted(PLUGINS))
def test_arguments_follow_the_itl_conventions(shipped, command):
    arguments = shipped["CheckCommand", command]["arguments"]
    for key, argument in arguments.items():
        assert argument.get("description"), key
        if key.startswith("--"):
            assert argument["value"] == f"${command}_{key[2:].replace('-', '_')}$", key
            assert bool(argument.get("repeat_key")) == (key in REPEATABLE), key
        else:  # -v, -vv, -vvv: set_if is a function of <command>_verbose
            assert f"{command}_verbose = {len(key) - 1}" in argument["description"], key
    assert arguments["--domain"]["required"] is True


@pytest.mark.parametrize("command", sorted(PLUGINS))
def test_vm_level_variables_are_the_defaults(shipped, command):
    defaults = shipped["CheckCommand", command]["vars"]
    assert defaults[f"{command}_domain"] == "$vm_name$"
    assert defaults[f"{command}_connect"] == "$vm_connect$"
    assert defaults[f"{command}_state_dir"] == "$vm_state_dir$"


# -- a broken reference must fail ------------------------------------------------------

# case -> (file, text, replacement, what the error must name)
BREAKS = {
    "unchanged": None,
    "missing command": ("templates.conf", 'check_command = "vm_mem"',
                        'check_command = "vm_mem_nowhere"', "vm_mem_nowhere"),
    "missing template": ("example-hosts-per-vm.conf", 'import "vm-nic"',
                         'import "vm-nic-nowhere"', "vm-nic-nowhere"),
    "missing endpoint": ("example-zones.conf", 'object Endpoint "hv2.example.com"',
                         'object Endpoint "hv2-nowhere"', "hv2.example.com"),
    "missing constant": ("commands.conf", 'CheckVmPluginDir + "/check_vm_nic"',
                         'CheckVmPluginDirNowhere + "/check_vm_nic"',
                         "CheckVmPluginDirNowhere"),
}


def broken_copy(root: Path, case: str) -> Path:
    """A copy of icinga2-conf/ with one reference broken (or none)."""
    conf = root / "icinga2-conf"
    shutil.copytree(ICINGA_CONF, conf)
    if BREAKS[case]:
        name, text, replacement, _ = BREAKS[case]
        source = (conf / name).read_text()
        assert text in source, f"{name} no longer contains {text!r}: update this test"
        (conf / name).write_text(source.replace(text, replacement, 1))
    return conf


@pytest.mark.parametrize("case", sorted(BREAKS))
def test_a_broken_reference_fails_validation(tmp_path, case):
    result = validate(zoned_config(tmp_path, conf=broken_copy(tmp_path, case)), tmp_path)
    if BREAKS[case] is None:
        assert result.returncode == 0, errors_of(result)
    else:
        assert result.returncode != 0
        assert BREAKS[case][3] in errors_of(result), errors_of(result)


# -- check_vm_inventory's output ------------------------------------------------------

def test_inventory_output_compiles_with_the_examples(tmp_path):
    node = inventory("--connect", NODE_URI, "--all", "--hypervisor", "hv1.example.com")
    awkward_uri = write_awkward_node(tmp_path / "awkward.xml")
    awkward = inventory("--connect", awkward_uri, "--hypervisor", "hv2.example.com")
    _, objects = validated(tmp_path / "conf", extra={"node.conf": node, "awkward.conf": awkward})
    quoted = objects["Host", "db 01 'quoted'"]
    assert (quoted["vars"]["vm_name"], quoted["command_endpoint"]) == (
        "db 01 'quoted'", "hv1.example.com")
    for name in ("vm-cpu", "disk vda", "disk vdb", "nic 52:54:00:00:00:01"):
        assert ("Service", f"web01!{name}") in objects, name
    assert ("Service", "web01!disk sda") not in objects  # the empty cdrom
    assert ("Service", "stopped01!vm-cpu") in objects
    # `!` is not allowed in object names; the domain name survives in vm_name,
    # with `$` doubled so that Icinga's macro resolution gives it back.
    host = objects["Host", object_name(AWKWARD_NAME)]
    assert host["vars"]["vm_name"] == AWKWARD_NAME.replace("$", "$$")
