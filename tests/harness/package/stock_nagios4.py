"""Debian's Nagios Core 4 as packaged, with the example templates and one file of hosts.

/etc/nagios4/nagios.cfg stays as Debian ships it: it loads the package's
command definitions from /etc/nagios-plugins/config and every file in
/etc/nagios4/conf.d. There the tier does what README tells an operator: it
copies check_vm-templates.cfg from the package's examples and adds its own
file of VM hosts in place of the example hosts. The stock configuration
spreads the first checks over up to half an hour, so the tier forces every
check through the external command file and reads status.dat until each
result is newer than the daemon.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from harness.icinga.nagios import status_blocks
from harness.polling import poll

from .aside import added_file, set_aside
from .results import CRITICAL, OK, UNKNOWN, DaemonRun, Result
from .service import PackagedService

NAGIOS4 = "/usr/sbin/nagios4"
MAIN_CONFIG = Path("/etc/nagios4/nagios.cfg")
CONF_DIR = Path("/etc/nagios4/conf.d")
EXAMPLE_TEMPLATES = Path("/usr/share/doc/check-vm/examples/nagios/check_vm-templates.cfg")
HOSTS_FILE = CONF_DIR / "check-vm-test.cfg"
RESULTS_TIMEOUT = 90
COMMAND_FILE_TIMEOUT = 30
# Nagios turns a host check's exit 2 (and 3) into DOWN: the plugin's own word
# in the output tells them apart.
HOST_STATES = {0: OK, 1: CRITICAL, 2: UNKNOWN}  # UP, DOWN, UNREACHABLE


@dataclass(frozen=True)
class VmHost:
    """A VM as a Nagios host (template check-vm-host) and its own extra services:
    service_description -> check_command (with !ARGS)."""

    name: str
    domain: str
    extra_services: dict[str, str] = field(default_factory=dict)


def host_definition(host: VmHost) -> str:
    return ("define host {\n"
            "    use                     check-vm-host\n"
            f"    host_name               {host.name}\n"
            f"    _VM_NAME                {host.domain}\n"
            "}\n")


def service_definition(host: str, description: str, command: str) -> str:
    return ("define service {\n"
            "    use                     check-vm-service\n"
            f"    host_name               {host}\n"
            f"    service_description     {description}\n"
            f"    check_command           {command}\n"
            "}\n")


def config_text(hosts: list[VmHost]) -> str:
    """The added file: the VMs as hosts (the hostgroup gives them the four services)."""
    parts = ["# check_vm package tier: VMs checked by the package's commands.\n"]
    for host in hosts:
        parts.append(host_definition(host))
        parts += [service_definition(host.name, description, command)
                  for description, command in host.extra_services.items()]
    return "\n".join(parts)


def main_settings() -> dict[str, str]:
    """The single-valued settings of the stock nagios.cfg (command_file, status_file...)."""
    settings = {}
    for line in MAIN_CONFIG.read_text().splitlines():
        if "=" in line and not line.lstrip().startswith("#"):
            key, value = line.split("=", 1)
            settings[key.strip()] = value.strip()
    return settings


def verify() -> str:
    """`nagios4 -v /etc/nagios4/nagios.cfg`: its output when it fails, else ''."""
    result = subprocess.run([NAGIOS4, "-v", str(MAIN_CONFIG)], capture_output=True,
                            text=True, timeout=60, cwd="/", check=False)
    return "" if result.returncode == 0 else result.stdout + result.stderr


def external_commands(hosts: list[VmHost], now: int) -> str:
    """Force every host check and every service check of `hosts`, now."""
    lines = []
    for host in hosts:
        lines.append(f"[{now}] SCHEDULE_FORCED_HOST_CHECK;{host.name};{now}\n")
        lines.append(f"[{now}] SCHEDULE_FORCED_HOST_SVC_CHECKS;{host.name};{now}\n")
    return "".join(lines)


def open_for_writing(pipe: Path) -> int | None:
    """A write end of Nagios's command pipe, or None while Nagios does not read it yet."""
    try:
        return os.open(pipe, os.O_WRONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno == errno.ENXIO:  # the pipe exists, its reader does not
            return None
        raise


def send(command_file: Path, text: str) -> None:
    """Write `text` to Nagios's command pipe as soon as Nagios reads it."""
    def opened() -> Optional[list[int]]:
        descriptor = open_for_writing(command_file)
        return None if descriptor is None else [descriptor]
    found = poll(opened, COMMAND_FILE_TIMEOUT, 0.2)
    if found is None:
        raise TimeoutError(f"nagios4 did not open {command_file}")
    with os.fdopen(found[0], "w") as pipe:
        pipe.write(text)


def as_result(block: dict[str, str], host_check: bool) -> Result:
    state = int(block["current_state"])
    return Result(state=HOST_STATES[state] if host_check else state,
                  output=block["plugin_output"], perfdata=block["performance_data"],
                  executed_at=float(block["last_check"]))


def read_results(status_file: Path, hosts: list[VmHost]) -> dict[str, Result]:
    """The results status.dat holds for `hosts`, by Icinga-style name (host!service)."""
    if not status_file.exists():
        return {}
    names = {host.name for host in hosts}
    results = {block["host_name"]: as_result(block, True)
               for block in status_blocks(status_file, "hoststatus")
               if block["host_name"] in names}
    results.update({f"{block['host_name']}!{block['service_description']}": as_result(block, False)
                    for block in status_blocks(status_file, "servicestatus")
                    if block["host_name"] in names})
    return results


def wait_for_fresh_results(status_file: Path, hosts: list[VmHost], since: float,
                           daemon: PackagedService) -> dict[str, Result]:
    """Read status.dat until every result of `hosts` is from `since` on."""
    def fresh() -> Optional[dict[str, Result]]:
        if not daemon.running():
            raise RuntimeError(f"nagios4 exited early:\n{daemon.output_tail()}")
        results = read_results(status_file, hosts)
        if results and all(result.executed_at >= since for result in results.values()):
            return results
        return None
    found = poll(fresh, RESULTS_TIMEOUT, 1)
    if found is not None:
        return found
    raise TimeoutError(f"no fresh results in {status_file} after {RESULTS_TIMEOUT} s: "
                       f"{read_results(status_file, hosts)}")


class InvalidConfig(Exception):
    """`nagios4 -v` rejected the configuration; the message has its output."""


def run_checks(hosts: list[VmHost], log: Path) -> DaemonRun:
    """Copy the templates, add the hosts file, start nagios4 as packaged, force every
    check, wait for the results; /etc and /var/lib/nagios4 as before after."""
    settings = main_settings()
    with contextlib.ExitStack() as stack:
        stack.enter_context(added_file(CONF_DIR / EXAMPLE_TEMPLATES.name,
                                       EXAMPLE_TEMPLATES.read_text()))
        stack.enter_context(added_file(HOSTS_FILE, config_text(hosts)))
        # What the daemon reads back at its next start.
        stack.enter_context(set_aside(Path(settings["status_file"]),
                                      Path(settings["state_retention_file"])))
        errors = verify()
        if errors:
            raise InvalidConfig(errors)
        daemon = PackagedService("nagios4", log)
        # Nagios keeps whole seconds.
        started_at = float(math.floor(time.time()))
        try:
            daemon.start()
            send(Path(settings["command_file"]), external_commands(hosts, int(time.time())))
            results = wait_for_fresh_results(Path(settings["status_file"]), hosts, started_at,
                                             daemon)
        finally:
            daemon.stop()
        return DaemonRun(started_at, results)
