"""Readings -> a verdict, through nagiosplugin's Check, contexts and summary.

A check turns a measurement into readings (label, value, unit, and the words
for a status line); this module judges them against the thresholds with
nagiosplugin and gathers the state, the status text, the perfdata and the
long output.

Every threshold must judge something: one whose label no reading of the run
carries (the driver does not report it, the device is not reported, there
is no link speed...) makes the run UNKNOWN, in the check's words for why,
or the state the user chose for it (ok: a note).  A reading that crosses a
threshold is shown with enough decimals to see it cross.
"""

from __future__ import annotations

import math

import nagiosplugin
from nagiosplugin import Range
from nagiosplugin.state import Critical, Ok, ServiceState, Unknown, Warn

from libcheck.errors import CheckError
from libcheck.perfdata import Perfdata, format_value
from libcheck.records import NamedTuple
from libcheck.thresholds import (
    DISK_KIND,
    NIC_KIND,
    POOL_KIND,
    VCPU_KIND,
    LabelSpec,
    Target,
    Thresholds,
    device_label,
    violation,
)
from libcheck.units import decimal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Iterator, Optional, Sequence

    Number = Callable[[float, Optional[int]], str]

# The option that sets the state of a threshold that judges nothing (ok: a note).
UNMEASURED_OPTION = "--state-if-unmeasured-threshold"
# No status line needs more to show a value on the right side of a threshold.
MAX_DECIMALS = 12


class Phrase(NamedTuple):
    """How a reading reads: words around its number, at any precision."""

    before: str
    after: str = ""
    number: Number = decimal

    def at(self, value: float, decimals: Optional[int] = None) -> str:
        """The words with the number shown at `decimals` (None: its usual precision)."""
        return f"{self.before}{self.number(value, decimals)}{self.after}"


class Reading(NamedTuple):
    """One value a check reports, with how to name it in a status line.

    `phrase`, where given, lets a status line show the number with more
    decimals than `text` has, so that a crossed threshold is visibly crossed.
    """

    spec: LabelSpec
    value: float
    text: str
    device: Optional[str] = None
    minimum: Optional[float] = 0
    maximum: Optional[float] = None
    phrase: Optional[Phrase] = None

    @classmethod
    def of(cls, spec: LabelSpec, value: float, phrase: Phrase, device: Optional[str] = None,
           minimum: Optional[float] = 0, maximum: Optional[float] = None) -> Reading:
        """A reading whose text is its phrase at the usual precision."""
        return cls(spec, value, phrase.at(value), device, minimum, maximum, phrase)

    @property
    def label(self) -> str:
        """The perfdata label."""
        return self.spec.label_for(self.device)

    def text_against(self, threshold: Range) -> str:
        """The text, with the decimals it takes to read differently from the ends of
        `threshold` (`0.004% (> 0)`, not `0.0% (> 0)`)."""
        if self.phrase is None:
            return self.text
        return self.phrase.at(self.value, _decimals_apart(self.phrase.number, self.value,
                                                          threshold))


def _decimals_apart(number: Number, value: float, threshold: Range) -> Optional[int]:
    # Rounding keeps order: once the value reads differently from an end, it
    # reads on its own side of that end.
    ends = [end for end in (threshold.start, threshold.end)
            if math.isfinite(end) and end != value]
    for decimals in (None, *range(1, MAX_DECIMALS + 1)):
        if all(number(value, decimals) != number(end, decimals) for end in ends):
            return decimals
    return MAX_DECIMALS


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

    def text_of(self, result) -> str:
        """The reading's text, precise enough to show the threshold it crossed."""
        reading = result.resource.readings[result.metric.name]
        warning, critical = self._thresholds.ranges_for(reading.spec, result.metric.name)
        crossed = {Critical: critical, Warn: warning}.get(result.state)
        return reading.text_against(crossed) if crossed is not None else reading.text

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
        first = results.most_significant[0]
        more = len([r for r in results if r.state != Ok]) - 1
        tail = f" (+{more} more)" if more > 0 else ""
        return f"{self._domain_name}: {first.context.text_of(first)} ({first.hint}){tail}"

    def verbose(self, results):
        return [f"{result.metric.name}: {result.context.text_of(result)}"
                + (f" ({result.state}: {result.hint})" if result.state != Ok else "")
                for result in results]


class Outcome(NamedTuple):
    """What a run prints and how it exits: `details` are for -v, `notes` for every run."""

    state: ServiceState
    text: str
    perfdata: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


def _rank(state: ServiceState) -> int:
    # A threshold found CRITICAL says more than a condition that is UNKNOWN.
    return {0: 0, 1: 1, 3: 2, 2: 3}[state.code]


class Condition(NamedTuple):
    """A state the check imposes beside its thresholds (e.g. no balloon stats)."""

    state: ServiceState
    text: str


def _no_reason(target: Target) -> Optional[str]:
    return None


class Unmeasured(NamedTuple):
    """How a run treats a threshold that judges no reading.

    `reason` is the check's: why a metric (on a device, or on all: None) was
    not measured, or None when it does not know; `state` is what such a
    threshold makes the run (Ok: a note, for thresholds shared by hosts that
    differ).
    """

    reason: Callable[[Target], Optional[str]] = _no_reason
    state: ServiceState = Unknown


