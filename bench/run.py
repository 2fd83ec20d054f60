"""Benchmark of the check_vm plugins: whole-process cost against its baselines.

    .venv/bin/python -B bench/run.py [--runs N | --quick] [--targets LIST] [--no-real-guest]

Each check (checks/check_vm_*) runs against libvirt's test driver
(test:///default, domain `test`), generated test-driver nodes of 1, 500 and
2000 domains, and the realvm tier's QEMU guest when that tier can start. Each
run is a whole process, timed for wall time, CPU time (user+sys) and peak RSS,
round-robin with three baselines made with the same interpreter:

  floor      python -c pass
  bare       import libvirt, open read-only, look the domain up, and repeat
             the libvirt calls the check made (traced): nothing else
  framework  bare + import nagiosplugin (+ the XML parser where the check parses XML)

Runs measure the steady state: the first (untimed) run stores a sample, and
with --sample-interval 0.05 every later run measures against a stored sample
instead of pausing 1.5 s within the run; a -vv run before and after timing
must say "since the previous run". Python's bytecode cache is on for every
measured process (PYTHONPYCACHEPREFIX in a temporary directory), as in a
production install; -B keeps this process from writing .pyc files into the
tree. The nodes of 500 and 2000 domains time fewer baselines (see rows.py).
The table goes to stdout and to bench/results.txt.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Optional, Sequence

import report
import statefile
from nodexml import write_node
from realguest import Skipped, real_guest
from rows import (
    KINDS,
    REPO,
    Row,
    Target,
    confirm_steady,
    count_rpcs,
    prepare,
    say,
    time_round_robin,
)
from rpccount import logged_calls
from timing import Runner, gnu_time_missing

CHECKS = ("cpu", "mem", "disk_io", "nic")
MODULES = {"cpu": "cpu", "mem": "mem", "disk_io": "disk", "nic": "nic"}
NODE_SIZES = (1, 500, 2000)
ALL_TARGETS = ("default", *(f"node-{n}" for n in NODE_SIZES), "qemu")
RESULTS = REPO / "bench" / "results.txt"


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=20, help="timed runs per command (20)")
    parser.add_argument("--quick", action="store_true", help="5 runs per command")
    parser.add_argument("--targets", default=",".join(ALL_TARGETS),
                        help=f"comma-separated subset of {','.join(ALL_TARGETS)}")
    parser.add_argument("--no-real-guest", action="store_true",
                        help="leave out the real QEMU guest (same as omitting qemu)")
    parser.add_argument("--real-guest-wait", type=float, default=120.0,
                        help="seconds to wait for another libvirtd to exit (120)")
    parser.add_argument("--state-runs", type=int, default=200,
                        help="iterations of the state-file micro-measurement (200)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="results file")
    options = parser.parse_args(argv)
    options.runs = 5 if options.quick else options.runs
    options.targets = [t for t in options.targets.split(",") if t]
    if options.no_real_guest and "qemu" in options.targets:
        options.targets.remove("qemu")
    unknown = set(options.targets) - set(ALL_TARGETS)
    if unknown:
        parser.error(f"unknown targets: {', '.join(sorted(unknown))}")
    return options


def child_env(scratch: Path) -> dict[str, str]:
    """The environment of every measured process: bytecode cached, no libvirt logging."""
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("LIBVIRT_") and key != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(scratch / "pycache")
    return env


def available_checks(python: str, env: dict[str, str]) -> tuple[list[str], list[str]]:
    """The checks whose executable answers --help, and a line per one left out."""
    present, skipped = [], []
    for check in CHECKS:
        done = subprocess.run([python, str(REPO / "checks" / f"check_vm_{check}"), "--help"],
                              env=env, capture_output=True, text=True, timeout=60,
                              check=False)
        if done.returncode == 0:
            present.append(check)
        else:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
            skipped.append(f"check_vm_{check}: skipped: --help fails ({tail[0]})")
    return present, skipped


def test_targets(keys: Sequence[str], scratch: Path) -> list[Target]:
    """The test-driver targets asked for; nodes are written into `scratch`."""
    targets = []
    if "default" in keys:
        targets.append(Target("default", "test:///default", "test", True,
                              "test:///default, domain test"))
    for count in NODE_SIZES:
        if f"node-{count}" in keys:
            uri, domain = write_node(scratch, count)
            kinds = {1: KINDS, 2000: ("check", "bare")}.get(count, ("check",))
            targets.append(Target(f"node-{count}", uri, domain, True,
                                  f"test-driver node of {count} domains, domain {domain}",
                                  kinds, node=True))
    return targets


class Bench:
    """What every target shares: interpreter, environment, runner, scratch space."""

    def __init__(self, options: argparse.Namespace, scratch: Path, checks: list[str]) -> None:
        self.options = options
        self.scratch = scratch
        self.checks = checks
        self.python = sys.executable
        self.env = child_env(scratch)
        self.runner = Runner(scratch, self.env)
        self._prime_bytecode_cache()

    def _prime_bytecode_cache(self) -> None:
        """Compile what the measured processes import, once, before any timing."""
        modules = ", ".join(["libvirt", "nagiosplugin", "lxml.etree", "xml.etree.ElementTree",
                             "libcheck.commands", *(f"libcheck.{MODULES[check]}"
                                                    for check in self.checks)])
        subprocess.run([self.python, "-c", f"import {modules}"], env=self.env, check=True)

    def rows_for(self, target: Target) -> list[Row]:
        """Prepare one row per check on `target`."""
        rows = []
        for check in self.checks:
            state_dir = self.scratch / "state" / f"{target.key}-{check}"
            row = Row(check, target, state_dir)
            prepare(row, self.python, self.env)
            rows.append(row)
        return rows

    def measure(self, target: Target, connect_only: Optional[Sequence[int]] = None
                ) -> list[Row]:
        """Prepare, time round-robin and confirm the steady state of a target's rows."""
        say(f"{target.key}: {target.label}")
        rows = self.rows_for(target)
        if connect_only is not None:
            for row in rows:
                count_rpcs(row, connect_only, self.scratch)
        time_round_robin(rows, self.options.runs, self.runner, self.env, say)
        for row in rows:
            confirm_steady(row, self.env)
        return rows

    def real_guest_rows(self) -> tuple[list[Row], list[str]]:
        """The rows of the real QEMU guest, or a skipped line saying why not."""
        try:
            with real_guest(self.options.real_guest_wait, say) as guest:
                target = Target("qemu", guest.uri, guest.domain, False,
                                f"real guest {guest.domain} on {guest.uri}, "
                                f"{guest.virt_type.upper()}")
                opening = f"import libvirt; libvirt.openReadOnly({guest.uri!r}).close()"
                connect_only = logged_calls([self.python, "-c", opening],
                                            self.scratch / "connect.log")
                return self.measure(target, connect_only), []
        except Skipped as why:
            return [], [f"real guest (qemu): skipped: {why}"]


