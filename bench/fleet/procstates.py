"""How the agents' processes wait during a fleet run, sampled from /proc.

A thread reads the state of every process in the agents' cgroups every half
second over the measured window: runnable (R, on a core or waiting for one)
or in uninterruptible sleep (D), and for those in D the kernel function they
wait in (/proc/<pid>/wchan). Runs that time out while the cores are not full
wait in D: on this machine they once queued in `do_unlinkat` behind the
state directory's lock (docs/benchmark.md, the fourth probe).
"""

from __future__ import annotations

import collections
import contextlib
import threading
from dataclasses import dataclass, field
from typing import Callable, Iterable, Optional

SAMPLE_EVERY = 0.5
RUNNABLE, BLOCKED = "R", "D"


@dataclass
class Waits:
    """Mean processes runnable and blocked over the samples, and the blocked by wait channel."""

    samples: int
    runnable: float
    blocked: float
    channels: dict[str, float] = field(default_factory=dict)

    def line(self) -> str:
        top = sorted(self.channels.items(), key=lambda item: -item[1])[:3]
        where = ", ".join(f"{channel} {mean:.1f}" for channel, mean in top)
        return (f"{self.runnable:.1f} runnable and {self.blocked:.1f} in uninterruptible "
                f"sleep on average ({self.samples} samples)" + (f": {where}" if where else ""))


def stat_of(pid: int) -> tuple[str, list[str]]:
    """The process's name and the fields of /proc/<pid>/stat after it (the
    first is its state letter); OSError when it is gone.  The name may hold
    spaces and parentheses: the fields start after the last ')'."""
    with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as stat:
        text = stat.read()
    closing = text.rindex(")")
    return text[text.index("(") + 1:closing], text[closing + 2:].split()


def process_state(pid: int) -> Optional[tuple[str, str]]:
    """The process's state letter and, in D, its wait channel; None when it is gone."""
    try:
        state = stat_of(pid)[1][0]
        channel = ""
        if state == BLOCKED:
            with open(f"/proc/{pid}/wchan", encoding="ascii", errors="replace") as wchan:
                channel = wchan.read().strip() or "?"
        return state, channel
    except (OSError, ValueError, IndexError):
        return None


def summarise(samples: Iterable[Iterable[tuple[str, str]]]) -> Waits:
    """Waits of samples, each the states of the processes seen at one moment."""
    count, runnable, blocked = 0, 0, 0
    channels: collections.Counter[str] = collections.Counter()
    for sample in samples:
        count += 1
        for state, channel in sample:
            runnable += state == RUNNABLE
            if state == BLOCKED:
                blocked += 1
                channels[channel] += 1
    if not count:
        return Waits(0, 0.0, 0.0)
    return Waits(count, runnable / count, blocked / count,
                 {channel: number / count for channel, number in channels.items()})


class WaitSampler:
    """Samples the states of the processes `pids()` names, in a thread, until stop()."""

    def __init__(self, pids: Callable[[], list[int]], every: float = SAMPLE_EVERY) -> None:
        self._pids = pids
        self._every = every
        self._samples: list[list[tuple[str, str]]] = []
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="wait-sampler", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> Waits:
        self._stopped.set()
        self._thread.join()
        return summarise(self._samples)

    def _sample(self) -> None:
        while not self._stopped.wait(self._every):
            with contextlib.suppress(OSError):
                states = (process_state(pid) for pid in self._pids())
                self._samples.append([state for state in states if state is not None])
