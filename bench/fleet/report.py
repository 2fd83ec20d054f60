"""What a fleet run measured, and the table and extrapolation made of it.

A window is [start, end] of whole check intervals after the warm-up. A host
or service is on time while its results come at most LATE_AFTER seconds
apart; a longer gap (between two results, from the last one before the
window, or from the last one to the window's end) counts the intervals it
left without a fresh result: ceil(gap / INTERVAL) - 1. CPU is what each
node's cgroup counted in the window; per result, that divided by the results
the node's agent ran that ended in it.
"""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Optional

from bench.fleet.cluster import INTERVAL
from bench.fleet.events import Result
from bench.fleet.procstates import Waits

LATE_AFTER = 1.25 * INTERVAL
BULK = "c.getAllDomainStats"
OPENS = ("libvirt.open", "libvirt.openReadOnly", "libvirt.openAuth")


@dataclass
class Lateness:
    """How the results of the window kept to the interval."""

    checkables: int
    results: int
    late: int       # intervals without a fresh result, over all checkables
    max_gap: float
    never: int      # checkables with no result in the window at all


def missed_intervals(gap: float) -> int:
    """Intervals a gap between two results left without a fresh one."""
    return math.ceil(gap / INTERVAL) - 1 if gap > LATE_AFTER else 0


def lateness(results: Iterable[Result], checkables: Iterable[str], start: float,
             end: float, since: float) -> Lateness:
    """Late results of the window [start, end]; `since` stands for the previous
    result of a checkable that had none before the window."""
    ended: dict[str, list[float]] = {name: [] for name in checkables}
    for result in results:
        if result.checkable in ended and result.ended <= end:
            ended[result.checkable].append(result.ended)
    late = count = never = 0
    max_gap = 0.0
    for times in ended.values():
        times.sort()
        before = [t for t in times if t <= start]
        inside = [t for t in times if t > start]
        count += len(inside)
        never += not inside
        previous = before[-1] if before else since
        for moment in [*inside, end]:
            max_gap = max(max_gap, moment - previous)
            late += missed_intervals(moment - previous)
            previous = moment
    return Lateness(len(ended), count, late, max_gap, never)


def percentile(values: list[float], share: float) -> float:
    """The nearest-rank percentile (share 0.99: the 99th)."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def calls_in(log: Path, start: float, end: float) -> tuple[int, dict[str, int]]:
    """Plugin runs that ended in the window, and their libvirt calls by name."""
    runs, calls = 0, {}
    for line in log.read_text().splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if start < record.get("end", 0) <= end:
            runs += 1
            for name, number in record.get("calls", {}).items():
                calls[name] = calls.get(name, 0) + number
    return runs, calls


@dataclass
class AgentWindow:
    """One agent (hypervisor) over the window."""

    name: str
    minutes: float
    results: int
    plugin_runs: int
    cpu: float            # seconds, the whole cgroup: daemon and plugins
    daemon_cpu: float     # seconds, the icinga2 processes alone
    calls: dict[str, int]
    states: dict[int, int]

    @property
    def cpu_ms_per_result(self) -> float:
        return 1000 * self.cpu / self.results if self.results else float("nan")

    @property
    def cpu_per_minute(self) -> float:
        return self.cpu / self.minutes

    @property
    def calls_per_minute(self) -> float:
        return sum(self.calls.values()) / self.minutes

    def per_minute(self, names: Iterable[str]) -> float:
        return sum(self.calls.get(name, 0) for name in names) / self.minutes


@dataclass
class ModeResult:
    """One run of the fleet: snapshot on or off, with some domains per hypervisor."""

    mode: str
    agents: list[AgentWindow]
    lateness: Lateness
    domains: int
    minutes: float
    master_cpu: float
    master_results: int
    master_rss_mib: float
    idle_rss_mib: float          # an agent's icinga2 (it holds no host objects): the base
    machine_busy: float          # share of all cores busy in the window
    run_p99: float               # execution_end - execution_start, seconds
    result_bytes: float          # mean bytes of output and perfdata per result
    notes: list[str] = field(default_factory=list)
    waits: Optional[Waits] = None  # the agents' processes, sampled over the window

    def mean(self, attribute: str) -> float:
        return statistics.fmean(getattr(agent, attribute) for agent in self.agents)

    @property
    def label(self) -> str:
        return f"{self.mode} x {self.domains}"

    @property
    def results_per_vm_minute(self) -> float:
        return self.mean("results") / self.minutes / self.domains

    @property
    def kib_per_checkable(self) -> float:
        """The master's resident memory above an agent's, per host or service."""
        return 1024 * (self.master_rss_mib - self.idle_rss_mib) / self.lateness.checkables

    @property
    def master_ms_per_result(self) -> float:
        return 1000 * self.master_cpu / self.master_results if self.master_results else 0.0


COLUMNS = (("snapshot", 8), ("VMs/hv", 6), ("hosts+services", 14), ("results/min/hv", 14),
           ("late", 5), ("never", 5), ("max gap s", 9), ("run p99 s", 9),
           ("agent CPU ms/result", 19), ("agent CPU s/min/hv", 18),
           ("libvirt calls/min/hv", 20), ("bulk/min", 8), ("opens/min", 9),
           ("master ms/result", 16), ("busy", 5))
HEADER = "  ".join(f"{name:>{width}}" for name, width in COLUMNS)


def row(result: ModeResult) -> str:
    """The table's row of one run: per hypervisor, the mean of the agents."""
    late = result.lateness
    values = (
        result.mode, result.domains, late.checkables,
        f"{result.mean('results') / result.minutes:.0f}", late.late, late.never,
        f"{late.max_gap:.1f}", f"{result.run_p99:.2f}",
        f"{result.mean('cpu_ms_per_result'):.1f}", f"{result.mean('cpu_per_minute'):.1f}",
        f"{statistics.fmean(a.calls_per_minute for a in result.agents):.0f}",
        f"{statistics.fmean(a.per_minute([BULK]) for a in result.agents):.1f}",
        f"{statistics.fmean(a.per_minute(OPENS) for a in result.agents):.0f}",
        f"{result.master_ms_per_result:.2f}", f"{100 * result.machine_busy:.0f}%")
    return "  ".join(f"{value:>{width}}" for value, (_, width) in zip(values, COLUMNS))