def git_tree() -> str:
    """The commit the tree is at, -dirty when it has changes (libcheck may change mid-run)."""
    return subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                          capture_output=True, text=True, check=False).stdout.strip() or "?"


def machine_lines(python: str) -> list[str]:
    """Date, machine and versions, for the results header."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    debian = Path("/etc/debian_version").read_text().strip() if Path(
        "/etc/debian_version").exists() else "?"
    libvirt_version = subprocess.run(
        [python, "-c", "import libvirt; print(libvirt.getVersion())"],
        capture_output=True, text=True, check=False).stdout.strip()
    packages = ", ".join(f"{name} {importlib.metadata.version(name)}"
                         for name in ("libvirt-python", "nagiosplugin", "lxml"))
    return [f"date: {datetime.now().astimezone().isoformat(timespec='seconds')}; "
            f"tree {git_tree()}; load average at the start {os.getloadavg()[0]:.2f}",
            f"machine: {os.cpu_count()} cores ({model}), Linux {platform.release()}, "
            f"Debian {debian}",
            f"python {platform.python_version()} ({python}); libvirt {libvirt_version}; "
            f"{packages}"]


METHOD = """\
wall: ms, whole process (spawn to reap), median [interquartile range];
CPU: user+sys of the process (wait4); RSS: its peak resident set (GNU time %M).
x fw / x bare / x floor: median wall time over the baseline's median wall time;
x fw RSS: peak RSS over the framework baseline's. Steady state: --sample-interval
0.05 and a stored baseline from the previous run (no pause within a run).
libvirt calls: RPCs after connecting (remote driver, from libvirt's client
debug log); the test driver runs in-process (0 RPCs), so the API calls made
after the connection opened are counted instead (wrapped libvirt-python)."""


def run_all(bench: Bench) -> tuple[list[Row], list[str]]:
    """Every asked-for target, test driver first, then the real guest."""
    rows, skipped = [], []
    for target in test_targets(bench.options.targets, bench.scratch):
        rows += bench.measure(target)
    if "qemu" in bench.options.targets:
        real_rows, skipped = bench.real_guest_rows()
        rows += real_rows
    return rows, skipped


SCALING_TITLE = ("domains on the node (medians, ms): whole process; libvirt's open, timed "
                 "inside the process;\nown = process minus open; - bare = own minus the bare "
                 "baseline's own, per round; x1 = ratio to the 1-domain node")


def compose(bench: Bench, rows: list[Row], skipped: list[str], state, header: list[str],
            elapsed: float) -> str:
    """The whole report."""
    parts = [*header, f"tree at the end: {git_tree()}; runs per command: "
             f"{bench.options.runs}; benchmark took "
             f"{elapsed:.0f} s; load average at the end {os.getloadavg()[0]:.2f}", "",
             METHOD, "", *report.check_table(rows), "",
             "baselines (medians: wall ms, CPU ms, peak RSS MiB)",
             *report.baseline_table(rows), ""]
    scaling = report.scaling_table(rows, bench.checks)
    if len(scaling) > 2:
        parts += [SCALING_TITLE, *scaling, ""]
    parts += [f"state file, median of {bench.options.state_runs} (ms)",
              *report.state_table(state), "",
              "targets", *report.verdicts(rows, bench.checks, state), "",
              *skipped, "", "details", *report.details(rows)]
    return "\n".join(parts) + "\n"


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark, print the report and write it to the results file."""
    options = parse_args(argv)
    problem = gnu_time_missing()
    if problem:
        say(problem)
        return 2
    started = time.monotonic()
    scratch = Path(tempfile.mkdtemp(prefix="check_vm-bench-"))
    try:
        checks, skipped_checks = available_checks(sys.executable, child_env(scratch))
        bench = Bench(options, scratch, checks)
        header = machine_lines(bench.python)
        rows, skipped = run_all(bench)
        say("state file micro-measurement")
        state = statefile.measure(options.state_runs)
        text = compose(bench, rows, skipped_checks + skipped, state, header,
                       time.monotonic() - started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print(text, end="")
    options.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
