"""Samples -> a measurement: the newest sample and rates over a real interval.

The interval is the one since a stored baseline when one is fit; else, for a
run without one, the one since an earlier sample of the domain that the
sampler keeps (the host snapshot's previous generation) when the same rules
make it fit; otherwise the run pauses for the sample interval and samples
again, so no run ever answers "no data yet" and none measures across a reset.
"""

from __future__ import annotations

import time
from types import MappingProxyType

from libcheck.rates import (
    DOMAIN_GROUP,
    BaselinePolicy,
    Counters,
    Snapshot,
    boot_time_of,
    group_rates,
    interval,
)
from libcheck.records import NamedTuple
from libcheck.samples import DomainSample, NotBefore
from libcheck.state import StateSlot

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterable, Mapping, Optional

# A shared, read-only empty mapping: a safe default for a field.
_EMPTY: Counters = MappingProxyType({})


class Measurement(NamedTuple):
    """The newest sample with the per-second rates of its counters.

    `rates` maps a counter group (`""` for the domain, else a device) to its
    counters' rates; a group that could not be measured is absent.
    `interval` is what the rates span, and `basis` says against what: when
    some groups were measured within the run while the rest used the stored
    baseline, `interval` is the baseline's and `basis` names the others.
    """

    sample: DomainSample
    rates: Mapping[str, Mapping[str, float]] = _EMPTY
    interval: Optional[float] = None
    basis: str = ""

    def rate(self, group: str, counter: str) -> Optional[float]:
        """One counter's rate per second, or None when it is not known."""
        return self.rates.get(group, {}).get(counter)


SINCE_PREVIOUS_RUN = "since the previous run"
BETWEEN_SNAPSHOTS = "between the two newest host snapshots"


def no_earlier_sample() -> Optional[DomainSample]:
    """What a source without earlier samples offers: none."""
    return None


