"""The plugins as Icinga runs them, each run timed on the test's clock.

The daemon's CheckVmPluginDir points at a directory of wrappers, one per
check, that read the wall clock just before starting the real plugin and
just after it exits, and append `start end` to `<log dir>/<check>.log`. A
check takes its samples inside its run (the tier gives it no host snapshot
to reuse), so two successive runs of one service bound the time between
their samples the way realvm/bracket.py bounds two runs of the test's own.
The databases stamp each point with the run's end (Icinga's execution_end,
whole seconds): the run of a point at second t is the last run that ended
before t + 1.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from pathlib import Path

from harness.checknames import EXECUTABLES, HOST_COMMAND
from harness.paths import CHECKS
from harness.vm.bracket import Bracket

CHECK_NAMES = (*EXECUTABLES, f"check_{HOST_COMMAND}")
# Between a plugin's exit and Icinga's reading of execution_end, at most.
STAMP_DELAY = 1.0

WRAPPER = """\
#!/bin/sh
# {name}, timed: `start end` (wall clock, seconds) per run into {log}.
start=$(date +%s.%N)
{real} "$@"
code=$?
echo "$start $(date +%s.%N)" >> {log}
exit $code
"""


@dataclass(frozen=True, order=True)
class Run:
    """One run of a plugin, on the wall clock."""

    start: float
    end: float


def write_wrappers(plugin_dir: Path, log_dir: Path) -> None:
    """A timed wrapper for every check in `plugin_dir`, logging into `log_dir`."""
    plugin_dir.mkdir(parents=True, exist_ok=True)
    log_dir.mkdir(parents=True, exist_ok=True)
    for name in CHECK_NAMES:
        wrapper = plugin_dir / name
        wrapper.write_text(WRAPPER.format(name=name, real=shlex.quote(str(CHECKS / name)),
                                          log=shlex.quote(str(log_dir / f"{name}.log"))))
        wrapper.chmod(0o755)


def runs_of(log_dir: Path, check: str) -> list[Run]:
    """Every finished run of `check`, in order."""
    path = log_dir / f"{check}.log"
    lines = path.read_text().splitlines() if path.exists() else []
    return sorted(Run(*map(float, line.split())) for line in lines if line.strip())


def run_index(runs: list[Run], stamp: int) -> int:
    """The index of the run whose result the databases stamped `stamp`."""
    ended = [index for index, run in enumerate(runs) if run.end < stamp + 1]
    assert ended, f"no run ended before the point at {stamp}"
    index = ended[-1]
    assert stamp - runs[index].end < STAMP_DELAY, (
        f"the point at {stamp} is {stamp - runs[index].end:.2f} s after the last run's end")
    return index


def bracket_of(runs: list[Run], index: int) -> Bracket:
    """How far apart the samples of run `index` and of the run before it can lie."""
    first, second = runs[index - 1], runs[index]
    return Bracket(second.start - first.end, second.end - first.start)
