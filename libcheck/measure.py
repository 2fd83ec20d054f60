"""Samples -> a measurement: the newest sample and rates over a real interval.

The interval is the one since a stored baseline when one is fit; otherwise
the run pauses for the sample interval and samples again, so no run ever
answers "no data yet" and none measures across a reset.
"""

from __future__ import annotations

import time
from types import MappingProxyType
from typing import Callable, Mapping, NamedTuple, Optional

from libcheck.rates import BaselinePolicy, Counters, Snapshot, group_rates, interval
from libcheck.samples import DomainSample
from libcheck.state import StateSlot

# A shared, read-only empty mapping: a safe default for a field.
_EMPTY = MappingProxyType({})


class Measurement(NamedTuple):
    """The newest sample with the per-second rates of its counters.

    `rates` maps a counter group (`""` for the domain, else a device) to its
    counters' rates; a group that could not be measured is absent.
    """

    sample: DomainSample
    rates: Mapping[str, Mapping[str, float]] = _EMPTY
    interval: Optional[float] = None
    basis: str = ""

    def rate(self, group: str, counter: str) -> Optional[float]:
        """One counter's rate per second, or None when it is not known."""
        return self.rates.get(group, {}).get(counter)


class Measurer:
    """Takes one or two samples and measures against the stored baseline.

    `read` takes a sample; `counters` flattens a sample to its counters (the
    check decides which); `sleep` is injectable for tests.
    """

    def __init__(self, read: Callable[[], DomainSample],
                 counters: Callable[[DomainSample], Counters],
                 policy: BaselinePolicy, sample_interval: float,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._read = read
        self._counters = counters
        self._policy = policy
        self._sample_interval = sample_interval
        self._sleep = sleep

    def measure(self, slot: Optional[StateSlot]) -> Measurement:
        """Measure once, reading and updating `slot` (None: no state)."""
        history = slot.load() if slot else []
        sample = self._read()
        if not sample.identity.is_active:
            return Measurement(sample)
        now = self._snapshot(sample)
        if not any(now.counters.values()):
            return Measurement(sample)  # nothing to measure a rate of
        baseline = self._policy.choose(history, now)
        rates = _rates_between(baseline, now)
        if baseline is not None and set(rates) == set(now.counters):
            measurement = Measurement(sample, rates, interval(baseline, now),
                                      "since the previous run")
        else:
            reason = (self._policy.refusal(history, now) if baseline is None
                      else "a counter was reset or a device is new")
            measurement, history, now = self._measure_within_run(history, baseline, now, reason)
        if slot is not None and measurement.sample.identity.is_active:
            slot.save(self._policy.retain(history, now))
        return measurement

    def _measure_within_run(self, history: list[Snapshot], baseline: Optional[Snapshot],
                            first: Snapshot, reason: str):
        self._sleep(self._sample_interval)
        sample = self._read()
        if not sample.identity.is_active:
            return Measurement(sample), history, first
        later = self._snapshot(sample)
        rates = _rates_between(first, later)
        # Only groups that were sound against the baseline at the first sample
        # may use it: a reset counter can outgrow its old value during the pause.
        sound = _rates_between(baseline, first)
        rates.update({group: values for group, values in _rates_between(baseline, later).items()
                      if group in sound})
        measurement = Measurement(sample, rates, interval(first, later),
                                  f"within this run ({reason})")
        kept = [first] if baseline is None or len(sound) < len(first.counters) else [
            *history, first]
        return measurement, kept, later

    def _snapshot(self, sample: DomainSample) -> Snapshot:
        return Snapshot(sample.wall_time, sample.identity.domain_id,
                        self._counters(sample), sample.monotonic_time)


def _rates_between(old: Optional[Snapshot], new: Snapshot) -> dict[str, dict[str, float]]:
    if old is None:
        return {}
    rates = {}
    for group in new.counters:
        values = group_rates(old, new, group)
        if values is not None:
            rates[group] = values
    return rates
