"""Readings -> a verdict, through nagiosplugin's Check, contexts and summary.

A check turns a measurement into readings (label, value, unit, and the words
for a status line); this module judges them against the thresholds with
nagiosplugin and gathers the state, the status text, the perfdata and the
long output.
"""

from __future__ import annotations

from typing import NamedTuple, Optional, Sequence

import nagiosplugin
from nagiosplugin.state import Critical, Ok, ServiceState, Warn

from libcheck.errors import CheckError
from libcheck.perfdata import Perfdata
from libcheck.thresholds import LabelSpec, Thresholds, violation


class Reading(NamedTuple):
    """One value a check reports, with how to name it in a status line."""

    spec: LabelSpec
    value: float
    text: str
    device: Optional[str] = None
    minimum: Optional[float] = 0
    maximum: Optional[float] = None

    @property
    def label(self) -> str:
        """The perfdata label."""
        return self.spec.label_for(self.device)


class ReadingsResource(nagiosplugin.Resource):
    """Hands prepared readings to nagiosplugin as metrics."""

    def __init__(self, name: str, readings: Sequence[Reading]) -> None:
        self._name = name
        self.readings = {reading.label: reading for reading in readings}
        if len(self.readings) != len(readings):
            clash = sorted({r.label for r in readings if
                            sum(other.label == r.label for other in readings) > 1})
            raise CheckError(f"two values would share the perfdata label '{clash[0]}' "
                             "(a device named like a total or a generic label?)")

    @property
    def name(self) -> str:
        return self._name

    def probe(self):
        for reading in self.readings.values():
            yield nagiosplugin.Metric(reading.label, reading.value, reading.spec.uom,
                                      reading.minimum, reading.maximum, context="threshold")


class ThresholdContext(nagiosplugin.Context):
    """Judges every reading against its own or its generic thresholds."""

    def __init__(self, thresholds: Thresholds) -> None:
        super().__init__("threshold")
        self._thresholds = thresholds

    def evaluate(self, metric, resource):
        reading = resource.readings[metric.name]
        warning, critical = self._thresholds.ranges_for(reading.spec, metric.name)
        for state, threshold in ((Critical, critical), (Warn, warning)):
            if threshold is not None and not threshold.match(metric.value):
                return self.result_cls(state, violation(threshold, metric.value), metric)
        return self.result_cls(Ok, None, metric)

    def performance(self, metric, resource):
        reading = resource.readings[metric.name]
        warning, critical = self._thresholds.ranges_for(reading.spec, metric.name)
        return Perfdata(metric.name, metric.value, metric.uom, warning, critical,
                        metric.min, metric.max)


class ProblemSummary(nagiosplugin.Summary):
    """Status text: the check's calm summary, or the worst reading and why."""

    def __init__(self, domain_name: str, ok_text: str) -> None:
        self._domain_name = domain_name
        self._ok_text = ok_text

    def ok(self, results):
        return f"{self._domain_name}: {self._ok_text}"

    def problem(self, results):
        worst = results.most_significant
        first = worst[0]
        reading = first.resource.readings[first.metric.name]
        more = len([r for r in results if r.state != Ok]) - 1
        tail = f" (+{more} more)" if more > 0 else ""
        return f"{self._domain_name}: {reading.text} ({first.hint}){tail}"

    def verbose(self, results):
        return [f"{result.metric.name}: {result.resource.readings[result.metric.name].text}"
                + (f" ({result.state}: {result.hint})" if result.state != Ok else "")
                for result in results]


class Outcome(NamedTuple):
    """What a run prints and how it exits."""

    state: ServiceState
    text: str
    perfdata: tuple[str, ...] = ()
    details: tuple[str, ...] = ()


def _rank(state: ServiceState) -> int:
    # A threshold found CRITICAL says more than a condition that is UNKNOWN.
    return {0: 0, 1: 1, 3: 2, 2: 3}[state.code]


class Condition(NamedTuple):
    """A state the check imposes beside its thresholds (e.g. no balloon stats)."""

    state: ServiceState
    text: str


def judge(check_name: str, domain_name: str, ok_text: str, readings: Sequence[Reading],
          thresholds: Thresholds, condition: Optional[Condition] = None) -> Outcome:
    """Evaluate readings against thresholds with nagiosplugin.

    A `condition` wins the status line unless a threshold is worse.
    """
    check = nagiosplugin.Check(ReadingsResource(check_name, readings),
                               ThresholdContext(thresholds),
                               ProblemSummary(domain_name, ok_text))
    check()
    details = tuple(check.summary.verbose(check.results))
    state, text = check.state, check.summary_str
    if condition is not None and (not readings or _rank(condition.state) >= _rank(state)):
        state, text = condition.state, f"{domain_name}: {condition.text}"
    return Outcome(state, text, tuple(check.perfdata), details)
