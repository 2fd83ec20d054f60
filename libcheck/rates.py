"""Counter snapshots, the choice of a baseline, and per-second rates.

A snapshot is the flat form of a sample that the state store keeps: for each
group (`""` for the domain, else a device name) its cumulative counters.  A
rate is a delta over the real interval between two snapshots.  A baseline is
refused when the domain was restarted (its ID changed), when it is older than
the maximum age, or when it lies in the future (the clock went back); a group
is refused when any of its counters went down (a counter reset).  A refused
or missing baseline is never guessed around: the caller takes a second
sample itself.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping, NamedTuple, Optional

DOMAIN_GROUP = ""

Counters = Mapping[str, Mapping[str, float]]


class Snapshot(NamedTuple):
    """Cumulative counters at one moment, grouped by device."""

    wall_time: float
    domain_id: Optional[int]
    counters: Counters
    # Only meaningful between two snapshots of the same process; never stored.
    monotonic_time: Optional[float] = None

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {"wall_time": self.wall_time, "domain_id": self.domain_id,
                "counters": {group: dict(values) for group, values in self.counters.items()}}

    @classmethod
    def from_json(cls, data: Any) -> Snapshot:
        """Rebuild a stored snapshot; ValueError for anything of the wrong shape."""
        if not isinstance(data, dict):
            raise ValueError("a snapshot is not an object")
        wall_time, domain_id = data.get("wall_time"), data.get("domain_id")
        if not _is_number(wall_time) or not _is_domain_id(domain_id):
            raise ValueError("a snapshot has no valid time or domain ID")
        return cls(float(wall_time), domain_id, _counters_from_json(data.get("counters")))


def _is_number(value: Any) -> bool:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _is_domain_id(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def _counters_from_json(data: Any) -> dict[str, dict[str, float]]:
    if not isinstance(data, dict):
        raise ValueError("snapshot counters are not an object")
    counters = {}
    for group, values in data.items():
        if not isinstance(values, dict) or not all(
                isinstance(name, str) and _is_number(value) for name, value in values.items()):
            raise ValueError(f"snapshot counters of '{group}' are not numbers")
        counters[group] = dict(values)
    return counters


def interval(old: Snapshot, new: Snapshot) -> float:
    """Seconds between two snapshots, by the monotonic clock where both have it."""
    if old.monotonic_time is not None and new.monotonic_time is not None:
        return new.monotonic_time - old.monotonic_time
    return new.wall_time - old.wall_time


def group_rates(old: Snapshot, new: Snapshot, group: str) -> Optional[dict[str, float]]:
    """Per-second rates of one group's counters, or None when they reset.

    Any counter that went down means the device (or domain) was reset, and
    one that exists only in `new` has nothing to compare with: either way the
    whole group is None.
    """
    seconds = interval(old, new)
    before, after = old.counters.get(group), new.counters.get(group)
    if before is None or after is None or seconds <= 0:
        return None
    if any(name not in before or after[name] < before[name] for name in after):
        return None  # a counter went down, or one appeared: no sound baseline
    return {name: (after[name] - before[name]) / seconds for name in after}


class BaselinePolicy(NamedTuple):
    """Which stored snapshot a run measures against, and which it keeps.

    `settled_age`: a baseline at least this old is measured against, newest
    first.  `shortest_age`: a younger baseline is still used (the oldest such)
    when it is at least this old, so that back-to-back or concurrent runs
    neither sleep nor measure over milliseconds.  `max_age`: older is stale.
    """

    shortest_age: float
    settled_age: float
    max_age: float

    def valid(self, history: Iterable[Snapshot], now: Snapshot) -> list[Snapshot]:
        """Snapshots that may serve as a baseline for `now`, oldest first."""
        return sorted((old for old in history
                       if old.domain_id == now.domain_id
                       and 0 < now.wall_time - old.wall_time <= self.max_age),
                      key=lambda old: old.wall_time)

    def choose(self, history: Iterable[Snapshot], now: Snapshot) -> Optional[Snapshot]:
        """The baseline to measure `now` against, or None when none is fit."""
        candidates = self.valid(history, now)
        settled = [old for old in candidates if now.wall_time - old.wall_time >= self.settled_age]
        if settled:
            return settled[-1]
        usable = [old for old in candidates
                  if now.wall_time - old.wall_time >= self.shortest_age]
        return usable[0] if usable else None

    def refusal(self, history: Iterable[Snapshot], now: Snapshot) -> str:
        """Why no stored snapshot can be a baseline, in a few words."""
        history = list(history)
        if not history:
            return "no previous sample"
        if all(old.domain_id != now.domain_id for old in history):
            return "the domain was restarted since the previous sample"
        if all(old.wall_time >= now.wall_time for old in history):
            return "the clock went back since the previous sample"
        if all(now.wall_time - old.wall_time > self.max_age for old in history):
            return "the previous sample is older than --max-age"
        return "the previous sample is only moments old"

    def retain(self, history: Iterable[Snapshot], current: Snapshot) -> list[Snapshot]:
        """What to store: `current`, the next run's likely baseline, and the
        oldest young snapshot (it settles soonest).  Three at most."""
        candidates = [old for old in self.valid(history, current) if old != current]
        settled = [old for old in candidates
                   if current.wall_time - old.wall_time >= self.settled_age]
        young = [old for old in candidates if old not in settled]
        kept = [_only_groups_of(old, current) for old in settled[-1:] + young[:1]]
        return sorted([*kept, current], key=lambda snapshot: snapshot.wall_time)


def _only_groups_of(old: Snapshot, current: Snapshot) -> Snapshot:
    """`old` without the groups (devices) that `current` no longer has."""
    counters = {group: values for group, values in old.counters.items()
                if group in current.counters}
    return Snapshot(old.wall_time, old.domain_id, counters, old.monotonic_time)
