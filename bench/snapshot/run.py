"""Benchmark of the check_vm plugins: snapshot hit, refresh and direct read, paired
with Debian's check_libvirt and the floor, in the installed and the virtualenv form.

    make bench, or from the root:
    PYTHONPATH=tests .venv/bin/python -B -m bench.snapshot.run [--runs N | --quick]
        [--targets LIST] [--no-real-guest]

Before measuring it installs what it compares (bench/common/installed.py): the
Debian package built from this tree (`make deb` when dist/ has none as new
as the tree), and check_libvirt from monitoring-plugins-contrib. Then, per
target (test-driver nodes of 1, 500 and 2000 domains, and the realvm tier's
QEMU guest when that tier can start), interleaved rounds of every check of a
VM as a snapshot HIT, a REFRESH and a DIRECT read, and of check_vm_host as a
HIT and a DIRECT read, in both forms, beside check_libvirt -l cpu, io and net
and the floor (`python3 -c 'import nagiosplugin, argparse, json'` under each
form's interpreter) (bench/snapshot/rounds.py); on the 1-domain node also the
other import costs, and after its rounds the import breakdown: what a
verified hit imports beyond the floor, under `python -X importtime`
(bench/snapshot/hitimports.py). Every timed hit is verified (the snapshot's
generation is unchanged by it); a hit rate below 100% fails the benchmark.
Then the libvirt calls per refresh window of 4 checks x 1, 50 and 500
domains, and of the real guest (bench/snapshot/windows.py). Medians with
interquartile ranges; every ratio is to a baseline timed in the same rounds.
The targets and their verdicts are bench/snapshot/report.py's. The report
goes to stdout and bench/results.txt.

Rounds: 20 on node-1 and the real guest, 10 on node-500, 8 on node-2000
(--runs scales them). The whole run takes about 10 minutes on 2 cores:
node-2000's rounds about 4, check_vm_host's runs, the floor and the 5 x 6
runs per form under -X importtime about 1 in all. No target gets fewer
rounds to save time: at 20 rounds the hits' IQRs on node-1 and the real
guest, where the targets are closest, still reach a fifth of the median.
`--quick` (5 rounds) takes about 4 minutes.
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

from harness.paths import REPO

from bench.common import installed, resultsfile
from bench.common.machine import TIERS_LOCK, child_env, git_tree, say, tiers_lock
from bench.common.timing import Runner, gnu_time_missing
from bench.snapshot import hitimports, windows
from bench.snapshot import report as snapreport
from bench.snapshot.nodexml import domain_name, write_node
from bench.snapshot.realguest import Skipped, real_guest
from bench.snapshot.rounds import BREAKDOWN_RUNS, CHECKS, Result, Target, TargetRounds

RESULTS = REPO / "bench" / "results.txt"
NODE_SIZES = (1, 500, 2000)
ALL_TARGETS = (*(f"node-{n}" for n in NODE_SIZES), "qemu")
FORM_KEYS = ("deb", "venv")


def parse_args(argv: Optional[Sequence[str]] = None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(description=" ".join(__doc__.split("\n\n", 1)[0].split()))
    parser.add_argument("--runs", type=int, default=20,
                        help="rounds on node-1 and the real guest (20); node-500 gets half, "
                             "node-2000 two fifths (at least 2)")
    parser.add_argument("--quick", action="store_true", help="5 rounds (node-500: 3, 2000: 2)")
    parser.add_argument("--targets", default=",".join(ALL_TARGETS),
                        help=f"comma-separated subset of {','.join(ALL_TARGETS)}")
    parser.add_argument("--no-real-guest", action="store_true",
                        help="leave out the real QEMU guest (same as omitting qemu)")
    parser.add_argument("--real-guest-wait", type=float, default=120.0,
                        help="seconds to wait for another libvirtd to exit (120)")
    parser.add_argument("--lock-wait", type=float, default=600.0,
                        help=f"seconds to wait for {TIERS_LOCK}, held by the realvm, icinga "
                             "and package tiers (600)")
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


def rounds_for(domains: int, runs: int) -> int:
    """Fewer rounds where every refresh reads thousands of domains."""
    return {1: runs, 500: max(2, runs // 2), 2000: max(2, runs * 2 // 5)}.get(domains, runs)


class Bench:
    """What every target shares: environment, runner, scratch space, results."""

    def __init__(self, options: argparse.Namespace, scratch: Path) -> None:
        self.options = options
        self.scratch = scratch
        self.env = child_env()
        self.runner = Runner(scratch, self.env)
        self.results: list[Result] = []
        self.windows: list[windows.Window] = []
        self.skipped: list[str] = []

    def node_targets(self) -> list[Target]:
        """The test-driver nodes asked for, written into the scratch directory."""
        targets = []
        for count in NODE_SIZES:
            if f"node-{count}" in self.options.targets:
                uri, domain = write_node(self.scratch, count)
                rounds = rounds_for(count, self.options.runs)
                targets.append(Target(f"node-{count}", uri, domain,
                                      f"test-driver node of {count} domains, domain {domain}",
                                      rounds, imports=count == 1, domains=count))
        return targets

    def measure(self, target: Target) -> None:
        """The rounds of one target."""
        say(f"{target.key}: {target.label}, {target.rounds} rounds")
        self.results.append(TargetRounds(target, self.runner, self.scratch, say).run())

    def node_windows(self) -> None:
        """The refresh windows on test-driver nodes of 1, 50 and 500 domains."""
        for count in windows.WINDOW_SIZES:
            uri, _last = write_node(self.scratch, count)
            say(f"window: {len(CHECKS)} checks x {count} domains")
            names = [domain_name(index) for index in range(count)]
            self.windows.append(windows.run_window(sys.executable, self.env, f"node-{count}",
                                                   uri, names, self.scratch))

    def real_guest(self) -> None:
        """The real guest's rounds and window (main() holds the tiers' lock)."""
        try:
            with real_guest(self.options.real_guest_wait, say) as guest:
                target = Target("qemu", guest.uri, guest.domain,
                                f"real guest {guest.domain} on {guest.uri}, "
                                f"{guest.virt_type.upper()}", self.options.runs,
                                test_driver=False)
                self.measure(target)
                say(f"window: {len(CHECKS)} checks x the real guest")
                self.windows.append(windows.run_window(
                    sys.executable, self.env, "qemu", guest.uri, [guest.domain],
                    self.scratch, rpc_log=True))
        except Skipped as why:
            self.skipped.append(f"real guest (qemu): skipped: {why}")


def _version(argv: list[str]) -> str:
    return subprocess.run(argv, capture_output=True, text=True,
                          check=False).stdout.strip() or "?"


def machine_lines(deb: Path) -> list[str]:
    """Date, machine, tree and versions, for the results header."""
    model = "unknown CPU"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    debian = Path("/etc/debian_version").read_text().strip() if Path(
        "/etc/debian_version").exists() else "?"
    venv = ", ".join(f"{name} {importlib.metadata.version(name)}"
                     for name in ("libvirt-python", "nagiosplugin", "lxml"))
    system = _version(["dpkg-query", "-W", "-f", "${Package} ${Version}, ",
                       "python3-libvirt", "python3-nagiosplugin", "python3-lxml",
                       "monitoring-plugins-contrib"]).rstrip(", ")
    system_python = _version(["/usr/bin/python3", "-c",
                              "import platform; print(platform.python_version())"])
    return [f"date: {datetime.now().astimezone().isoformat(timespec='seconds')}; "
            f"tree {git_tree()}; load average at the start {os.getloadavg()[0]:.2f}",
            f"machine: {os.cpu_count()} cores ({model}), Linux {platform.release()}, "
            f"Debian {debian}",
            f"deb form: /usr/bin/python3 {system_python}, {deb.name} built from the tree, "
            f"{system}",
            f"venv form: python {platform.python_version()} ({sys.executable}), "
            f"checks/check_vm_*; {venv}"]


METHOD = """\
wall: ms, whole process (spawn to reap), median [interquartile range]; CPU: user+sys
(wait4); RSS: peak resident set, MiB (GNU time %M). x cl: median wall over the median
wall of check_libvirt -l cpu on the same target, timed in the same rounds. x floor: a
hit's median wall over the floor's, python3 -c 'import nagiosplugin, argparse, json'
under the same form's interpreter (its default start, with site), timed in the same
rounds on every target.
deb: /usr/lib/nagios/plugins/check_vm_* (the installed package), started as the daemons
start it, by its #! line: /usr/bin/python3 -S (no site; libcheck adds the site
directories); venv: .venv/bin/python checks/check_vm_*. Every run of a VM check: --sample-interval
0.05, a stored baseline (steady state).
hit: default --snapshot-max-age (15 s), right after another check's refresh; the check's
  baseline is older than the snapshot by more than --sample-interval: it reads its
  domain's part only (no libvirt, no lxml); verified: the generation is unchanged.
  check_vm_host's hit follows the VM checks' refreshes and reads the snapshot's host
  summary (g-<n>/host); it has no baseline, hence no refresh of its own ('-').
