"""Counter snapshots, the choice of a baseline, and per-second rates.

A snapshot is the flat form of a sample that the state store keeps: for each
group (`""` for the domain, else a device name) its cumulative counters, the
wall time, and the time on the monitoring host's boot-time clock with that
boot's ID.  A rate is a delta over the interval on the boot-time clock, which
no clock step bends and which counts time suspended.  A baseline is refused
when it has no boot-time reading (an earlier version stored it), when it was
taken in another boot of the monitoring host, when the domain was restarted
(its ID changed), when its wall and boot-time intervals disagree (the wall
clock was stepped), or when it is older than the maximum age by the wall
clock; a group is refused when any of its counters went down (a counter
reset).  A refused or missing baseline is never guessed around: the caller
takes a second sample itself.

A stored snapshot is read back only with every value in the range it can
have: counters are whole numbers from 0 to 2**64 - 1 (libvirt's are unsigned
64-bit), times finite, a domain ID a libvirt int.  Anything else is
UnusableSnapshot, and the whole stored history counts as absent.  A time
after now on its own clock refuses the snapshot as a baseline, and the next
write leaves it out.
"""

from __future__ import annotations

import math

from libcheck.records import NamedTuple
from libcheck.samples import MAX_C_INT, MAX_COUNTER

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Iterable, Mapping, Optional, TypeAlias, TypeGuard

DOMAIN_GROUP = ""

# How far the wall clock may drift from the boot-time clock over an interval
# before the baseline counts as stepped: 2 s, or 1% of longer intervals.  The
# kernel's NTP discipline changes the clock's rate by at most 500 ppm (under
# 2 s in an hour) and the two clocks are read microseconds apart, so a clock
# only kept in time stays well inside (a fast chrony slew may cost one
# measurement within the run).  A step inside cannot bend a rate (rates are
# timed on the boot-time clock) and moves a --max-age judgement by at most 1%.
STEP_TOLERANCE_SECONDS = 2.0
STEP_TOLERANCE_FRACTION = 0.01
_LONGEST_BOOT_ID = 64

# A string at run time: the checks import the name, only mypy reads what it says.
Counters: TypeAlias = "Mapping[str, Mapping[str, float]]"


class UnusableSnapshot(ValueError):
    """A stored snapshot of the right shape holding a value it cannot have;
    the message says which kind, without repeating what the file holds."""


class Snapshot(NamedTuple):
    """Cumulative counters at one moment, grouped by device.

    `boot_time` is seconds on the monitoring host's boot-time clock, comparable
    only with snapshots of the same `boot_id` (None where unknown).
    """

    wall_time: float
    domain_id: Optional[int]
    counters: Counters
    boot_time: Optional[float] = None
    boot_id: Optional[str] = None

    def to_json(self) -> dict[str, Any]:
        """The stored form."""
        return {"wall_time": self.wall_time, "boot_time": self.boot_time,
                "boot_id": self.boot_id, "domain_id": self.domain_id,
                "counters": {group: dict(values) for group, values in self.counters.items()}}

    @classmethod
    def from_json(cls, data: Any) -> Snapshot:
        """Rebuild a stored snapshot; ValueError for anything of the wrong
        shape, UnusableSnapshot for a value out of its range.

        The boot-time fields are optional: an earlier version stored none.
        """
        if not isinstance(data, dict):
            raise ValueError("a snapshot is not an object")
        wall_time, domain_id = data.get("wall_time"), data.get("domain_id")
        if not _is_number(wall_time) or not _is_domain_id(domain_id):
            raise ValueError("a snapshot has no valid time or domain ID")
        boot_time, boot_id = data.get("boot_time"), data.get("boot_id")
        if not (boot_time is None or _is_number(boot_time)) or not _is_boot_id(boot_id):
            raise ValueError("a snapshot has an invalid boot time or boot ID")
        counters = _counters_from_json(data.get("counters"))
        _require_domain_id_in_range(domain_id)
        return cls(float(wall_time), domain_id, counters,
                   None if boot_time is None else float(boot_time), boot_id)


def _is_number(value: Any) -> TypeGuard[float]:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(value)
    except OverflowError:  # an integer too large for a float
        return False


def _is_whole_or_finite(value: Any) -> bool:
    """An integer of any size, or a finite float: a number whose range can be judged."""
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and math.isfinite(value))


def _is_domain_id(value: Any) -> bool:
    return value is None or (isinstance(value, int) and not isinstance(value, bool))


def _is_boot_id(value: Any) -> bool:
    return value is None or (isinstance(value, str) and len(value) <= _LONGEST_BOOT_ID)


def _require_domain_id_in_range(domain_id: Optional[int]) -> None:
    # Times are judged by BaselinePolicy, which knows now on each clock.
    # -1 (inactive) is stored as None.
    if domain_id is not None and not 0 <= domain_id <= MAX_C_INT:
        raise UnusableSnapshot("a domain ID is out of range")


def _counters_from_json(data: Any) -> dict[str, dict[str, float]]:
    # The file's own names never go into a message: they could be anything.
    if not isinstance(data, dict):
        raise ValueError("snapshot counters are not an object")
    counters: dict[str, dict[str, float]] = {}
    for values in data.values():
        if not isinstance(values, dict) or not all(
                isinstance(name, str) and _is_whole_or_finite(value)
                for name, value in values.items()):
            raise ValueError("snapshot counters are not numbers")
    for group, values in data.items():
        counters[group] = {name: _counter(value) for name, value in values.items()}
    return counters


