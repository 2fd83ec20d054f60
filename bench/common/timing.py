"""Time one whole process: wall time, CPU time (user+sys) and peak RSS.

Linux gives a child the peak RSS of the process that forked (or vforked) it
when the child execs, so a child started straight from this (large) Python
process would report our RSS, not its own. Each process therefore runs under
GNU time, a small C program whose own child starts from its small memory:
`%M` (its wait4's ru_maxrss) is the command's own peak. CPU time comes from our
wait4 on GNU time, which includes its reaped child (and GNU time's own
fraction of a millisecond, the same for every command); wall time is measured
around the spawn and the wait.
"""

from __future__ import annotations

import os
import shutil
import statistics
import time
from pathlib import Path
from typing import NamedTuple, Optional, Sequence

GNU_TIME = "/usr/bin/time"


class Sample(NamedTuple):
    """One run of one command."""

    wall_ms: float
    cpu_ms: float
    rss_mib: float
    status: int


class Summary(NamedTuple):
    """Median and spread of one metric over the runs."""

    median: float
    q1: float
    q3: float
    low: float
    high: float

    @classmethod
    def of(cls, values: Sequence[float]) -> Summary:
        """Median, quartiles (inclusive method), minimum and maximum."""
        if len(values) < 2:
            only = values[0]
            return cls(only, only, only, only, only)
        q1, median, q3 = statistics.quantiles(values, n=4, method="inclusive")
        return cls(median, q1, q3, min(values), max(values))


def gnu_time_missing() -> Optional[str]:
    """Why peak RSS cannot be measured here, or None."""
    if shutil.which(GNU_TIME) is None:
        return f"{GNU_TIME} not found: install Debian's `time` package (apt-get install time)"
    return None


class Runner:
    """Runs commands under GNU time with a fixed environment and output file."""

    def __init__(self, scratch: Path, env: dict[str, str]) -> None:
        self._report = scratch / "gnu-time.out"
        self.env = env

    def run(self, argv: Sequence[str]) -> Sample:
        """Run `argv` once (stdout and stderr to /dev/null) and measure it."""
        command = [GNU_TIME, "-f", "%M", "-o", str(self._report), "--", *argv]
        actions = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0) for fd in (1, 2)]
        started = time.perf_counter()
        pid = os.posix_spawn(GNU_TIME, command, self.env, file_actions=actions)
        _pid, wait_status, usage = os.wait4(pid, 0)
        wall = time.perf_counter() - started
        return Sample(wall * 1000, (usage.ru_utime + usage.ru_stime) * 1000,
                      self._peak_kib() / 1024, os.waitstatus_to_exitcode(wait_status))

    def _peak_kib(self) -> float:
        # With a non-zero exit GNU time writes "Command exited ..." first.
        lines = self._report.read_text().split()
        return float(lines[-1]) if lines else float("nan")