refresh: default --snapshot-max-age, right after the check's own direct run: the snapshot
  is older than its baseline, so it reads every domain of the URI and writes a new
  generation, once (verified); 'details' says how often a --snapshot-max-age 0.001 run
  refreshes.
  With one VM on the URI (node-1, the real guest) every run of a lone check is one.
direct: --snapshot-max-age 0: the check reads libvirt, no snapshot.
The test driver parses its node file on every connection (about 0.4 s for 500 domains,
1.4 s for 2000) and has no bulk numbers: a refresh there makes the per-domain calls
for every domain, and check_libvirt and the direct path pay the parse too."""

WINDOW_NOTE = """\
Per refresh window: 4 checks x N domains in one process (the calls are those a process
per run makes), baselines stored, in a fresh state directory; the first run refreshes,
the others hit. bulk: getAllDomainStats; XML reads: XMLDesc; XML parsed: libcheck's
parses (the devices are known from the previous refresh); per-domain: the domain's
own calls. The test driver's getAllDomainStats carries the domain state only: its
per-domain calls (and an XMLDesc per domain, hashed as the device signature) are that
driver's limitation; QEMU's bulk call carries every number and the device names."""


def breakdown(imports: Result) -> list[str]:
    """The import breakdown of each form, from the import target's -X importtime runs."""
    lines = []
    for form in FORM_KEYS:
        runs = imports.hit_imports.get(form)
        if runs is not None:
            lines += [f"import breakdown ({form}, {imports.target.key}): every module a verified "
                      "hit imports that the floor does not, under python -X importtime",
                      *hitimports.table(runs, BREAKDOWN_RUNS), ""]
    return lines