# Without the check's reasons, and loud.
UNMEASURED_IS_UNKNOWN = Unmeasured()


def judge(check_name: str, domain_name: str, ok_text: str, readings: Sequence[Reading],
          thresholds: Thresholds, condition: Optional[Condition] = None,
          unmeasured: Unmeasured = UNMEASURED_IS_UNKNOWN) -> Outcome:
    """Evaluate readings against thresholds with nagiosplugin.

    A `condition` wins the status line unless a threshold is worse; a threshold
    that judges nothing is such a condition (UNKNOWN), unless the check has
    one of its own already, which says why readings are missing.
    """
    check = nagiosplugin.Check(ReadingsResource(check_name, readings),
                               ThresholdContext(thresholds),
                               ProblemSummary(domain_name, ok_text))
    check()
    details = tuple(check.summary.verbose(check.results))
    condition, notes = _with_unjudged(condition, _unjudged(readings, thresholds, unmeasured),
                                      unmeasured.state)
    state, text = check.state, check.summary_str
    if condition is not None and (not readings or _rank(condition.state) >= _rank(state)):
        state, text = condition.state, f"{domain_name}: {condition.text}"
    fitted = fit_perfdata(_perfdata_items(check, thresholds), PERFDATA_BUDGET)
    return Outcome(state, text, fitted.perfdata, details, notes + fitted.notes)


# Nagios keeps 8 KiB of a plugin's output: the status line and the notes
# take the rest.
PERFDATA_BUDGET = 7 * 1024
# What a value is counted at when the perfdata is planned, so that what is left
# out depends on the domain's devices and the thresholds, never on the values:
# the widest `format_value` can write it. A value with a maximum (a percentage)
# takes its whole digits and four decimals, or ten for a small one
# (0.0000001234); any other is below 2**64 (what libvirt's counters hold, and
# no rate of them is more), where a float with a fraction has at most 17
# significant digits and a whole one is written as the integer it is.
WIDEST_SMALL_VALUE = len("0.0000000001")
NOMINAL_DECIMALS = 4
NOMINAL_WIDTH = len(str(2**64 - 1))
# A device's name in a note is cut to this many characters.
NAME_IN_NOTE = 40
# How a note names devices of a kind (its plural adds an s).
DEVICE_NOUNS = {VCPU_KIND: "vCPU", DISK_KIND: "disk", NIC_KIND: "interface", POOL_KIND: "pool"}
WHY = "to stay within Nagios' 8 KiB of plugin output"


class PerfdataItem(NamedTuple):
    """One perfdata item in its wire form, with its reading and whether a
    threshold was set on it."""

    text: str
    reading: Reading
    judged: bool

    @property
    def size(self) -> int:
        """Its bytes on the wire, with the space that separates it."""
        return len(self.text.encode("utf-8")) + 1

    @property
    def planned_size(self) -> int:
        """Its size with its value at the nominal width: the same in every run."""
        value = len(format_value(self.reading.value))
        return self.size - value + _nominal_width(self.reading)


def _nominal_width(reading: Reading) -> int:
    if reading.maximum is not None and math.isfinite(reading.maximum):
        whole_digits = len(format_value(math.floor(reading.maximum)))
        return max(whole_digits + 1 + NOMINAL_DECIMALS, WIDEST_SMALL_VALUE)
    return NOMINAL_WIDTH


def _perfdata_items(check: nagiosplugin.Check, thresholds: Thresholds) -> list[PerfdataItem]:
    """The items in the readings' order (the domain's order of devices)."""
    items = []
    for result in check.results:
        reading = result.resource.readings[result.metric.name]
        judged = any(thresholds.ranges_for(reading.spec, result.metric.name))
        items.append(PerfdataItem(str(result.context.performance(result.metric,
                                                                 result.resource)),
                                  reading, judged))
    return items


class Step(NamedTuple):
    """Items left out together: all of one rank of every device, one device's, or
    one domain-wide label.  `rank` is set for a rank's step, `device` for a
    device's."""

    items: tuple[PerfdataItem, ...]
    judged: bool = False
    rank: Optional[int] = None
    device: Optional[str] = None


class FittedPerfdata(NamedTuple):
    """The perfdata that fits, and the notes that say what was left out and why."""

    perfdata: tuple[str, ...]
    notes: tuple[str, ...]


def fit_perfdata(items: Sequence[PerfdataItem], budget: int) -> FittedPerfdata:
    """The items that fit `budget` bytes, sorted, and the notes on the rest.

    `items` come in the readings' order.  Left out while the perfdata would
    pass the budget, at its planned size or its real one: per-device labels
    by rank (`LabelSpec.spare`), every device alike; then the other labels of
    whole devices, the last device first; then, only when the labels with a
    threshold alone would pass it, those, the same way; then domain-wide
    labels, the last first.  Never part of a value.
    """
    kept = {id(item): item for item in items}
    planned = sum(item.planned_size for item in items)
    real = sum(item.size for item in items)
    taken = []
    for step in _steps(items):
        if max(planned, real) <= budget:
            break
        dropped = tuple(item for item in step.items if id(item) in kept)
        for item in dropped:
            del kept[id(item)]
            planned -= item.planned_size
            real -= item.size
        if dropped:
            taken.append(step._replace(items=dropped))
    return FittedPerfdata(tuple(sorted(item.text for item in kept.values())), _notes(taken))


