"""The skeleton of a per-device check (disks, interfaces): one base for both.

A per-device check declares its per-device metrics and its totals; this base
turns them into the counters it keeps, the readings of every reported
device and the totals over them, and the reasons why a device's label has
no value.  A subclass says which devices a sample has, which are reported
by default, how the command line selects them, and its own words.
"""

from __future__ import annotations

import functools

from libcheck.checkbase import Check
from libcheck.devices import Selection, device_label_reason
from libcheck.evaluation import Reading
from libcheck.measure import Measurement
from libcheck.metrics import (
    Field,
    Inputs,
    Metric,
    TotalOf,
    counted_fields,
    counters_in,
    missing_fields,
    no_such_fields,
)
from libcheck.rates import Counters
from libcheck.samples import DomainSample
from libcheck.thresholds import Target

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Optional, Sequence


class DeviceCheck(Check):
    """A check that reports each device of one kind, then totals over them.

    Subclasses set `kind` (the label kind: disk, nic), `noun` (how reasons
    name a device: disk, interface), `per_device` and `totals` (declared
    metrics; `metrics` is both, in that order), and implement `devices_of`,
    `selection` and `skipped_by_default`.
    """

    kind: str
    noun: str
    per_device: Sequence[Metric]
    totals: Sequence[Metric]

    @property
    def metrics(self) -> tuple[Metric, ...]:  # type: ignore[override]
        """Every declared label: the per-device ones, then the totals."""
        return (*self.per_device, *self.totals)

    def devices_of(self, sample: DomainSample) -> Sequence[Any]:
        """The domain's devices of this kind, in the domain's order."""
        raise NotImplementedError

    def selection(self, options: Any) -> Selection:
        """The devices the command line names or leaves out."""
        raise NotImplementedError

    def skipped_by_default(self, device: Any) -> bool:
        """Whether a device is reported only when named."""
        raise NotImplementedError

    def answers_to(self, device: Any) -> set[str]:
        """Every name that selects a device on the command line."""
        return {device.name}

    def limit(self, options: Any) -> Optional[float]:
        """The run's limit that shares are taken of (none by default)."""
        return None

    @functools.cached_property
    def counted(self) -> tuple[Field, ...]:
        """The per-device fields that rates are measured from, each counter once."""
        return counted_fields(self.per_device)

    def counters_of(self, device: Any) -> dict[str, float]:
        """One device's cumulative counters that the driver knows."""
        return counters_in(self.counted, device)

    def has_statistics(self, device: Any) -> bool:
        """Whether a device has counters to measure."""
        return device.name is not None and bool(self.counters_of(device))

    def counters(self, sample: DomainSample) -> Counters:
        """Each device's cumulative counters, by its name."""
        counters = {}
        for device in self.devices_of(sample):
            values = self.counters_of(device)
            if device.name is not None and values:
                counters[device.name] = values
        return counters

    def devices(self, sample: DomainSample) -> dict[str, list[str]]:
        """The devices a threshold label may name."""
        return {self.kind: [device.name for device in self.devices_of(sample)
                            if device.name is not None]}

    def selected(self, sample: DomainSample, options: Any) -> list[Any]:
        """The devices the command line (or the default) chooses, in the domain's order."""
        return self.selection(options).choose(self.devices_of(sample), self.answers_to,
                                              self.skipped_by_default)

    def reported(self, sample: DomainSample, options: Any) -> list[Any]:
        """The chosen devices whose values are reported."""
        return self.selected(sample, options)

    def readings(self, measurement: Measurement, options: Any) -> list[Reading]:
        """Every reported device's readings, then the totals."""
        readings: list[Reading] = []
        for device in self.reported(measurement.sample, options):
            inputs = Inputs(device, measurement.rates.get(device.name, {}), self.limit(options))
            for metric in self.per_device:
                reading = metric.reading(inputs, device.name)
                if reading is not None:
                    readings.append(reading)
        return readings + self._totals(readings)

    def _totals(self, readings: list[Reading]) -> list[Reading]:
        totals = []
        for metric in self.totals:
            value = _total_of(metric).total(readings)
            if value is not None:
                totals.append(Reading.of(metric.spec, value, metric.wording.phrase(None)))
        return totals

    def unmeasured_reason(self, measurement: Measurement, options: Any,
                          target: Target) -> Optional[str]:
        """Why a label of this kind has no value in this run, where the check knows."""
        metric = self._per_device_metric(target)
        if metric is None:
            return None
        return device_label_reason(
            target.device, self.reported(measurement.sample, options),
            self.devices_of(measurement.sample),
            lambda device: self.why_unmeasured(device, metric, measurement, options),
            lambda device: self.why_left_out(device, options))

    def _per_device_metric(self, target: Target) -> Optional[Metric]:
        # A total has no value for the reasons its part has none.
        metric = next((metric for metric in self.metrics if metric.spec is target.spec), None)
        if metric is not None and isinstance(metric.value, TotalOf):
            return metric.value.part
        return metric

    def why_unmeasured(self, device: Any, metric: Metric, measurement: Measurement,
                       options: Any) -> Optional[str]:
        """Why one reported device has no value for a metric, where the sample tells."""
        subject = f"{self.noun} {device.name}"
        missing = missing_fields(metric, device)
        if missing:
            return f"this driver reports no {no_such_fields(missing)} for {subject}"
        inputs = Inputs(device, measurement.rates.get(device.name, {}), self.limit(options))
        absent = metric.value.absent_reason(inputs, subject)
        if absent is not None:
            return absent
        if metric.is_rate and device.name not in measurement.rates:
            return (f"the counters of {subject} went back during the run (it was reset); "
                    "the next run measures again")
        return None

    def why_left_out(self, device: Any, options: Any) -> str:
        """Why a device of the domain is not reported."""
        raise NotImplementedError


def _total_of(metric: Metric) -> TotalOf:
    """What sums a declared total over the devices."""
    if not isinstance(metric.value, TotalOf):
        raise TypeError(f"the total {metric.spec.metric} is not declared with TotalOf")
    return metric.value