def agent_lines(result: ModeResult) -> list[str]:
    """Per agent: results, CPU split into daemon and plugins, calls by name."""
    lines = []
    for agent in result.agents:
        plugins = agent.cpu - agent.daemon_cpu
        top = sorted(agent.calls.items(), key=lambda item: -item[1])[:6]
        states = ", ".join(f"{state}: {count}" for state, count in sorted(agent.states.items()))
        lines.append(
            f"  {result.label} {agent.name}: {agent.results} results ({agent.plugin_runs} "
            f"plugin runs ended) in {agent.minutes:.1f} min, states {{{states}}}; CPU "
            f"{agent.cpu:.1f} s = icinga2 {agent.daemon_cpu:.1f} + plugins {plugins:.1f}; "
            "calls " + ", ".join(f"{name} {count}" for name, count in top))
    if result.waits is not None:
        lines.append(f"  {result.label} agents' processes: {result.waits.line()}")
    return lines


@dataclass
class Scaled:
    """The per-result costs of a run scaled linearly to a bigger fleet: each VM
    keeps its results per minute, each result its CPU, bytes and memory. The
    master stands in for the satellite: it schedules the checks and takes the
    results as a satellite does, but forwards none to a parent, and it also
    feeds the benchmark's event stream."""

    result: ModeResult
    vms_per_hypervisor: int = 1000
    hypervisors_per_satellite: int = 100

    @property
    def results_per_minute(self) -> float:
        """Of one hypervisor."""
        return self.vms_per_hypervisor * self.result.results_per_vm_minute

    @property
    def agent_cores(self) -> float:
        return self.results_per_minute * self.result.mean("cpu_ms_per_result") / 1000 / 60

    @property
    def satellite_rate(self) -> float:
        """Results per second through the satellite."""
        return self.hypervisors_per_satellite * self.results_per_minute / 60

    @property
    def satellite_cores(self) -> float:
        return self.satellite_rate * self.result.master_ms_per_result / 1000

    @property
    def satellite_checkables(self) -> float:
        measured = self.result
        per_vm = measured.lateness.checkables / len(measured.agents) / measured.domains
        return per_vm * self.vms_per_hypervisor * self.hypervisors_per_satellite

    @property
    def satellite_gib(self) -> float:
        return (self.result.idle_rss_mib + self.satellite_checkables
                * self.result.kib_per_checkable / 1024) / 1024

    @property
    def satellite_mbit(self) -> float:
        return self.satellite_rate * self.result.result_bytes * 8 / 1e6

    def libvirt_text(self) -> str:
        """What the hypervisor's libvirt would be asked a minute."""
        measured = self.result
        if measured.mode == "on":
            bulk = statistics.fmean(a.per_minute([BULK]) for a in measured.agents)
            return (f"{bulk:.0f} refreshes a minute as here (one bulk read each, on QEMU "
                    "one getAllDomainStats RPC whatever the number of VMs)")
        calls = statistics.fmean(sum(a.calls.values()) / a.plugin_runs
                                 for a in measured.agents if a.plugin_runs)
        return (f"{calls * self.results_per_minute:.0f} libvirt calls a minute ({calls:.1f} "
                "per run; remotely most are an RPC)")

    def lines(self, cores: int, memory_gib: float) -> list[str]:
        measured = self.result
        if measured.lateness.late:
            return [f"{measured.label}: fell behind ({measured.lateness.late} intervals "
                    "without a fresh result): its costs are not scaled"]
        vms, hvs = self.vms_per_hypervisor, self.hypervisors_per_satellite
        cpu_share = self.satellite_cores / cores
        memory_share = self.satellite_gib / memory_gib
        first = "CPU" if cpu_share >= memory_share else "memory"
        return [
            f"{measured.label}: one hypervisor of {vms} VMs: {self.results_per_minute:.0f} "
            f"results/min, {self.libvirt_text()}; {self.agent_cores:.1f} cores for its agent "
            f"and plugins ({measured.mean('cpu_ms_per_result'):.1f} ms per result)",
            f"{measured.label}: one satellite of {hvs} such hypervisors: "
            f"{self.satellite_rate:.0f} results/s and {self.satellite_checkables:.0f} hosts "
            f"and services: {self.satellite_cores:.1f} cores "
            f"({measured.master_ms_per_result:.2f} ms per result), {self.satellite_gib:.1f} GiB "
            f"resident ({measured.kib_per_checkable:.1f} KiB per host or service above an "
            f"agent's {measured.idle_rss_mib:.0f} MiB), at least {self.satellite_mbit:.0f} "
            f"Mbit/s from the agents ({measured.result_bytes:.0f} bytes of output and perfdata "
            "per result, without the cluster protocol's own)",
            f"{measured.label}: first to run out on a satellite like this machine ({cores} "
            f"cores, {memory_gib:.0f} GiB): its {first} (CPU {cpu_share:.1f}x, memory "
            f"{memory_share:.2f}x of what it has); its CPU suffices for "
            f"{hvs / cpu_share:.0f} such hypervisors",
        ]