def _steps(items: Sequence[PerfdataItem]) -> Iterator[Step]:
    """What may be left out, in the order it is."""
    per_device = [item for item in items if item.reading.device is not None]
    spare = [item for item in per_device if not item.judged]
    for rank in sorted({item.reading.spec.spare for item in spare} - {0}):
        yield Step(tuple(item for item in spare if item.reading.spec.spare == rank),
                   rank=rank)
    for judged in (False, True):
        by_device: dict[str, list[PerfdataItem]] = {}
        for item in per_device:
            if item.judged == judged:
                by_device.setdefault(item.reading.device or "", []).append(item)
        for device, of_device in reversed(by_device.items()):
            yield Step(tuple(of_device), judged, device=device)
    for judged in (False, True):
        for item in reversed([item for item in items if item.reading.device is None
                              and item.judged == judged]):
            yield Step((item,), judged)


def _notes(steps: Sequence[Step]) -> tuple[str, ...]:
    """One note for the ranks, one per kind of device (and threshold), one for the rest."""
    notes = []
    ranked = [step for step in steps if step.rank is not None]
    if ranked:
        patterns = [pattern for step in ranked
                    for pattern in sorted({item.reading.spec.pattern for item in step.items})]
        stays = "" if any(step.judged for step in steps) else " (a label with a threshold stays)"
        notes.append(f"left out of the perfdata for every device, {WHY}: "
                     f"{', '.join(patterns)}{stays}")
    devices = [step for step in steps if step.device is not None]
    for judged in (False, True):
        for kind in dict.fromkeys(step.items[0].reading.spec.kind for step in devices):
            same = [step for step in devices if step.judged == judged
                    and step.items[0].reading.spec.kind == kind]
            if same:
                notes.append(_devices_note(kind, same, judged))
    rest = [step.items[0] for step in steps if step.rank is None and step.device is None]
    if rest:
        notes.append(f"left out of the perfdata{_although(any(i.judged for i in rest))}, "
                     f"{WHY}: {', '.join(item.reading.label for item in rest)}")
    return tuple(notes)


def _devices_note(kind: Optional[str], steps: Sequence[Step], judged: bool) -> str:
    """`usage, wait and steal of vcpu80..vcpu95 (the last 16 vCPUs...)`: the steps
    leave out devices from the last, so they are the last ones in the domain's order."""
    names = [_short(device_label(step.device or "")) for step in reversed(steps)]
    metrics = list(dict.fromkeys(item.reading.spec.metric for step in steps
                                 for item in step.items))
    noun = DEVICE_NOUNS.get(kind or "", "device") + ("s" if len(names) != 1 else "")
    span = names[0] if len(names) == 1 else f"{names[0]}..{names[-1]}"
    stays = "" if judged else "; a label with a threshold stays"
    return (f"left out of the perfdata{_although(judged)}, {WHY}: {_listed(metrics)} of "
            f"{span} (the last {len(names)} {noun} in the domain's order{stays})")


def _although(judged: bool) -> str:
    return " although a threshold is set on them (it still judges them)" if judged else ""


def _listed(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else f"{', '.join(words[:-1])} and {words[-1]}"


def _short(name: str) -> str:
    return name if len(name) <= NAME_IN_NOTE else name[:NAME_IN_NOTE - 3] + "..."


def _unjudged(readings: Sequence[Reading], thresholds: Thresholds,
              unmeasured: Unmeasured) -> list[str]:
    """One line per threshold that judges no reading: which, and why."""
    labels = thresholds.unjudged((reading.spec, reading.label) for reading in readings)
    return [f"threshold {thresholds.options_for(label)} judges nothing: "
            f"{_reason(thresholds.targets(label), unmeasured.reason)}" for label in labels]


def _reason(targets: Sequence[Target], reason: Callable[[Target], Optional[str]]) -> str:
    for target in targets:
        words = reason(target)
        if words:
            return words
    return "it was not measured in this run"


def _with_unjudged(condition: Optional[Condition], lines: list[str],
                   state: ServiceState) -> tuple[Optional[Condition], tuple[str, ...]]:
    """The condition of the run and the notes, given the thresholds that judge nothing."""
    if not lines or condition is not None:
        return condition, tuple(lines)
    if state == Ok:
        return None, tuple(f"{line} (accepted: {UNMEASURED_OPTION} ok)" for line in lines)
    more = f" (+{len(lines) - 1} more)" if len(lines) > 1 else ""
    hint = (f"{UNMEASURED_OPTION} ok makes this a note, for thresholds shared by hosts "
            "that differ")
    return Condition(state, lines[0] + more), (*lines, hint)
