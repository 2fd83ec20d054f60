"""One Icinga 2 daemon graphing a real guest while the test commands its work.

The daemon (harness.icinga.icinga2.Daemon, as the Icinga tier runs it) loads the
shipped commands.conf, templates.conf and the apply rules of
example-hosts-per-vm.conf (every interval shortened to INTERVAL), one host for
the guest without vm_disks or vm_interfaces: services vm-cpu, vm-mem,
vm-disk-io and vm-nic, one per check; and the hypervisor's Host
(hypervisorhost.py), to which templates.conf's own apply rules give vm-host and
vm-pool on the tier's libvirtd, with the guest as its expected domain and at
least one active pool. Its GraphiteWriter writes into the tier's carbon-cache,
its InfluxdbWriter into the tier's InfluxDB. The plugins run through timed
wrappers (timedplugins.py); the VM checks read libvirt on every run (snapshot
max age 0), so each run's samples lie inside it. check_vm_host keeps its
default: it refreshes the host snapshot, which the VM checks never read, and
keeps no state of the guest's checks.

Once every service has two results, each round commands, one after the
other through the guest's command channel, with the wall clock read around
each (`marks`): vCPU 1 busy for BUSY_SECONDS; 32 MiB written to vda and 16
MiB read from vdb (O_DIRECT, 512 KiB requests); PINGS pings of PING_SIZE
bytes to the tap's host end; 64 MiB held in tmpfs for HOLD_SECONDS, then
freed. The stretches after the busy one cost the domain CPU time too (0.4 to
0.7 s under TCG), so they wait until every service has run once after it:
the CPU counter's points around the busy stretch then span no other work.
The run ends when every service, the hypervisor's too, has two results that
began after the last work, stored in both databases; the daemon is stopped
before the run is handed on, so the databases hold a fixed set of points.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from harness.checknames import SERVICES as CHECK_SERVICES
from harness.icinga.icinga2 import Daemon, graphite_writer, influxdb_writer
from harness.icinga.scenario import (
    NODE,
    STATE_DIR_CONFIG,
    shipped_apply_rules,
    shipped_templates,
)
from harness.polling import wait_for
from harness.vm.domains import Guest
from harness.vm.hypervisor import Hypervisor

from . import hypervisorhost
from .databases import CarbonCache, GraphiteWeb, InfluxDB
from .stored import Point, influx_points
from .timedplugins import Run, runs_of, write_wrappers

INTERVAL = 10
BUSY_SECONDS = 20
BUSY_VCPU = 1
WRITE_DISK, WRITE_MIB = "vda", 32
READ_DISK, READ_MIB = "vdb", 16
REQUEST_BYTES = 512 * 1024
PINGS, PING_SIZE = 20, 1000
PING_FRAME = PING_SIZE + 42  # Ethernet 14 + IPv4 20 + ICMP 8 + payload
HELD_MIB = 64
# The balloon's statistics period: a run that starts this long (and a margin) after
# a change reads a poll that saw it.
STATS_PERIOD = 2
POLL_MARGIN = 0.5
HOLD_SECONDS = INTERVAL + 2 * STATS_PERIOD + 2
MIB = 1024 * 1024
# service -> CheckCommand (the InfluxDB measurement and Graphite's command part).
# One service per registered check: service name -> command.
SERVICES = CHECK_SERVICES
# The same of the hypervisor's Host, and of both.
HYPERVISOR_SERVICES = hypervisorhost.SERVICES
ALL_SERVICES = {**SERVICES, **HYPERVISOR_SERVICES}
EXAMPLE = "example-hosts-per-vm.conf"
RESULT_TIMEOUT = 4 * INTERVAL + 30

HOST = """\
object Host "{name}" {{
	import "vm-host"
	vars.hypervisor = NodeName
	command_endpoint = vars.hypervisor
	vars.vm_connect = "{uri}"
	enable_active_checks = false
{snapshot}
}}
"""


def host_config(name: str, uri: str) -> str:
    """The guest's host: the shipped services, each reading libvirt on every run.

    The host is never checked: a host check result made Icinga run the services
    again at once, and two results of a service within one second are one point in
    both databases (whole-second stamps), which loses the first one's rate.
    """
    snapshot = "\n".join(f"\tvars.{command}_snapshot_max_age = 0"
                         for command in SERVICES.values())
    return HOST.format(name=name, uri=uri, snapshot=snapshot)


def plugin_of(service: str) -> str:
    return f"check_{ALL_SERVICES[service]}"


@dataclass
class GraphRun:
    """The daemon's run: where everything is, and when the work was done."""

    host: str
    vm: Guest
    daemon: Daemon
    carbon: CarbonCache
    web: GraphiteWeb
    influx: InfluxDB
    log_dir: Path
    started: float
    rounds: list[dict[str, tuple[float, float]]] = field(default_factory=list)
    ended: float = 0.0
    # When the work's results were all in both databases, before the daemon stopped:
    # a result written while it stops may reach one writer only.
    settled: float = 0.0
    # The Icinga host of vm-host and vm-pool, and the pools check_vm_pool judges.
    hypervisor_host: str = hypervisorhost.NAME
    pools: list[str] = field(default_factory=list)

    def runs(self, service: str) -> list[Run]:
        """Every run of the service's plugin, timed."""
        return runs_of(self.log_dir, plugin_of(service))

    def host_of(self, service: str) -> str:
        """The Icinga host of a service: the guest's, or the hypervisor's."""
        return self.hypervisor_host if service in HYPERVISOR_SERVICES else self.host

    def prefix(self, service: str) -> str:
        """Graphite's name of the service: GraphiteWriter's default service template."""
        return f"icinga2.{escape_metric(self.host_of(service))}.services." \
               f"{escape_metric(service)}.{ALL_SERVICES[service]}"

    def graphite_name(self, service: str, label: str, kind: str = "value") -> str:
        return f"{self.prefix(service)}.perfdata.{label}.{kind}"

    def graphite_points(self, service: str, label: str, kind: str = "value") -> dict[int, float]:
        """timestamp -> value of one series, from the render API's JSON (none while
        carbon has not created the series)."""
        found = self.web.render_json(self.graphite_name(service, label, kind),
                                        from_=str(int(self.started) - 1),
                                        until=str(int(self.ended or time.time()) + 2))
        return {stamp: value for series in found for value, stamp in series["datapoints"]
                if value is not None}

    def points(self) -> list[Point]:
        """Every point InfluxDB stored."""
        return influx_points(self.influx)


