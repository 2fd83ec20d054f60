"""Debian's Icinga 2 as packaged, with one added file of hosts and services.

/etc/icinga2 stays as Debian ships it; the CheckCommands come from the
package's plugins-contrib file, which the stock `include <plugins-contrib>`
loads. The added conf.d file names what to check and nothing else. The
results are read from the state file that Icinga 2 writes when it stops
(/var/lib/icinga2/icinga2.state: netstrings of JSON records, one per object,
each with the object's last check result).
"""

from __future__ import annotations

import json
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from harness.icinga.icinga2 import errors_of

from .aside import added_file, set_aside
from .results import DaemonRun, Result
from .service import PackagedService

ICINGA2 = "/usr/sbin/icinga2"
CONF_FILE = Path("/etc/icinga2/conf.d/check-vm-test.conf")
DATA_DIR = Path("/var/lib/icinga2")
STATE_FILE = DATA_DIR / "icinga2.state"
# What the daemon writes there and reads at its next start.
RUNTIME_FILES = (STATE_FILE, DATA_DIR / "modified-attributes.conf")
INTERVAL = 5
# Each check's first run is due within one interval; its second, one later.
CHECKS_TIME = 2 * INTERVAL + 4


@dataclass(frozen=True)
class VmHost:
    """A VM as an Icinga host (check vm_alive) with services: name -> (command, vars)."""

    name: str
    domain: str
    services: dict[str, tuple[str, dict[str, str]]] = field(default_factory=dict)


def quoted(text: str) -> str:
    return json.dumps(text)


def host_object(host: VmHost) -> str:
    return (f'object Host {quoted(host.name)} {{\n'
            f'\tcheck_command = "vm_alive"\n'
            f'\tcheck_interval = {INTERVAL}s\n\tretry_interval = {INTERVAL}s\n'
            f'\tvars.vm_name = {quoted(host.domain)}\n}}\n')


def service_object(host: str, name: str, command: str, variables: dict[str, str]) -> str:
    lines = [f"\tvars.{key} = {quoted(value)}\n" for key, value in variables.items()]
    return (f'object Service {quoted(name)} {{\n'
            f'\thost_name = {quoted(host)}\n\tcheck_command = {quoted(command)}\n'
            f'\tcheck_interval = {INTERVAL}s\n\tretry_interval = {INTERVAL}s\n'
            f'{"".join(lines)}}}\n')


def config_text(hosts: list[VmHost]) -> str:
    """The one added file: the VMs as hosts, and their services."""
    parts = ["/* check_vm package tier: VMs checked by the package's CheckCommands. */\n"]
    for host in hosts:
        parts.append(host_object(host))
        parts += [service_object(host.name, name, command, variables)
                  for name, (command, variables) in host.services.items()]
    return "\n".join(parts)


def validate() -> str:
    """`icinga2 daemon -C` of the stock configuration: its critical lines, if any."""
    result = subprocess.run([ICINGA2, "daemon", "-C"], capture_output=True, text=True,
                            timeout=120, cwd="/", check=False)
    if result.returncode == 0:
        return ""
    return errors_of(result) or (result.stdout + result.stderr)[-2000:]


def netstring_records(data: bytes) -> list[dict]:
    """The JSON records of a file of netstrings (`LENGTH:JSON,` after one another)."""
    records, position = [], 0
    while position < len(data):
        colon = data.index(b":", position)
        end = colon + 1 + int(data[position:colon])
        records.append(json.loads(data[colon + 1:end]))
        position = end + 1
    return records


def as_result(check_result: dict) -> Result:
    """A CheckResult record: Icinga has already split the perfdata from the output."""
    lines = check_result["output"].splitlines() or [""]
    return Result(state=int(check_result["exit_status"]), output=lines[0],
                  perfdata=" ".join(check_result.get("performance_data") or []),
                  executed_at=float(check_result["execution_start"]))


def read_results(path: Path = STATE_FILE) -> dict[str, Result]:
    """Every host's and service's last check result in a state file, by name."""
    results = {}
    for record in netstring_records(path.read_bytes()):
        check_result = record.get("update", {}).get("last_check_result")
        if record.get("type") in ("Host", "Service") and check_result:
            results[record["name"]] = as_result(check_result)
    return results


class InvalidConfig(Exception):
    """`icinga2 daemon -C` rejected the configuration; the message has its critical lines."""


def run_checks(hosts: list[VmHost], log: Path) -> DaemonRun:
    """Add the hosts file, start icinga2 as packaged, let every check run twice,
    stop it and read what it recorded; /etc and /var/lib/icinga2 as before after."""
    with added_file(CONF_FILE, config_text(hosts)), set_aside(*RUNTIME_FILES):
        errors = validate()
        if errors:
            raise InvalidConfig(errors)
        daemon = PackagedService("icinga2", log)
        started_at = time.time()
        try:
            daemon.start()
            time.sleep(CHECKS_TIME)
            if not daemon.running():
                raise RuntimeError(f"icinga2 exited early:\n{daemon.output_tail()}")
        finally:
            daemon.stop()
        return DaemonRun(started_at, read_results())
