"""One benchmark row: a check against a target, its baselines and its samples.

Preparing a row runs the check once to create its state file, then once more
under bench/apitrace.py with -vv: that run is in the steady state (it measures
against the first run's sample), so its libvirt calls are the ones every timed
run makes, and its long output must say "since the previous run". The bare and
framework baselines are built from those calls. Timing is round-robin over the
rows of a target: check, floor, bare, framework, then the next row.

On the test-driver nodes the check and the bare baseline run with a few lines
prepended (`python -c`) that time libvirt's open (its parse of the node's
domains) inside the process: the check's own cost (whole process minus the
open) and what it adds to the bare baseline's own cost can then be compared
between 1 and 2000 domains without the open's run-to-run noise. To keep the
benchmark within minutes, the 2000-domain node times the check and the bare
baseline only, the 500-domain node the check only: the floor and the
framework's imports do not depend on the node (see default and node-1), and
every run there costs another 0.5-1.5 s of libvirt parsing the node.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple, Optional, Sequence

import baselines
from baselines import Call
from rpccount import RpcTally, tally
from timing import Runner, Sample, Summary

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
KINDS = ("check", "floor", "bare", "framework")
# Back-to-back runs: any stored sample at least this old is a usable baseline.
SAMPLE_INTERVAL = "0.05"
STEADY = "since the previous run"

# Wraps libvirt.openReadOnly so that the process writes how long the open took
# (wall and CPU ms) to RECORD; prepended to the check's and the bare baseline's code.
OPEN_TIMER = """\
import time, libvirt
_open = libvirt.openReadOnly
def _timed_open(uri):
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        return _open(uri)
    finally:
        spent = ((time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000)
        with open({record!r}, "w") as out:
            out.write("%f %f" % spent)
libvirt.openReadOnly = _timed_open
"""
CHECK_MAIN = """\
import sys
sys.argv = [{name!r}, *{options!r}, *sys.argv[1:]]
from libcheck.commands import {name}
{name}()
"""


class Target(NamedTuple):
    """A libvirt URI and the domain the checks read there."""

    key: str
    uri: str
    domain: str
    test_driver: bool
    label: str
    kinds: tuple[str, ...] = KINDS
    node: bool = False  # a generated node: time libvirt's open inside the processes


def check_options(check: str, target: Target, state_dir: Path) -> list[str]:
    """The options of one check run (without the executable)."""
    options = ["--connect", target.uri, "-d", target.domain, "--state-dir", str(state_dir),
               "--sample-interval", SAMPLE_INTERVAL]
    if check == "mem" and target.test_driver:
        options += ["--balloon-max-age", "0"]  # the test driver's balloon has no clock
    return options


@dataclass
class Row:
    """A check on a target, with what it was compared with and what was measured."""

    check: str
    target: Target
    state_dir: Path
    calls: list[Call] = field(default_factory=list)
    xml_parsers: list[str] = field(default_factory=list)
    status: int = 0
    basis: str = ""
    basis_after: str = ""
    rpc: Optional[RpcTally] = None
    bare_rpc: Optional[RpcTally] = None
    open_records: dict[str, Path] = field(default_factory=dict)
    argv: dict[str, list[str]] = field(default_factory=dict)
    samples: dict[str, list[Sample]] = field(
        default_factory=lambda: {kind: [] for kind in KINDS})
    notes: list[str] = field(default_factory=list)

    def has(self, kind: str) -> bool:
        """Whether `kind` was timed for this row."""
        return bool(self.samples[kind])

    def summary(self, kind: str, metric: str) -> Summary:
        """Median and spread of `metric` (wall_ms, cpu_ms, rss_mib) of `kind`."""
        return Summary.of([getattr(sample, metric) for sample in self.samples[kind]])

    def median(self, kind: str, metric: str = "wall_ms") -> float:
        """The median of `metric` of `kind`, NaN when `kind` was not timed."""
        return self.summary(kind, metric).median if self.has(kind) else math.nan

    def own(self, metric: str = "wall_ms", kind: str = "check") -> float:
        """Median over runs of the whole process minus libvirt's open (test-driver nodes)."""
        return Summary.of([_own(s, metric) for s in self.samples[kind]]).median

    def own_excess(self, metric: str = "wall_ms") -> float:
        """Median over rounds of (check's own - bare's own): what the check adds."""
        pairs = zip(self.samples["check"], self.samples["bare"])
        return Summary.of([_own(c, metric) - _own(b, metric) for c, b in pairs]).median

    def api_calls(self) -> list[str]:
        """The libvirt API calls after the connection opened, without the close."""
        names = [call.code for call in self.calls]
        opened = next((i for i, code in enumerate(names) if "openReadOnly" in code), -1)
        return [code for code in names[opened + 1:] if code != "c.close()"]


def _own(sample: Sample, metric: str) -> float:
    opened = {"wall_ms": sample.open_wall_ms, "cpu_ms": sample.open_cpu_ms}[metric]
    return getattr(sample, metric) - opened


def _run(argv: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def _basis(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("rates measured")]
    return lines[-1] if lines else "(no basis line in the -vv output)"


def _record(row: Row, kind: str) -> Path:
    row.state_dir.parent.mkdir(parents=True, exist_ok=True)
    row.open_records[kind] = row.state_dir.parent / f"{row.target.key}-{row.check}-{kind}.open"
    return row.open_records[kind]


def _check_argv(row: Row, python: str, options: list[str]) -> list[str]:
    if not row.target.node:
        return [python, str(REPO / "checks" / f"check_vm_{row.check}"), *options]
    timer = OPEN_TIMER.format(record=str(_record(row, "check")))
    main = CHECK_MAIN.format(name=f"check_vm_{row.check}", options=options)
    return [python, "-c", timer + main]


def _bare_argv(row: Row, python: str) -> list[str]:
    program = baselines.bare(row.calls)
    if row.target.node:
        program = OPEN_TIMER.format(record=str(_record(row, "bare"))) + program
    return [python, "-c", program]


def _trace(row: Row, python: str, options: list[str], env: dict[str, str]) -> None:
    record_path = row.state_dir.parent / f"{row.target.key}-{row.check}.calls.json"
    record_path.unlink(missing_ok=True)
    traced = _run([python, str(BENCH / "apitrace.py"), str(record_path), row.check, *options,
                   "-vv"], env)
    if not record_path.exists():
        raise RuntimeError(f"traced run of {row.check} on {row.target.key} failed: "
                           f"{traced.stderr.strip()[-600:]}")
    record = json.loads(record_path.read_text())
    row.calls = [Call(code, raised) for code, raised in record["calls"]]
    row.status, row.basis = record["exit"], _basis(traced.stdout)
    row.xml_parsers = record.get("xml", [])


def prepare(row: Row, python: str, env: dict[str, str]) -> None:
    """First run, traced steady-state run, and the baselines built from its calls."""
    options = check_options(row.check, row.target, row.state_dir)
    row.argv["check"] = _check_argv(row, python, options)
    for attempt in (1, 2):
        first = _run(row.argv["check"], env)
        _trace(row, python, options, env)
        if STEADY in row.basis:
            break
        row.notes.append(f"attempt {attempt}: first run exited {first.returncode} "
                         f"({first.stdout.strip()[:160]}); traced run: {row.basis}")
    row.argv["floor"] = [python, "-c", baselines.FLOOR]
    row.argv["bare"] = _bare_argv(row, python)
    row.argv["framework"] = [python, "-c", baselines.framework(row.calls, row.xml_parsers)]


def count_rpcs(row: Row, connect_only: Sequence[int], scratch: Path) -> None:
    """The RPCs of one steady-state check run and of its bare baseline."""
    log = scratch / "libvirt-rpc.log"
    row.rpc = tally(row.argv["check"], connect_only, log)
    row.bare_rpc = tally(row.argv["bare"], connect_only, log)


def confirm_steady(row: Row, env: dict[str, str]) -> None:
    """After timing: one -vv run must still measure since the previous run."""
    done = _run([*row.argv["check"], "-vv"], env)
    row.basis_after = _basis(done.stdout)


def _baseline_failed(row: Row, kind: str, env: dict[str, str]) -> RuntimeError:
    done = _run(row.argv[kind], env)
    return RuntimeError(f"{kind} baseline of {row.check} on {row.target.key} exited "
                        f"{done.returncode}: {done.stderr.strip()[-400:]}")


def _timed(row: Row, kind: str, runner: Runner, env: dict[str, str]) -> Sample:
    sample = runner.run(row.argv[kind])
    if kind != "check" and sample.status != 0:
        raise _baseline_failed(row, kind, env)
    if kind in row.open_records:
        wall, cpu = (float(x) for x in row.open_records[kind].read_text().split())
        sample = sample._replace(open_wall_ms=wall, open_cpu_ms=cpu)
    return sample


def time_round_robin(rows: Sequence[Row], runs: int, runner: Runner, env: dict[str, str],
                     say: Callable[[str], None]) -> None:
    """`runs` rounds; each round runs every row's check, floor, bare, framework."""
    for number in range(1, runs + 1):
        for row in rows:
            for kind in row.target.kinds:
                row.samples[kind].append(_timed(row, kind, runner, env))
        if number in (1, runs) or number % 5 == 0:
            say(f"  round {number}/{runs}")
    for row in rows:
        wrong = [s.status for s in row.samples["check"] if s.status != row.status]
        if wrong:
            row.notes.append(f"{len(wrong)} timed runs exited {sorted(set(wrong))}, "
                             f"expected {row.status}")


def say(text: str) -> None:
    """Progress, on stderr."""
    print(text, file=sys.stderr, flush=True)
