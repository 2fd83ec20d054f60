"""One profiled row: a check against a target, prepared in its steady state.

Preparing a row runs the check once to create its state file, then once more
under bench/snapshot/apitrace.py with -vv: that run is in the steady state (it
measures against the first run's sample), so its libvirt calls are the ones
every timed run makes, and its long output must say "since the previous run".
The bare and framework baselines (baselines.py) are built from those calls.
"""

from __future__ import annotations

import json
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple, Sequence

from harness.paths import CHECKS as CHECKS_DIR
from harness.paths import REPO

from bench.profiling import baselines
from bench.profiling.baselines import Call

APITRACE = REPO / "bench" / "snapshot" / "apitrace.py"
# Back-to-back runs: any stored sample at least this old is a usable baseline.
SAMPLE_INTERVAL = "0.05"
STEADY = "since the previous run"


class Target(NamedTuple):
    """A libvirt URI and the domain the checks read there."""

    key: str
    uri: str
    domain: str
    test_driver: bool
    label: str


def check_options(check: str, target: Target, state_dir: Path) -> list[str]:
    """The options of one check run (without the executable)."""
    options = ["--connect", target.uri, "-d", target.domain, "--state-dir", str(state_dir),
               "--sample-interval", SAMPLE_INTERVAL]
    if check == "mem" and target.test_driver:
        options += ["--balloon-max-age", "0"]  # the test driver's balloon has no clock
    return options


@dataclass
class Row:
    """A check on a target, with the calls it makes and the command lines built from them."""

    check: str
    target: Target
    state_dir: Path
    calls: list[Call] = field(default_factory=list)
    xml_parsers: list[str] = field(default_factory=list)
    basis: str = ""
    argv: dict[str, list[str]] = field(default_factory=dict)


def _run(argv: Sequence[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), env=env, capture_output=True, text=True,
                          timeout=120, check=False)


def _basis(output: str) -> str:
    lines = [line for line in output.splitlines() if line.startswith("rates measured")]
    return lines[-1] if lines else "(no basis line in the -vv output)"


def _trace(row: Row, python: str, options: list[str], env: dict[str, str]) -> None:
    record_path = row.state_dir.parent / f"{row.target.key}-{row.check}.calls.json"
    record_path.unlink(missing_ok=True)
    traced = _run([python, str(APITRACE), str(record_path), row.check, *options, "-vv"], env)
    if not record_path.exists():
        raise RuntimeError(f"traced run of {row.check} on {row.target.key} failed: "
                           f"{traced.stderr.strip()[-600:]}")
    record = json.loads(record_path.read_text())
    row.calls = [Call(code, raised) for code, raised in record["calls"]]
    row.basis = _basis(traced.stdout)
    row.xml_parsers = record.get("xml", [])


def prepare(row: Row, python: str, env: dict[str, str]) -> None:
    """First run, traced steady-state run, and the baselines built from its calls."""
    options = check_options(row.check, row.target, row.state_dir)
    row.argv["check"] = [python, str(CHECKS_DIR / f"check_vm_{row.check}"), *options]
    for _attempt in (1, 2):
        _run(row.argv["check"], env)
        _trace(row, python, options, env)
        if STEADY in row.basis:
            break
    row.argv["floor"] = [python, "-c", baselines.FLOOR]
    row.argv["bare"] = [python, "-c", baselines.bare(row.calls)]
    row.argv["framework"] = [python, "-c", baselines.framework(row.calls, row.xml_parsers)]


