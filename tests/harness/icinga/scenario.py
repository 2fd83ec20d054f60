"""One run of the Icinga 2 daemon over a set of hosts, and what came of it.

`run_scenario` starts a daemon with the shipped commands.conf and
templates.conf, the apply rules of the shipped examples and of templates.conf
(their intervals shortened) and the test's hosts; waits until every expected service has two
check results (the second one a rate over the interval between them) and
every host has been checked; and returns the last results with every point
the InfluxdbWriter stored in the real InfluxDB the caller runs (read back
with InfluxQL).
"""

from __future__ import annotations

import contextlib
import re
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from harness.graphs.databases import InfluxDB
from harness.graphs.stored import Point, influx_points
from harness.paths import ICINGA_CONF
from harness.polling import wait_for

from .icinga2 import Daemon, influxdb_writer

INTERVAL = 5
NODE = "check-vm-test-node"
EXAMPLES = ("example-hosts-per-vm.conf", "example-hypervisor-vms.conf")

# The state of every check, in one place the daemon's user can write.
STATE_DIR_CONFIG = """\
object IcingaApplication "app" {{
	vars.vm_state_dir = "{state_dir}"
}}
"""


def shipped_apply_rules(name: str, interval: int = INTERVAL) -> str:
    """The apply rules of a shipped example, with the test's short intervals."""
    text = (ICINGA_CONF / name).read_text()
    return shortened_rules(text[text.index("\napply Service"):], name, interval, 4)


def shortened_rules(rules: str, name: str, interval: int, at_least: int) -> str:
    """Apply rules with `interval` set right after each one's import."""
    shortened, count = re.subn(
        r'(\n\timport "vm-[a-z-]+"\n)',
        rf"\1\tcheck_interval = {interval}s\n\tretry_interval = {interval}s\n", rules)
    assert count == rules.count("\napply Service") >= at_least, f"{name}: update this test"
    return shortened


def shipped_templates(path: Path, interval: int = INTERVAL) -> Path:
    """templates.conf written to `path` with its apply rules (the hypervisor's
    services) at the test's short intervals, the templates unchanged."""
    text = (ICINGA_CONF / "templates.conf").read_text()
    start = text.index("\napply Service")
    path.write_text(text[:start] + shortened_rules(text[start:], "templates.conf", interval, 2))
    return path


@dataclass
class Run:
    """What the daemon did: the last result of every service and host, the stored points."""

    daemon: Daemon
    services: dict[str, dict]
    hosts: dict[str, dict]
    points: list[Point]

    def result(self, name: str) -> dict:
        return self.services[name]["last_check_result"]


def command_has(result: dict, *argv: str) -> bool:
    """True when the command line contains `argv` as consecutive arguments."""
    command, n = result["command"], len(argv)
    return any(command[i:i + n] == list(argv) for i in range(len(command) - n + 1))


def results_per_checkable(points: Iterable[Point]) -> Counter:
    """Check results per service (or host): the writer sends one metadata point each."""
    return Counter(point.service for point in points if point.label is None)


def two_results_each(daemon: Daemon, influx: InfluxDB, services: Iterable[str]) -> None:
    services = list(services)

    def enough() -> bool:
        counts = results_per_checkable(influx_points(influx))
        return all(counts[name] >= 2 for name in services)
    wait_for(enough, 60, f"two check results of each of {services}", daemon.log_tail)


def forced_host_checks(daemon: Daemon, hosts: Iterable[str]) -> dict[str, dict]:
    """Check every host now (their interval is a minute) and return the results."""
    hosts = list(hosts)
    started = time.time()
    daemon.api("/v1/actions/reschedule-check",
               {"type": "Host", "filter": "true", "force": True})

    def checked():
        found = daemon.objects("Host", "last_check_result", "state")
        done = all((found[name]["last_check_result"] or {}).get("schedule_start", 0) >= started
                   for name in hosts)
        return found if done else None
    return wait_for(checked, 30, "the forced host checks", daemon.log_tail)


def flushed(influx: InfluxDB, services: dict[str, dict], daemon: Daemon) -> list[Point]:
    """The stored points, once those of every service's last result are in."""
    wanted = {(name, int(attrs["last_check_result"]["execution_end"]))
              for name, attrs in services.items()}

    def complete():
        points = influx_points(influx)
        return points if wanted <= {(p.service, p.timestamp) for p in points} else None
    return wait_for(complete, 10, "the InfluxdbWriter's points", daemon.log_tail)


@contextlib.contextmanager
def run_scenario(root: Path, influx: InfluxDB, hosts: dict[str, str], services: Iterable[str],
                 host_names: Iterable[str]) -> Iterator[Run]:
    """Start, wait for the results, yield them; stop the daemon whatever happens.

    `hosts` maps file names to config text for zone "master"; `services` and
    `host_names` are what to wait for. The InfluxdbWriter writes into `influx`.
    """
    influx.create_database()
    daemon = Daemon(root, influxdb_writer(influx.http_port), node=NODE,
                    templates=shipped_templates(root / "templates.conf"))
    try:
        (root / "state").mkdir()
        daemon.add_config("state-dir.conf", STATE_DIR_CONFIG.format(state_dir=root / "state"))
        for example in EXAMPLES:
            daemon.add_config(f"rules-{example}", shipped_apply_rules(example))
        for name, text in hosts.items():
            daemon.add_config(name, text)
        daemon.start()
        two_results_each(daemon, influx, services)
        last = daemon.objects("Service", "last_check_result")
        checked_hosts = forced_host_checks(daemon, host_names)
        yield Run(daemon, last, checked_hosts, flushed(influx, last, daemon))
    finally:
        daemon.stop()