def _counter(value: float) -> int:
    """A stored counter as the whole number it must be."""
    if isinstance(value, float) and not value.is_integer():
        raise UnusableSnapshot("a counter is not a whole number")
    if value < 0:
        raise UnusableSnapshot("a counter is negative")
    if value > MAX_COUNTER:
        raise UnusableSnapshot("a counter is beyond 64 bits")
    return int(value)


def interval(old: Snapshot, new: Snapshot) -> Optional[float]:
    """Seconds between two snapshots on the boot-time clock; None when one has
    no boot-time reading or they lie in different boots of the monitoring host."""
    if old.boot_time is None or new.boot_time is None or old.boot_id != new.boot_id:
        return None
    return new.boot_time - old.boot_time


def step_tolerance(seconds: float) -> float:
    """How far wall and boot-time intervals of `seconds` may disagree unstepped."""
    return max(STEP_TOLERANCE_SECONDS, STEP_TOLERANCE_FRACTION * abs(seconds))


def group_rates(old: Snapshot, new: Snapshot, group: str) -> Optional[dict[str, float]]:
    """Per-second rates of one group's counters, or None when they reset.

    Any counter that went down means the device (or domain) was reset, and
    one that exists only in `new` has nothing to compare with: either way the
    whole group is None.
    """
    seconds = interval(old, new)
    before, after = old.counters.get(group), new.counters.get(group)
    if before is None or after is None or seconds is None or seconds <= 0:
        return None
    if any(name not in before or after[name] < before[name] for name in after):
        return None  # a counter went down, or one appeared: no sound baseline
    return {name: (after[name] - before[name]) / seconds for name in after}


class BaselinePolicy(NamedTuple):
    """Which stored snapshot a run measures against, and which it keeps.

    `settled_age`: a baseline at least this old is measured against, newest
    first.  `shortest_age`: a younger baseline is still used (the oldest such)
    when it is at least this old, so that back-to-back or concurrent runs
    neither sleep nor measure over milliseconds.  Ages are on the boot-time
    clock.  `max_age`: older, by the wall clock, is stale.
    """

    shortest_age: float
    settled_age: float
    max_age: float

    def valid(self, history: Iterable[Snapshot], now: Snapshot) -> list[Snapshot]:
        """Snapshots that may serve as a baseline for `now`, oldest first."""
        return sorted((old for old in history if self._unfit(old, now) is None),
                      key=boot_time_of)

    def choose(self, history: Iterable[Snapshot], now: Snapshot) -> Optional[Snapshot]:
        """The baseline to measure `now` against, or None when none is fit."""
        candidates = self.valid(history, now)
        settled = [old for old in candidates if _age(old, now) >= self.settled_age]
        if settled:
            return settled[-1]
        usable = [old for old in candidates if _age(old, now) >= self.shortest_age]
        return usable[0] if usable else None

    def refusal(self, history: Iterable[Snapshot], now: Snapshot) -> str:
        """Why no stored snapshot can be a baseline, in a few words: the reason
        of the previous run's newest sample, unless one was merely too young."""
        reasons = [self._unfit(old, now) for old in history]
        if not reasons:
            return "no previous sample"
        unfit = [reason for reason in reasons if reason is not None]
        if len(unfit) < len(reasons):
            return "the previous sample is only moments old"
        return unfit[-1]

    def _unfit(self, old: Snapshot, now: Snapshot) -> Optional[str]:
        """Why `old` can never be a baseline for `now` (None: it can, once old enough)."""
        if old.boot_time is None or now.boot_time is None:
            return ("the previous sample was stored by an earlier version, "
                    "without a boot-time clock reading")
        if old.boot_id != now.boot_id:
            return "the monitoring host was restarted since the previous sample"
        if old.domain_id != now.domain_id:
            return "the domain was restarted since the previous sample"
        seconds, wall_seconds = now.boot_time - old.boot_time, now.wall_time - old.wall_time
        if seconds <= 0:  # after now on its own clock: no step explains that
            return "the previous sample is not older than this one"
        step = wall_seconds - seconds  # what the wall clock gained on the boot-time clock
        if abs(step) > step_tolerance(seconds):
            return (f"the clock was stepped since the previous sample, "
                    f"{abs(step):.0f} s {'forward' if step > 0 else 'back'}")
        if wall_seconds > self.max_age:
            return "the previous sample is older than --max-age"
        return None

    def retain(self, history: Iterable[Snapshot], current: Snapshot) -> list[Snapshot]:
        """What to store: `current`, the next run's likely baseline, and the
        oldest young snapshot (it settles soonest).  Three at most."""
        candidates = [old for old in self.valid(history, current) if old != current]
        settled = [old for old in candidates if _age(old, current) >= self.settled_age]
        young = [old for old in candidates if old not in settled]
        kept = [_only_groups_of(old, current) for old in settled[-1:] + young[:1]]
        return [*kept, current]


def boot_time_of(snapshot: Snapshot) -> float:
    """The boot-time reading of a snapshot known to have one: a fresh sample's,
    or one that may serve as a baseline (only a stored one may lack it)."""
    if snapshot.boot_time is None:
        raise AssertionError("a snapshot without a boot-time reading")
    return snapshot.boot_time


def _age(old: Snapshot, now: Snapshot) -> float:
    """How old a snapshot that may serve as a baseline for `now` is, on the boot-time clock."""
    seconds = interval(old, now)
    if seconds is None:
        raise AssertionError("a baseline from another boot, or without a boot-time reading")
    return seconds


def _only_groups_of(old: Snapshot, current: Snapshot) -> Snapshot:
    """`old` without the groups (devices) that `current` no longer has."""
    counters = {group: values for group, values in old.counters.items()
                if group in current.counters}
    return old._replace(counters=counters)