def compose(bench: Bench, header: list[str], elapsed: float) -> tuple[str, bool]:
    """The whole report, and whether every timed run passed and every hit was one."""
    results = bench.results
    imports = next((r for r in results if r.target.imports), None)
    rounds = ", ".join(f"{r.target.key} {r.target.rounds}" for r in results)
    hit_lines, all_hits = snapreport.hit_verdicts(results) if results else ([], True)
    parts = [*header, f"tree at the end: {git_tree()}; rounds: {rounds} (fewer on the big "
             f"nodes, whose every refresh and direct run parses the node); benchmark took "
             f"{elapsed:.0f} s; load average at the end {os.getloadavg()[0]:.2f}", "",
             METHOD, "", *snapreport.check_table(results, FORM_KEYS), "",
             "the floor: python3 -c 'import nagiosplugin, argparse, json' under the form's "
             "interpreter, same rounds", *snapreport.floor_table(results, FORM_KEYS), "",
             "peer: Debian's check_libvirt (monitoring-plugins-contrib), same rounds",
             *snapreport.peer_table(results), ""]
    if imports is not None:
        parts += [f"import costs on {imports.target.key}, same rounds",
                  *snapreport.import_table(imports, FORM_KEYS), "",
                  *breakdown(imports)]
    if bench.windows:
        parts += ["libvirt calls per refresh window", WINDOW_NOTE,
                  *windows.table(bench.windows), ""]
    parts += ["targets", *snapreport.hit_peer_verdicts(results, FORM_KEYS),
              *snapreport.hit_floor_verdicts(results, FORM_KEYS),
              *snapreport.refresh_verdicts(results, FORM_KEYS, imports),
              *snapreport.scale_verdicts(results, FORM_KEYS),
              *windows.verdicts(bench.windows), *hit_lines, "", *bench.skipped]
    notes = [f"{r.target.key}: {note}" for r in results for note in r.notes]
    odd = [f"{r.target.key} {key}: exits {sorted(codes)}" for r in results
           for key, codes in r.statuses.items() if codes != {0}]
    parts += ["", "details", *snapreport.always_notes(results), *windows.methods(bench.windows),
              *odd, *notes]
    return "\n".join(parts) + "\n", all_hits


def prerequisites(python: str) -> Path:
    """GNU time, the package, the peer and the checkout's bytecode."""
    problem = gnu_time_missing()
    if problem:
        raise installed.NotInstallable(problem)
    deb = installed.ensure_package(say)
    installed.ensure_peer(say)
    installed.compile_checkout(python)
    return deb


def measure_all(options: argparse.Namespace, deb: Path, started: float) -> tuple[str, bool]:
    """Every target and window, in a scratch directory; the report."""
    header = machine_lines(deb)
    scratch = Path(tempfile.mkdtemp(prefix="check_vm-bench-"))
    try:
        bench = Bench(options, scratch)
        for target in bench.node_targets():
            bench.measure(target)
        bench.node_windows()
        if "qemu" in options.targets:
            bench.real_guest()
        return compose(bench, header, time.monotonic() - started)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the benchmark, print the report and write it to the results file."""
    options = parse_args(argv)
    started = time.monotonic()
    try:
        say(f"bench: taking {TIERS_LOCK} (waits for a running realvm, icinga or package tier)")
        with tiers_lock(options.lock_wait):
            deb = prerequisites(sys.executable)
            with installed.peer_spool_parent():
                text, all_good = measure_all(options, deb, started)
    except installed.NotInstallable as problem:
        say(f"bench: {problem}")
        return 2
    print(text, end="")
    resultsfile.write_section(options.output, "make bench", text)
    if not all_good:
        say("bench: FAILED: a timed run failed, or a timed hit was no snapshot hit "
            "(see 'targets')")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
