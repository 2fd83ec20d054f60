"""`make fleet`: what monitoring a fleet of hypervisors costs, measured on one machine.

    .venv/bin/python -B bench/fleet.py [--agents K] [--domains N] [--intervals W]
                                       [--warmup M] [--runs on:N,off:N,...] [--output FILE]

A master and K Icinga 2 agents (bench/fleetcluster.py: the cluster tier's
cluster with K agents, every node as `nagios`), each agent's hypervisor a
test-driver node of N domains, every VM a host (the package's
check_vm_inventory output) with the shipped services per VM and per device,
all at a 60 s interval. Per run (by default: the host snapshot on with N
domains, off with N, and off with N/2) a fresh fleet runs M intervals to warm
up, then W measured ones, while a thread reads every check result from the
master's event stream. Measured: late
results, CPU per check result and per hypervisor per minute (each node's
cgroup), libvirt calls per hypervisor per minute (bench/fleethook), the
master's CPU and memory per result; then the extrapolation to 1000 VMs per
hypervisor and 100 hypervisors per satellite. The report goes to stdout and
to the "make fleet" section of bench/results.txt. Needs root on a Debian
host (it installs icinga2 and the package built from this tree).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))  # the cluster tier's harness

import hookcost  # noqa: E402
import installed  # noqa: E402
import resultsfile  # noqa: E402
from cpugroup import CpuGroup, NoCpuGroups  # noqa: E402
from fleetcluster import Fleet  # noqa: E402
from fleetevents import EventRecorder  # noqa: E402
from fleetreport import (  # noqa: E402
    HEADER,
    INTERVAL,
    LATE_AFTER,
    AgentWindow,
    ModeResult,
    Scaled,
    agent_lines,
    calls_in,
    lateness,
    percentile,
    row,
)
from icinga.environment import ensure_installed  # noqa: E402
from realvm.host import TierUnavailable  # noqa: E402
from run import TIERS_LOCK, say, tiers_lock  # noqa: E402

# The most domains per hypervisor that 3 agents kept up with on this machine's 2 cores
# with the snapshot on, in steps of 10 (100 fell behind; see docs/benchmark.md).
DEFAULT_DOMAINS = 90


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--agents", type=int, default=3, help="agents, one hypervisor each (3)")
    parser.add_argument("--domains", type=int, default=DEFAULT_DOMAINS,
                        help=f"domains per hypervisor ({DEFAULT_DOMAINS})")
    parser.add_argument("--intervals", type=int, default=5, help="measured intervals (5)")
    parser.add_argument("--warmup", type=int, default=2, help="intervals before measuring (2)")
    parser.add_argument("--runs", default=None,
                        help="MODE:DOMAINS,... with MODE on or off (the snapshot): the fleets "
                             "to run (default: on:N,off:N,off:N/2 with N from --domains)")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results.txt")
    parser.add_argument("--lock-wait", type=float, default=3600)
    return parser.parse_args(argv)


def prerequisites() -> Path:
    """Root, icinga2, and the package built from this tree, installed."""
    if os.geteuid() != 0:
        raise installed.NotInstallable("the fleet runs its nodes as nagios in cgroups: run as root")
    try:
        ensure_installed()
    except TierUnavailable as exc:
        raise installed.NotInstallable(str(exc)) from exc
    return installed.ensure_package(say)


class CpuClock:
    """CPU seconds of every node's group, of its icinga2 processes alone, and of the machine."""

    def __init__(self, groups: dict[str, CpuGroup]) -> None:
        self.groups = groups

    def read(self) -> dict:
        return {"groups": {name: group.cpu_seconds() for name, group in self.groups.items()},
                "daemons": {name: daemon_cpu(group) for name, group in self.groups.items()},
                "machine": machine_ticks()}


def daemon_cpu(group: CpuGroup) -> float:
    """User+system CPU of the group's icinga2 processes themselves (not of their children)."""
    total = 0
    for pid in group.pids():
        with contextlib.suppress(OSError, ValueError, IndexError):
            stat = Path(f"/proc/{pid}/stat").read_text()
            if stat[stat.index("(") + 1:stat.rindex(")")] == "icinga2":
                fields = stat[stat.rindex(")") + 2:].split()
                total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return sum(values) - idle, sum(values)