class Measurer:
    """Takes one or two samples and measures against the stored baseline.

    `read` takes a sample no older than the bound it is given (None: any
    fresh one); `counters` flattens a sample to its counters (the
    check decides which); `sleep` is injectable for tests.
    """

    def __init__(self, read: Callable[[Optional[NotBefore]], DomainSample],
                 counters: Callable[[DomainSample], Counters],
                 policy: BaselinePolicy, sample_interval: float,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._read = read
        self._counters = counters
        self._policy = policy
        self._sample_interval = sample_interval
        self._sleep = sleep

    def measure(self, slot: Optional[StateSlot],
                earlier: Callable[[], Optional[DomainSample]] = no_earlier_sample
                ) -> Measurement:
        """Measure once, reading and updating `slot` (None: no state).  Without
        a stored baseline, `earlier` may give one: a sample of the domain older
        than those `read` gives, or None (a DomainReader's `earlier_sample`)."""
        history = slot.load() if slot else []
        # A sample of the moment of the newest baseline would measure nothing.
        sample = self._read(_after_newest(history, self._policy.shortest_age))
        if not sample.identity.is_active:
            return Measurement(sample)
        now = self._snapshot(sample)
        if not any(now.counters.values()):
            return Measurement(sample)  # nothing to measure a rate of
        baseline, basis, kept = self._baseline(history, now, earlier)
        rates = _rates_between(baseline, now)
        if baseline is not None and set(rates) == set(now.counters):
            measurement = Measurement(sample, rates, interval(baseline, now), basis)
            history = kept
        else:
            refusal = self._policy.refusal(history, now) if baseline is None else ""
            measurement, history, now = self._measure_within_run(history, baseline, basis,
                                                                 now, refusal)
        if slot is not None and measurement.sample.identity.is_active:
            slot.save(self._policy.retain(history, now))
        return measurement

    def _baseline(self, history: list[Snapshot], now: Snapshot,
                  earlier: Callable[[], Optional[DomainSample]]
                  ) -> tuple[Optional[Snapshot], str, list[Snapshot]]:
        """What to measure `now` against, the words that say what it is, and
        the history to keep: the stored baseline; else the `earlier` sample,
        when it is as fit as a stored one would have to be and rates at least
        one group (the words then say why no stored one served, and it is kept
        as a run's own first sample is, for the next run); else none."""
        stored = self._policy.choose(history, now)
        if stored is not None:
            return stored, SINCE_PREVIOUS_RUN, history
        sample = earlier()
        if sample is None or not sample.identity.is_active:
            return None, "", history
        fit = self._policy.choose([self._snapshot(sample)], now)
        if fit is None or not _rates_between(fit, now):
            return None, "", history
        why = self._policy.refusal(history, now)
        return fit, f"{BETWEEN_SNAPSHOTS} ({why})", [*history, fit]

    def _measure_within_run(self, history: list[Snapshot], baseline: Optional[Snapshot],
                            basis: str, first: Snapshot, refusal: str
                            ) -> tuple[Measurement, list[Snapshot], Snapshot]:
        """Sample again after the pause: groups unsound against `baseline` (all
        of them when it is None, refused for `refusal`) are measured over it;
        `basis` says what the baseline is."""
        self._sleep(self._sample_interval)
        sample = self._read(_after(first, self._sample_interval))
        if not sample.identity.is_active:
            return Measurement(sample), history, first
        later = self._snapshot(sample)
        # The next run's baseline must know every group: the stored ones do not.
        measurement = _measurement_within_run(sample, baseline, basis, first, later, refusal)
        return measurement, [first], later

    def _snapshot(self, sample: DomainSample) -> Snapshot:
        return Snapshot(sample.wall_time, sample.identity.domain_id, self._counters(sample),
                        sample.boot_time, sample.boot_id)


def _after_newest(history: list[Snapshot], age: float) -> Optional[NotBefore]:
    """`age` after the newest stored snapshot that has a boot-time reading."""
    timed = [old for old in history if old.boot_time is not None]
    if not timed:
        return None
    return _after(max(timed, key=boot_time_of), age)


def _after(snapshot: Snapshot, age: float) -> NotBefore:
    """`age` after a snapshot that has a boot-time reading."""
    return NotBefore(snapshot.boot_id, boot_time_of(snapshot) + age)


def _rates_between(old: Optional[Snapshot], new: Snapshot) -> dict[str, dict[str, float]]:
    if old is None:
        return {}
    rates = {}
    for group in new.counters:
        values = group_rates(old, new, group)
        if values is not None:
            rates[group] = values
    return rates


def _measurement_within_run(sample: DomainSample, baseline: Optional[Snapshot], basis: str,
                            first: Snapshot, later: Snapshot, refusal: str) -> Measurement:
    """Rates of the groups sound against `baseline` (which `basis` names) over
    it, of the others over the run's own two samples (`first`, `later`)."""
    # Only groups that were sound against the baseline at the first sample
    # may use it: a reset counter can outgrow its old value during the pause.
    sound = _rates_between(baseline, first)
    from_baseline = {group: values for group, values in _rates_between(baseline, later).items()
                     if group in sound}
    within_run = {group: values for group, values in _rates_between(first, later).items()
                  if group not in from_baseline}
    rates = {**within_run, **from_baseline}
    remeasured = [group for group in first.counters if group not in from_baseline]
    if baseline is None:
        why = refusal
    elif from_baseline:
        return Measurement(sample, rates, interval(baseline, later),
                           _mixed_basis(basis, baseline, first, later, remeasured))
    else:
        why = _why_remeasured(baseline, first, remeasured)
    return Measurement(sample, rates, interval(first, later), f"within this run ({why})")


def _mixed_basis(basis: str, baseline: Snapshot, first: Snapshot, later: Snapshot,
                 remeasured: list[str]) -> str:
    """"since the previous run; vdb over 1.50 s within this run (vdb is new)"."""
    names = ", ".join(_group_name(group) for group in remeasured)
    return (f"{basis}; {names} over {interval(first, later):.2f} s within this run "
            f"({_why_remeasured(baseline, first, remeasured)})")


def _why_remeasured(baseline: Snapshot, first: Snapshot, groups: Iterable[str]) -> str:
    """What kept each of `groups` from the baseline, e.g. "vdb is new"."""
    return ", ".join(_why_group_remeasured(baseline.counters.get(group), first.counters[group],
                                           _group_name(group)) for group in groups)


def _why_group_remeasured(before: Optional[Mapping[str, float]], after: Mapping[str, float],
                          name: str) -> str:
    if before is None:
        return f"{name} is new"
    if any(counter not in before for counter in after):
        return f"{name} has a new counter"
    return f"a counter of {name} was reset"


def _group_name(group: str) -> str:
    return "the domain" if group == DOMAIN_GROUP else group
