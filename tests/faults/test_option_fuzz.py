"""Every option of every check, given hostile values: a plugin's answer, never a crash.

The checks come from the registry and their options from their own parsers,
so a new option is fuzzed without an edit here. Each value goes to one
option at a time, against the test driver's domain; every run must end with
exit 0-3, a status line whose state matches the exit code, nothing on stderr,
no traceback and no "internal error". Values that are not UTF-8 (argv bytes,
which Python hands over as lone surrogates) are a usage error for every
option but --state-dir, which is a path and may hold any bytes.

The runs of one check share one interpreter (harness.batchrun forks a child
per case), which keeps the whole product in well under a minute; a few
cases also run as real command lines, with the bytes in argv.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest
from harness.batchrun import run_batch
from harness.checkrun import CheckRun, run_check

from libcheck import cli, registry

URI = "test:///default"
# Short enough that the valid cases are quick, long enough to be below half of --timeout.
BASE = ("--connect", URI, "--domain", "test", "--sample-interval", "0.05")
HOST_BASE = ("--connect", URI)
NOT_UTF8 = ("\udcff\udcfe", "caf\udce9")  # the bytes ff fe, and a Latin-1 "café"
VALUES = (
    "", " ", "0", "-0", "-1", "1e-30", "9" * 400, "-" + "9" * 400,
    "nan", "NaN", "inf", "-inf", "infinity",
    *NOT_UTF8,
    "a\x01b", "line\nbreak", "tab\there", "\x7f", "ünïcødé 日本",
    "x" * 65536, "--", "=", "'", '"', "$HOME", "%s%n",
)
RANGES = (
    "@", "~", "~:", ":", "~:~", "@~:~", "10:5", "@-inf:inf", "nan:nan", "inf:", ":inf",
    "1e-30:1e-20", "@1e-30", "1" + "0" * 400 + ":", "5Ki:5Mi", "-5:-1", "1:2:3",
    "cpu_usage=", "=5", "cpu_usage=@~:0", "no such label=5", "\udcff=5",
    "vcpu0_usage=1e308", "disk_read_bytes_per_second=10G", "=", "==", "a=b=c",
)
# A path takes any bytes and each one costs a whole run: the values that differ as paths.
PATHS = ("", "-1", *NOT_UTF8, "line\nbreak", "x" * 65536, "x" * 256, "../..")
THRESHOLD_OPTIONS = ("--warning", "--critical")
PATH_OPTIONS = ("--state-dir", "--expect-file")
STATES = {"OK": 0, "WARNING": 1, "CRITICAL": 2, "UNKNOWN": 3}


def value_options(parser: argparse.ArgumentParser) -> list[str]:
    """The long flag of every option of `parser` that takes a value."""
    return [action.option_strings[-1] for action in parser._actions
            if action.option_strings and action.nargs != 0]


def cases_of(entry: registry.CheckEntry) -> list[tuple[str, str]]:
    """(option, value) for the check: every value for every option, ranges for thresholds."""
    cases = []
    for option in value_options(cli.check_parser(entry.load())):
        values = (VALUES + RANGES if option in THRESHOLD_OPTIONS
                  else PATHS if option in PATH_OPTIONS else VALUES)
        cases += [(option, value) for value in values]
    return cases


def problems(run: CheckRun, title: str, option: str, value: str) -> list[str]:
    """What is wrong with one run's answer (nothing, for a plugin's answer)."""
    found = []
    first = run.lines[0] if run.lines else ""
    status = re.match(rf"{title} (OK|WARNING|CRITICAL|UNKNOWN) - \S", first)
    if run.returncode not in STATES.values():
        found.append(f"exit {run.returncode}")
    if not status:
        found.append("no status line")
    elif STATES[status[1]] != run.returncode:
        found.append(f"{status[1]} with exit {run.returncode}")
    if "internal error" in run.stdout or "Traceback" in run.stdout + run.stderr:
        found.append("a crash")
    if run.stderr:
        found.append("stderr")
    usage_error = run.returncode == 3 and len(run.lines) == 1 and "UTF-8" in first
    if value in NOT_UTF8 and option not in PATH_OPTIONS and not usage_error:
        found.append("not a one-line usage error about UTF-8")
    return [f"{option} {value[:40]!r}: {', '.join(found)}: {run.stdout[:300]!r} "
            f"{run.stderr[-300:]!r}"] if found else []


@pytest.mark.parametrize("entry", registry.CHECKS, ids=[e.name for e in registry.CHECKS])
def test_no_option_value_crashes_a_check(entry, tmp_path: Path):
    cases = cases_of(entry)
    runs = run_batch(entry.executable, [[*BASE, option, value] for option, value in cases],
                     state_dir=tmp_path / "state")
    found = [problem for (option, value), run in zip(cases, runs)
             for problem in problems(run, entry.title, option, value)]
    assert not found, f"{len(found)} of {len(cases)} cases:\n" + "\n".join(found)


@pytest.mark.parametrize("entry", registry.HOST_CHECKS,
                         ids=[e.name for e in registry.HOST_CHECKS])
def test_no_option_value_crashes_a_check_of_the_hypervisor(entry, tmp_path: Path):
    cases = cases_of(entry)
    state_dir = tmp_path / "state" if entry.load().uses_snapshot else None
    runs = run_batch(entry.executable, [[*HOST_BASE, option, value] for option, value in cases],
                     state_dir=state_dir)
    found = [problem for (option, value), run in zip(cases, runs)
             for problem in problems(run, entry.title, option, value)]
    assert not found, f"{len(found)} of {len(cases)} cases:\n" + "\n".join(found)


@pytest.mark.parametrize("entry", registry.CHECKS, ids=[e.name for e in registry.CHECKS])
@pytest.mark.parametrize("option", ["--connect", "--domain", "--warning", "--max-age"])
def test_bytes_that_are_not_utf8_on_a_real_command_line_are_a_usage_error(
        entry, option, tmp_path: Path):
    # A str with surrogates goes to the process as the bytes they stand for.
    run = run_check(entry.executable, *BASE, option, "qemu:///\udcff\udcfe",
                    state_dir=tmp_path / "state")
    assert run.returncode == 3, run.stdout + run.stderr
    assert run.lines == [run.lines[0]] and run.stderr == ""
    assert re.fullmatch(rf"{entry.title} UNKNOWN - argument (-\w/)?{option}: .*UTF-8.*",
                        run.lines[0]), run.lines[0]
    assert not (tmp_path / "state").exists()  # refused before anything was touched


def test_a_state_dir_of_bytes_that_are_not_utf8_is_a_path_like_any_other(tmp_path: Path):
    state_dir = tmp_path / "st\udcffate"
    run = run_check("check_vm_cpu", *BASE, state_dir=state_dir)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.status.startswith("VM_CPU OK - ")
    assert any(Path(bytes(state_dir).decode("utf-8", "surrogateescape")).iterdir())
