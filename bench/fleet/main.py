"""`make fleet`: what monitoring a fleet of hypervisors costs, measured on one machine.

    make fleet, or from the root:
    PYTHONPATH=tests .venv/bin/python -B -m bench.fleet.main [--agents K] [--domains N]
        [--intervals W] [--warmup M] [--runs on:N,off:N,...] [--output FILE]

A master and K Icinga 2 agents (bench/fleet/cluster.py: the cluster tier's
cluster with K agents, every node as `nagios`), each agent's hypervisor a
test-driver node of N domains, every VM a host (the package's
check_vm_inventory output) with the shipped services per VM and per device,
all at a 60 s interval. Per run (by default: the host snapshot on with N
domains, off with N, and off with N/2) a fresh fleet runs M intervals to warm
up, then W measured ones, while a thread reads every check result from the
master's event stream (bench/fleet/run.py). Measured: late results, CPU per
check result and per hypervisor per minute (each node's cgroup), libvirt
calls per hypervisor per minute (bench/fleet/fleethook), the master's CPU and
memory per result; then the extrapolation to 1000 VMs per hypervisor and 100
hypervisors per satellite (bench/fleet/report.py). The report goes to stdout
and to the "make fleet" section of bench/results.txt. Needs root on a Debian
host (it installs icinga2 and the package built from this tree).
"""

from __future__ import annotations

import argparse
import os
import platform
import signal
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Optional, Sequence

from harness.icinga.environment import ensure_installed
from harness.paths import REPO
from harness.vm.host import TierUnavailable

from bench.common import installed, resultsfile
from bench.common.machine import TIERS_LOCK, git_tree, say, tiers_lock
from bench.fleet import hookcost
from bench.fleet.cluster import INTERVAL
from bench.fleet.cpugroup import NoCpuGroups
from bench.fleet.report import HEADER, LATE_AFTER, ModeResult, Scaled, agent_lines, row
from bench.fleet.run import FleetRun

# The most domains per hypervisor that 3 agents kept up with on this machine's 2 cores
# with the snapshot on when the fleet first ran (100 fell behind then; 130 keep up since
# the state directory's lock was fixed): the default, so that runs compare with the first
# (docs/benchmark.md).
DEFAULT_DOMAINS = 90


def fleet_runs(text: str) -> list[tuple[str, int]]:
    """--runs: MODE:DOMAINS,... as (snapshot mode, domains per hypervisor)."""
    runs = []
    for item in text.split(","):
        mode, _, domains = item.partition(":")
        if mode not in ("on", "off") or not domains.isdigit() or int(domains) < 1:
            raise argparse.ArgumentTypeError(
                f"MODE:DOMAINS,... with MODE on or off and DOMAINS > 0, not {item!r}")
        runs.append((mode, int(domains)))
    return runs


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--agents", type=int, default=3, help="agents, one hypervisor each (3)")
    parser.add_argument("--domains", type=int, default=DEFAULT_DOMAINS,
                        help=f"domains per hypervisor ({DEFAULT_DOMAINS})")
    parser.add_argument("--intervals", type=int, default=5, help="measured intervals (5)")
    parser.add_argument("--warmup", type=int, default=2, help="intervals before measuring (2)")
    parser.add_argument("--runs", type=fleet_runs, default=None,
                        help="MODE:DOMAINS,... with MODE on or off (the snapshot): the fleets "
                             "to run (default: on:N,off:N,off:N/2 with N from --domains)")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "results.txt")
    parser.add_argument("--lock-wait", type=float, default=3600)
    options = parser.parse_args(argv)
    if options.runs is None:
        half = max(1, options.domains // 2)
        options.runs = [("on", options.domains), ("off", options.domains), ("off", half)]
    return options


def prerequisites() -> Path:
    """Root, icinga2, and the package built from this tree, installed."""
    if os.geteuid() != 0:
        raise installed.NotInstallable("the fleet runs its nodes as nagios in cgroups: run as root")
    try:
        ensure_installed()
    except TierUnavailable as exc:
        raise installed.NotInstallable(str(exc)) from exc
    return installed.ensure_package(say)


def memory_gib() -> float:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) / 1024 / 1024
    return 0.0