def largest_rss_mib(group: CpuGroup) -> float:
    """Resident memory of the group's largest process (the master's worker), MiB."""
    largest = 0
    for pid in group.pids():
        with contextlib.suppress(OSError, ValueError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    largest = max(largest, int(line.split()[1]))
    return largest / 1024


def checkable_names(fleet: Fleet) -> list[str]:
    names = list(fleet.master.objects("Host", "name"))
    return names + list(fleet.master.objects("Service", "name"))


def wait_watching(seconds: float, fleet: Fleet, recorder: EventRecorder) -> None:
    """Sleep, failing early when a node or the event stream dies."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(min(5.0, max(0.0, deadline - time.monotonic())))
        for node in fleet.cluster.nodes.values():
            if not node.running():
                raise RuntimeError(f"{node.name} exited:\n{node.log_tail()}")
        if recorder.error:
            raise RuntimeError(recorder.error)


def fleet_runs(options: argparse.Namespace) -> list[tuple[str, int]]:
    """(snapshot mode, domains per hypervisor) of every fleet to run."""
    text = options.runs or f"on:{options.domains},off:{options.domains}," \
                           f"off:{max(1, options.domains // 2)}"
    runs = []
    for item in text.split(","):
        mode, _, domains = item.partition(":")
        if mode not in ("on", "off") or not domains.isdigit() or int(domains) < 1:
            raise SystemExit(f"fleet: --runs takes MODE:DOMAINS,... with MODE on or off, "
                             f"not {item!r}")
        runs.append((mode, int(domains)))
    return runs


def run_mode(mode: str, domains: int, options: argparse.Namespace) -> ModeResult:
    """A fresh fleet with the snapshot on or off, warmed up, then measured."""
    root = Path(tempfile.mkdtemp(prefix=f"check_vm-fleet-{mode}-"))
    fleet = Fleet(root, options.agents, domains, snapshot=mode == "on")
    recorder = None
    try:
        say(f"fleet {mode}: setting up a master and {options.agents} agents x "
            f"{domains} domains in {root}")
        fleet.set_up()
        fleet.start()
        recorder = EventRecorder(fleet.master)
        recorder.start()
        since = time.time()
        names = checkable_names(fleet)
        say(f"fleet {mode}: {len(names)} hosts and services; warming up for "
            f"{options.warmup} intervals")
        wait_watching(options.warmup * INTERVAL, fleet, recorder)
        clock = CpuClock(fleet.groups)
        before, start = clock.read(), time.time()
        say(f"fleet {mode}: measuring {options.intervals} intervals")
        wait_watching(options.intervals * INTERVAL, fleet, recorder)
        after, end = clock.read(), time.time()
        rss = (largest_rss_mib(fleet.groups["master"]),
               min(largest_rss_mib(fleet.groups[node.name]) for node in fleet.agents))
        return analyse(mode, fleet, recorder.results(), names,
                       (since, start, end), (before, after), rss)
    finally:
        if recorder is not None:
            recorder.stop()
        fleet.stop()
        shutil.rmtree(root, ignore_errors=True)


def analyse(mode, fleet, results, names, times, cpu, rss) -> ModeResult:
    """The window's results, CPU and calls as a ModeResult."""
    since, start, end = times
    before, after = cpu
    minutes = (end - start) / 60
    window = [r for r in results if start < r.ended <= end]
    agents = []
    for node in fleet.agents:
        mine = [r for r in window if r.source == node.name]
        states: dict[int, int] = {}
        for result in mine:
            states[result.state] = states.get(result.state, 0) + 1
        runs, calls = calls_in(node.calls, start, end)
        agents.append(AgentWindow(
            node.name, minutes, len(mine), runs,
            after["groups"][node.name] - before["groups"][node.name],
            after["daemons"][node.name] - before["daemons"][node.name], calls, states))
    busy = (after["machine"][0] - before["machine"][0]) / max(
        1, after["machine"][1] - before["machine"][1])
    return ModeResult(
        mode, agents, lateness(results, names, start, end, since), fleet.domains, minutes,
        after["groups"]["master"] - before["groups"]["master"], len(window), *rss, busy,
        percentile([r.received - r.scheduled for r in window], 0.99),
        percentile([r.ended - r.started for r in window], 0.99),
        sum(r.size for r in window) / max(1, len(window)), problems(window))


def problems(window) -> list[str]:
    """The outputs of results that were not OK, with the VM's name taken out, counted."""
    counted = collections.Counter(
        (result.state, re.sub(r"hv\d+-vm\d+", "<vm>", result.problem))
        for result in window if result.state)
    return [f"state {state} x{count}: {text}" for (state, text), count in counted.most_common()]


def tree_version() -> str:
    done = subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                          capture_output=True, text=True, check=False)
    return done.stdout.strip() or "unknown"


def memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def compose(results: list[ModeResult], options: argparse.Namespace, deb: Path,
            seconds: float, hook_lines: list[str]) -> str:
    cores = os.cpu_count() or 1
    gib = memory_gib()
    lines = [
        f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}; tree "
        f"{tree_version()}; {deb.name}; took {seconds:.0f} s",
        f"machine: {cores} cores, {gib:.0f} GiB, Linux {platform.release()}",
        f"fleet: a master and {options.agents} agents (icinga2, as nagios, on loopback), each "
        "agent's hypervisor a test-driver node of VMs/hv domains (1 disk, 1 "
        "interface each); every VM a host with vm-cpu, vm-mem, disk vda, nic <mac> and the "
        f"vm_alive host check, all every {INTERVAL:.0f} s; {options.warmup} intervals of "
        f"warm-up, then {options.intervals} measured",
        f"late: a result more than {LATE_AFTER:.0f} s after its checkable's previous one, or "
        f"none for {LATE_AFTER:.0f} s at the end; turnaround p99: from the master's "
        "scheduling of a check to its result on the master, 99th percentile",
        "CPU: each node's cgroup (icinga2 and every plugin it ran), over the measured "
        "window; per result: over the results that agent ran; busy: both cores",
        "libvirt calls: counted in every plugin run (bench/fleethook); the test driver "
        "answers in the plugin's process, so with a remote libvirtd each is one RPC",
        *hook_lines,
        "",
        HEADER,
        "-" * len(HEADER),
        *[row(result) for result in results],
        "",
    ]
    for result in results:
        lines += agent_lines(result)
        lines += [f"  {result.mode} not OK: {note}" for note in result.notes]
    lines += ["", "extrapolation (per-result costs measured above, scaled linearly)"]
    for result in results:
        lines += Scaled(result).lines(cores, gib)
    return "\n".join(lines) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    options = parse_args(argv)
    started = time.monotonic()
    results = []
    try:
        say(f"fleet: taking {TIERS_LOCK}")
        with tiers_lock(options.lock_wait):
            deb = prerequisites()
            say("fleet: the call hook's own cost")
            hook_lines = hookcost.measure()
            for mode, domains in fleet_runs(options):
                results.append(run_mode(mode, domains, options))
    except (installed.NotInstallable, NoCpuGroups) as problem:
        say(f"fleet: {problem}")
        return 2
    text = compose(results, options, deb, time.monotonic() - started, hook_lines)
    print(text, end="")
    resultsfile.write_section(options.output, "make fleet", text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
