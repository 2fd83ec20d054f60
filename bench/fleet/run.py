"""One run of the fleet: a fresh fleet set up, warmed up, measured and taken down.

The window is whole check intervals after the warm-up. Before and after it
the run reads every node's cgroup CPU, the CPU of the icinga2 processes
alone, and the machine's busy and total ticks; after it, the master's and an
agent's resident memory. The results are the master's event stream's; the
libvirt calls are what the agents' plugins wrote through bench/fleethook.
"""

from __future__ import annotations

import collections
import contextlib
import os
import re
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from bench.fleet.cluster import INTERVAL, Fleet
from bench.fleet.cpugroup import CpuGroup
from bench.fleet.events import EventRecorder, Result
from bench.fleet.procstates import Waits, WaitSampler, stat_of
from bench.fleet.report import AgentWindow, ModeResult, calls_in, lateness, percentile


@dataclass
class Readings:
    """CPU seconds by node (the whole group, and its icinga2 processes), machine ticks."""

    groups: dict[str, float]
    daemons: dict[str, float]
    busy_ticks: int
    total_ticks: int

    @classmethod
    def now(cls, groups: dict[str, CpuGroup]) -> Readings:
        busy, total = machine_ticks()
        return cls({name: group.cpu_seconds() for name, group in groups.items()},
                   {name: daemon_cpu(group) for name, group in groups.items()}, busy, total)


@dataclass
class Window:
    """When the recording began, and the measured window."""

    since: float
    start: float
    end: float

    @property
    def minutes(self) -> float:
        return (self.end - self.start) / 60

    def holds(self, moment: float) -> bool:
        return self.start < moment <= self.end


def daemon_cpu(group: CpuGroup) -> float:
    """User+system CPU of the group's icinga2 processes themselves (not of their children)."""
    total = 0
    for pid in group.pids():
        with contextlib.suppress(OSError, ValueError, IndexError):
            name, fields = stat_of(pid)
            if name == "icinga2":
                total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot; guest time is already in user."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values)


def largest_rss_mib(group: CpuGroup) -> float:
    """Resident memory of the group's largest process (a node's worker), MiB."""
    largest = 0
    for pid in group.pids():
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    largest = max(largest, int(line.split()[1]))
    return largest / 1024


def problems(window: list[Result]) -> list[str]:
    """The outputs of results that were not OK, with the VM's name taken out, counted."""
    counted = collections.Counter(
        (result.state, re.sub(r"hv\d+-vm\d+", "<vm>", result.problem))
        for result in window if result.state)
    return [f"state {state} x{count}: {text}" for (state, text), count in counted.most_common()]


class FleetRun:
    """A fleet with the snapshot on or off: run() sets it up, measures it, stops it."""

    def __init__(self, mode: str, domains: int, agents: int, warmup: int, intervals: int,
                 say: Callable[[str], None]) -> None:
        self.mode, self.domains, self.agents = mode, domains, agents
        self.warmup, self.intervals = warmup, intervals
        self.say = say

    def run(self) -> ModeResult:
        with contextlib.ExitStack() as cleanup:
            root = Path(tempfile.mkdtemp(prefix=f"check_vm-fleet-{self.mode}-"))
            cleanup.callback(shutil.rmtree, root, ignore_errors=True)
            fleet = Fleet(root, self.agents, self.domains, snapshot=self.mode == "on")
            cleanup.callback(self._stop, fleet)
            self.say(f"fleet {self.mode}: a master and {self.agents} agents x "
                     f"{self.domains} domains in {root}")
            fleet.set_up()
            fleet.start()
            recorder = EventRecorder(fleet.master)
            cleanup.callback(recorder.stop)
            recorder.start()
            return self._measure(fleet, recorder)

    def _stop(self, fleet: Fleet) -> None:
        for problem in fleet.stop():
            self.say(f"fleet {self.mode}: {problem}")

    def _measure(self, fleet: Fleet, recorder: EventRecorder) -> ModeResult:
        since = time.time()
        names = [*fleet.master.objects("Host", "name"), *fleet.master.objects("Service", "name")]
        self.say(f"fleet {self.mode}: {len(names)} hosts and services; warming up for "
                 f"{self.warmup} intervals")
        self._wait(self.warmup * INTERVAL, fleet, recorder)
        sampler = WaitSampler(lambda: [pid for node in fleet.agents
                                       for pid in fleet.groups[node.name].pids()])
        before, start = Readings.now(fleet.groups), time.time()
        sampler.start()
        self.say(f"fleet {self.mode}: measuring {self.intervals} intervals")
        try:
            self._wait(self.intervals * INTERVAL, fleet, recorder)
        finally:
            waits = sampler.stop()
        after, end = Readings.now(fleet.groups), time.time()
        memory = (largest_rss_mib(fleet.groups["master"]),
                  min(largest_rss_mib(fleet.groups[node.name]) for node in fleet.agents))
        return self._analyse(fleet, recorder.results(), names, Window(since, start, end),
                             (before, after), memory, waits)

    @staticmethod
    def _wait(seconds: float, fleet: Fleet, recorder: EventRecorder) -> None:
        """Sleep, failing early when a node or the event stream dies."""
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
            for node in fleet.cluster.nodes.values():
                if not node.running():
                    raise RuntimeError(f"{node.name} exited:\n{node.log_tail()}")
            if recorder.error:
                raise RuntimeError(recorder.error)

    def _analyse(self, fleet: Fleet, results: list[Result], names: list[str], window: Window,
                 readings: tuple[Readings, Readings], memory: tuple[float, float],
                 waits: Waits) -> ModeResult:
        """The window's results, CPU and calls; `memory`: the master's and an agent's
        MiB; `waits`: how the agents' processes waited."""
        before, after = readings
        inside = [r for r in results if window.holds(r.ended)]
        agents = [self._agent(node, inside, window, before, after) for node in fleet.agents]
        busy = (after.busy_ticks - before.busy_ticks) / max(
            1, after.total_ticks - before.total_ticks)
        return ModeResult(
            self.mode, agents,
            lateness(results, names, window.start, window.end, window.since),
            self.domains, window.minutes,
            master_cpu=after.groups["master"] - before.groups["master"],
            master_results=len(inside), master_rss_mib=memory[0], idle_rss_mib=memory[1],
            machine_busy=busy,
            run_p99=percentile([r.ended - r.started for r in inside], 0.99),
            result_bytes=sum(r.size for r in inside) / max(1, len(inside)),
            notes=problems(inside), waits=waits)

    @staticmethod
    def _agent(node, inside: list[Result], window: Window, before: Readings,
               after: Readings) -> AgentWindow:
        mine = [r for r in inside if r.source == node.name]
        runs, calls = calls_in(node.calls, window.start, window.end)
        return AgentWindow(
            node.name, window.minutes, len(mine), runs,
            cpu=after.groups[node.name] - before.groups[node.name],
            daemon_cpu=after.daemons[node.name] - before.daemons[node.name],
            calls=calls, states=dict(collections.Counter(r.state for r in mine)))