def legend(options: argparse.Namespace, cores: int) -> list[str]:
    """What the table's words and columns mean."""
    return [
        f"fleet: a master and {options.agents} agents (icinga2 as nagios, on loopback), each "
        "agent's hypervisor a test-driver node of VMs/hv domains (1 disk, 1 interface each); "
        "every VM a host (check_vm_inventory) with vm-cpu, vm-mem, disk vda, nic <mac> and "
        f"the vm_alive host check, all every {INTERVAL} s; {options.warmup} intervals of "
        f"warm-up, then {options.intervals} measured",
        f"late: intervals in which a host or service had no fresh result (a gap of more than "
        f"{LATE_AFTER:.0f} s between its results counts ceil(gap/{INTERVAL}) - 1); never: "
        "hosts and services without any result in the window; run p99: a plugin's run on "
        "its agent, 99th percentile",
        "CPU: each node's cgroup (icinga2 and every plugin it ran) over the window; per "
        f"result: over the results its agent ran; busy: all {cores} cores; the agents' "
        "processes (icinga2 and the plugins) sampled every 0.5 s (bench/fleet/procstates.py): "
        "mean runnable, mean in uninterruptible sleep, and where those wait in the kernel",
        "libvirt calls: counted in every plugin run (bench/fleet/fleethook). The test driver "
        "answers in the plugin's process and parses its whole node file on every connection "
        "(work libvirtd does on a real host, growing with the VMs): refreshes and direct "
        "runs pay it here, snapshot hits do not",
    ]


def compose(results: list[ModeResult], failures: list[str], options: argparse.Namespace,
            deb: Path, seconds: float, hook_lines: list[str]) -> str:
    cores = os.cpu_count() or 1
    gib = memory_gib()
    lines = [
        f"date: {datetime.now(timezone.utc).isoformat(timespec='seconds')}; tree "
        f"{git_tree()}; {deb.name}; took {seconds:.0f} s",
        f"machine: {cores} cores, {gib:.0f} GiB, Linux {platform.release()}",
        *legend(options, cores), *hook_lines, "",
        HEADER, "-" * len(HEADER), *[row(result) for result in results],
        *[f"FAILED {failure}" for failure in failures], "",
    ]
    for result in results:
        lines += agent_lines(result)
        lines += [f"  {result.label} not OK: {note}" for note in result.notes]
    lines += ["", "extrapolation (the per-result costs above, scaled linearly; the master "
                  "stands in for the satellite, which also forwards results to its parent)"]
    for result in results:
        lines += Scaled(result).lines(cores, gib)
    return "\n".join(lines) + "\n"


def run_all(options: argparse.Namespace) -> tuple[list[ModeResult], list[str]]:
    """Every run of --runs; a run that fails is named, the others still reported."""
    results, failures = [], []
    for mode, domains in options.runs:
        run = FleetRun(mode, domains, options.agents, options.warmup, options.intervals, say)
        try:
            results.append(run.run())
        except (RuntimeError, OSError, AssertionError) as problem:
            say(f"fleet {mode} x {domains}: FAILED: {problem}")
            failures.append(f"{mode} x {domains}: {str(problem).splitlines()[0]}")
    return results, failures


def stop_on_sigterm() -> None:
    """SIGTERM (and SIGINT, which a background job ignores) end the run through its
    clean-up: every node stopped, every cgroup and directory removed."""
    def leave(number, _frame):
        raise SystemExit(128 + number)
    signal.signal(signal.SIGTERM, leave)
    signal.signal(signal.SIGINT, leave)


def main(argv: Optional[Sequence[str]] = None) -> int:
    options = parse_args(argv)
    stop_on_sigterm()
    started = time.monotonic()
    try:
        say(f"fleet: taking {TIERS_LOCK}")
        with tiers_lock(options.lock_wait):
            deb = prerequisites()
            say("fleet: the call hook's own cost")
            hook_lines = hookcost.measure()
            results, failures = run_all(options)
    except (installed.NotInstallable, NoCpuGroups) as problem:
        say(f"fleet: {problem}")
        return 2
    text = compose(results, failures, options, deb, time.monotonic() - started, hook_lines)
    print(text, end="")
    resultsfile.write_section(options.output, "make fleet", text)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
