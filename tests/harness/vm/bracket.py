"""Bounds on a rate from the test's own clock, as an independent observer sees it.

A check samples somewhere inside each of its runs.  Reading time.monotonic()
before and after each run, the test knows that two runs' samples lie at least
`shortest` = (start of the second run - end of the first) and at most
`longest` = (end of the second run - start of the first) apart.  Work W done
between the runs then gives a rate within [W / longest, W / shortest],
whatever interval the check believes it measured over.  The bracket is only
as tight as the runs are short against the time between them: `spread` is
longest / shortest, and a test keeps it well below the error it must catch.

Where the work itself is a counter that the test can read too (CPU time,
which host load bends), the test reads it just before and just after each
run: the check's samples then saw at least the counter's move from the end
of the first run to the start of the second (`inner`), and at most its move
from the start of the first run to the end of the second (`outer`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Mapping, Optional, TypeVar

Result = TypeVar("Result")

# The runs' length against the time between them, at most: a bracket wider
# than this could not tell an interval 20% off from the true one.
MAX_SPREAD = 1.12


@dataclass(frozen=True)
class Timed:
    """What a call returned, with the monotonic clock read just before and after
    it, and the counters observed before and after those readings (if asked)."""

    result: object
    started: float
    ended: float
    seen_before: Optional[Mapping[str, float]] = None
    seen_after: Optional[Mapping[str, float]] = None


def timed(call: Callable[[], Result],
          observe: Optional[Callable[[], Mapping[str, float]]] = None) -> Timed:
    """Call `call`, reading the monotonic clock (and `observe`, outside it) around it."""
    seen_before = observe() if observe else None
    started = time.monotonic()
    result = call()
    ended = time.monotonic()
    return Timed(result, started, ended, seen_before, observe() if observe else None)


def counter_moves(first: Timed, second: Timed, name: str) -> tuple[float, float]:
    """(inner, outer): the least and the most that counter `name` can have moved
    between the samples of two runs timed with `observe`."""
    inner = second.seen_before[name] - first.seen_after[name]
    outer = second.seen_after[name] - first.seen_before[name]
    return inner, outer


def sleep_until(moment: float) -> None:
    """Sleep until time.monotonic() reaches `moment` (at once if it has)."""
    time.sleep(max(moment - time.monotonic(), 0.0))


@dataclass(frozen=True)
class Bracket:
    """The shortest and the longest time two runs' samples can lie apart."""

    shortest: float
    longest: float

    @classmethod
    def between(cls, first: Timed, second: Timed) -> Bracket:
        """The bracket of two timed runs, the first ended before the second started."""
        return cls(second.started - first.ended, second.ended - first.started)

    @property
    def spread(self) -> float:
        """longest / shortest: 1 for instant runs."""
        return self.longest / self.shortest

    def bounds(self, least_work: float, most_work: float) -> tuple[float, float]:
        """The lowest and the highest rate that work between the runs can give."""
        return least_work / self.longest, most_work / self.shortest

    def assert_rate(self, label: str, rate: float, least_work: float,
                    most_work: float | None = None, max_spread: float = MAX_SPREAD) -> None:
        """Fail unless `rate` lies within the bounds, and the bracket within `max_spread`."""
        assert self.spread < max_spread, (
            f"runs too long against the time between them to bound a rate: samples "
            f"{self.shortest:.2f}..{self.longest:.2f} s apart")
        low, high = self.bounds(least_work, least_work if most_work is None else most_work)
        assert low <= rate <= high, (
            f"{label} = {rate:g}, outside [{low:g}, {high:g}]: the work between two runs "
            f"whose samples lie {self.shortest:.3f}..{self.longest:.3f} s apart")