def escape_metric(name: str) -> str:
    """What Icinga 2.13's GraphiteWriter makes of a host or service name."""
    for char in " .\\/":
        name = name.replace(char, "_")
    return name


def mark(run: GraphRun, marks: dict, name: str, *commands: str, timeout: float = 60) -> None:
    """Run guest commands, the wall clock read just before and just after."""
    start = time.time()
    for command in commands:
        run.vm.command(command, timeout=timeout)
    marks[name] = (start, time.time())


def one_round(run: GraphRun) -> None:
    """The commanded work, one stretch per check."""
    marks: dict[str, tuple[float, float]] = {}
    mark(run, marks, "cpu", f"cpu {BUSY_SECONDS} {BUSY_VCPU}", timeout=BUSY_SECONDS + 30)
    wait_for_results(run, marks["cpu"][1], 1)
    mark(run, marks, "disk", f"write {WRITE_DISK} {WRITE_MIB}", f"read {READ_DISK} {READ_MIB}")
    mark(run, marks, "nic", f"ping {PINGS} {PING_SIZE}")
    mark(run, marks, "alloc", f"alloc {HELD_MIB}")
    time.sleep(HOLD_SECONDS)
    mark(run, marks, "free", "free")
    run.rounds.append(marks)
    wait_for_results(run, marks["free"][1] + STATS_PERIOD + POLL_MARGIN, 2)


def wait_for_results(run: GraphRun, after: float, count: int) -> None:
    """Until every service, the hypervisor's too, has `count` runs that began after
    `after`, stored in both databases (bounded)."""
    pending = list(ALL_SERVICES)

    def all_stored() -> bool:
        pending[:] = [service for service in ALL_SERVICES
                      if not stored_everywhere(run, service, after, count)]
        return not pending
    wait_for(all_stored, RESULT_TIMEOUT + count * INTERVAL,
             f"{count} results of each service after {after:.1f} stored in both databases",
             lambda: f"(still missing: {pending})\n{run.daemon.log_tail()}")


def stored_everywhere(run: GraphRun, service: str, after: float, count: int) -> bool:
    """Whether `count` runs began after `after` and the last one's points are stored."""
    runs = [item for item in run.runs(service) if item.start > after]
    if len(runs) < count:
        return False
    stamp = int(runs[count - 1].end)
    command = ALL_SERVICES[service]
    points = [point for point in influx_points(run.influx)
              if point.measurement == command and point.tags.get("service") == service
              and point.tags.get("hostname") == run.host_of(service)
              and point.label and stamp <= point.timestamp <= stamp + 1]
    if not points:
        return False
    return any(stamp <= when <= stamp + 1
               for when in run.graphite_points(service, points[0].label))


@contextlib.contextmanager
def graph_run(root: Path, carbon: CarbonCache, web: GraphiteWeb, influx: InfluxDB,
              hypervisor: Hypervisor, vm: Guest, rounds: int = 1) -> Iterator[GraphRun]:
    """Start the daemon, command `rounds` rounds of work, yield the run; stop the daemon
    (and remove a pool defined for it) whatever happens."""
    influx.create_database()
    plugin_dir, log_dir = root / "plugins", root / "runs"
    write_wrappers(plugin_dir, log_dir)
    hypervisorhost.write_wrappers(plugin_dir, log_dir)
    daemon = Daemon(root, graphite_writer(carbon.line_port) + influxdb_writer(influx.http_port),
                    node=NODE, plugin_dir=plugin_dir,
                    templates=shipped_templates(root / "templates.conf", INTERVAL))
    with hypervisorhost.active_pools(hypervisor.conn) as pools:
        run = GraphRun(vm.name, vm, daemon, carbon, web, influx, log_dir, time.time(),
                       pools=pools)
        try:
            (root / "state").mkdir()
            daemon.add_config("state-dir.conf",
                              STATE_DIR_CONFIG.format(state_dir=root / "state"))
            daemon.add_config("rules.conf", shipped_apply_rules(EXAMPLE, INTERVAL))
            daemon.add_config("host.conf", host_config(vm.name, hypervisor.uri))
            daemon.add_config("hypervisor.conf",
                              hypervisorhost.host_config(hypervisor.uri, vm.name))
            daemon.start()
            wait_for_results(run, run.started, 2)
            for _ in range(rounds):
                one_round(run)
            run.settled = time.time()
        finally:
            daemon.stop()
    # Stopped, the writers have flushed: what the databases hold is final.
    run.ended = time.time()
    yield run
