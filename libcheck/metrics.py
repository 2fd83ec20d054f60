"""Declared labels: each perfdata label once, with what it needs and how it is computed.

A `Metric` joins a label's `LabelSpec` to the way its value comes out of a
sample (a `Value`: the rate of a counter, a sum or ratio of rates, a lost
share, a size or cumulative count read as it is, a share of two sizes), to
the words of a status line, and so to the sample `Field`s it needs.  A
`Field` carries its own words for a reason ("this driver reports no bytes
read"), so a label cannot need a value that nothing can name as missing.

A check keeps its metrics in one tuple: its perfdata labels, its counters,
its readings and its reasons for a label without a value all come from it.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from libcheck.evaluation import Phrase, Reading
from libcheck.rates import Counters
from libcheck.records import NamedTuple
from libcheck.thresholds import LabelSpec
from libcheck.units import decimal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Optional, Sequence

    from libcheck.evaluation import Number


class Field(NamedTuple):
    """A value a sample carries (an attribute, or a key of a mapping such as the
    balloon's), and how a reason names it when the driver reports none.
    `counter`: the name its rates and the state file know it by, where that is
    not its own."""

    name: str
    words: str
    counter: Optional[str] = None

    @property
    def key(self) -> str:
        """The name of the field's counter in the rates and the state file."""
        return self.counter or self.name

    def of(self, source: Any) -> Optional[float]:
        """The field's value in `source`, None where the driver reports none."""
        if isinstance(source, Mapping):
            return source.get(self.name)
        return getattr(source, self.name)


class Inputs(NamedTuple):
    """What a value is computed from: one device's (or the domain's) sample, its
    rates by counter name, the run's limit (--speed), if any, and the rates of
    every group (for a domain-wide value summed over the vCPUs)."""

    source: Any
    rates: Mapping[str, float]
    limit: Optional[float] = None
    groups: Counters = MappingProxyType({})


class Value:
    """How a label's value comes out of a sample: the fields it needs, those of
    them measured as rates between two samples (`counted`), and the value."""

    fields: tuple[Field, ...] = ()
    counted: tuple[Field, ...] = ()

    def compute(self, inputs: Inputs) -> Optional[float]:
        """The value, None where the sample does not give one."""
        raise NotImplementedError

    def absent_reason(self, inputs: Inputs, subject: str) -> Optional[str]:
        """Why there is no value although every field is there (None: no reason of
        its own); `subject` names the device ("disk vda")."""
        return None


class Rate(Value):
    """The rate of one counter, times `scale` (8 for bits from bytes)."""

    def __init__(self, field: Field, scale: float = 1) -> None:
        self.field, self.scale = field, scale
        self.fields = self.counted = (field,)

    def compute(self, inputs: Inputs) -> Optional[float]:
        rate = inputs.rates.get(self.field.key)
        return None if rate is None else rate * self.scale


class SumOfRates(Value):
    """The sum of several counters' rates (reads + writes)."""

    def __init__(self, *parts: Field) -> None:
        self.fields = self.counted = parts

    def compute(self, inputs: Inputs) -> Optional[float]:
        rates = [inputs.rates.get(field.key) for field in self.fields]
        known = [rate for rate in rates if rate is not None]
        return sum(known) if len(known) == len(rates) else None


class RatioOfRates(Value):
    """One counter's rate per another's, times `scale` and over `divisor`: 0 while
    the second stands still (time spent per request: no request, no time)."""

    def __init__(self, numerator: Field, denominator: Field, scale: float = 1,
                 divisor: float = 1) -> None:
        self.numerator, self.denominator = numerator, denominator
        self.scale, self.divisor = scale, divisor
        self.fields = self.counted = (denominator, numerator)

    def compute(self, inputs: Inputs) -> Optional[float]:
        numerator = inputs.rates.get(self.numerator.key)
        denominator = inputs.rates.get(self.denominator.key)
        if numerator is None or denominator is None:
            return None
        if denominator <= 0:
            return 0.0
        return numerator / denominator * self.scale / self.divisor


class LostShare(Value):
    """Lost packets in percent of all offered (delivered + lost): see `loss_pct`."""

    def __init__(self, lost: Field, delivered: Field) -> None:
        self.lost, self.delivered = lost, delivered
        self.fields = self.counted = (lost, delivered)

    def compute(self, inputs: Inputs) -> Optional[float]:
        lost = inputs.rates.get(self.lost.key)
        delivered = inputs.rates.get(self.delivered.key)
        if lost is None or delivered is None:
            return None
        return loss_pct(lost, delivered)


class Reported(Value):
    """A value as the sample reports it (a size, a cumulative count), times `scale`."""

    def __init__(self, field: Field, scale: float = 1) -> None:
        self.field, self.scale = field, scale
        self.fields = (field,)

    def compute(self, inputs: Inputs) -> Optional[float]:
        value = self.field.of(inputs.source)
        return None if value is None else value * self.scale


class RatioOf(Value):
    """One reported value per another (vCPUs per host CPU), times `scale`; none
    where the whole is 0 or not reported."""

    scale: float = 1

    def __init__(self, part: Field, whole: Field) -> None:
        self.part, self.whole = part, whole
        self.fields = (whole, part)

    def compute(self, inputs: Inputs) -> Optional[float]:
        part, whole = self.part.of(inputs.source), self.whole.of(inputs.source)
        if part is None or not whole:
            return None
        return part / whole * self.scale


class ShareOf(RatioOf):
    """One reported value in percent of another (allocation of capacity); none
    where the whole is 0."""

    scale = 100

    def absent_reason(self, inputs: Inputs, subject: str) -> Optional[str]:
        if self.whole.of(inputs.source) == 0:
            return f"{subject} has a {self.whole.words} of 0"
        return None


class Limit(NamedTuple):
    """What a rate is measured against: the run's limit (--speed) where given,
    else the device's own (its bandwidth limit), None where neither is;
    `number` writes it in a status line."""

    field: Field
    number: Number = decimal

    def of(self, inputs: Inputs) -> Optional[float]:
        """The limit for one device in this run."""
        return inputs.limit or self.field.of(inputs.source)


class ShareOfLimit(Value):
    """A rate in percent of its limit, at most 100; none without a limit.
    `no_limit` says why, with `{subject}` for the device."""

    def __init__(self, rate: Value, limit: Limit, no_limit: str) -> None:
        self.rate, self.limit, self.no_limit = rate, limit, no_limit
        self.fields, self.counted = rate.fields, rate.counted

    def compute(self, inputs: Inputs) -> Optional[float]:
        value, limit = self.rate.compute(inputs), self.limit.of(inputs)
        if value is None or not limit:
            return None
        return min(value / limit * 100, 100.0)

    def absent_reason(self, inputs: Inputs, subject: str) -> Optional[str]:
        return None if self.limit.of(inputs) else self.no_limit.format(subject=subject)


class TotalOf(Value):
    """The sum of one per-device metric over the reported devices (all disks)."""

    def __init__(self, part: Metric) -> None:
        self.part = part
        self.fields, self.counted = part.needs, part.value.counted

    def compute(self, inputs: Inputs) -> Optional[float]:
        return None

    def total(self, readings: Sequence[Reading]) -> Optional[float]:
        """The sum of the part's readings, None where no device has one."""
        values = [reading.value for reading in readings if reading.spec is self.part.spec]
        return sum(values) if values else None


class Wording(NamedTuple):
    """How a metric's reading reads: `{device}` in `before` is the device's name."""

    before: str
    after: str = ""
    number: Number = decimal

    def phrase(self, device: Optional[str], limit: str = "") -> Phrase:
        """The phrase of one reading; `{limit}` in `after` is the limit's text."""
        return Phrase(self.before.format(device=device), self.after.format(limit=limit),
                      self.number)


class Metric(NamedTuple):
    """One declared label: its spec, how its value is computed, how it reads, and
    its perfdata maximum (100 for a percentage, or a `Limit`)."""

    spec: LabelSpec
    value: Value
    wording: Wording
    maximum: Any = None

    @property
    def needs(self) -> tuple[Field, ...]:
        """The sample fields the label is computed from."""
        return self.value.fields

    @property
    def is_rate(self) -> bool:
        """Whether the label is measured between two samples."""
        return bool(self.value.counted)

    def reading(self, inputs: Inputs, device: Optional[str] = None) -> Optional[Reading]:
        """The label's reading for one device (or the domain), None without a value."""
        value = self.value.compute(inputs)
        if value is None:
            return None
        maximum = self.maximum.of(inputs) if isinstance(self.maximum, Limit) else self.maximum
        return Reading.of(self.spec, value, self.wording.phrase(device, self._limit(inputs)),
                          device, maximum=maximum)

    def _limit(self, inputs: Inputs) -> str:
        if not isinstance(self.value, ShareOfLimit):
            return ""
        limit = self.value.limit
        value = limit.of(inputs)
        return "" if value is None else limit.number(value, None)


class Declarations:
    """A check's metrics in the order they are declared: declaring one adds it,
    so a label is one declaration and the check's tuples are taken from here."""

    def __init__(self) -> None:
        self._metrics: list[Metric] = []

    def __call__(self, metric: Metric) -> Metric:
        """Add a metric and hand it back, to bind it to a name."""
        self._metrics.append(metric)
        return metric

    def all(self) -> tuple[Metric, ...]:
        """Every metric declared, in order."""
        return tuple(self._metrics)


def loss_pct(lost: float, delivered: float) -> float:
    """Lost packets in percent of all offered (delivered + lost); 0 when none were."""
    offered = lost + delivered
    return lost / offered * 100 if offered > 0 else 0.0


def specs_of(metrics: Sequence[Metric]) -> tuple[LabelSpec, ...]:
    """The labels of declared metrics, in their order."""
    return tuple(metric.spec for metric in metrics)


def counted_fields(metrics: Sequence[Metric]) -> tuple[Field, ...]:
    """The fields that rates of the metrics are measured from, each counter once."""
    fields = {field.key: field for metric in metrics for field in metric.value.counted}
    return tuple(fields.values())


def counters_in(fields: Sequence[Field], source: Any) -> dict[str, float]:
    """The counters of `fields` that `source` reports, by counter name."""
    values = {field.key: field.of(source) for field in fields}
    return {key: value for key, value in values.items() if value is not None}


def missing_fields(metric: Metric, source: Any) -> list[Field]:
    """The fields a metric needs that the sample does not report."""
    return [field for field in metric.needs if field.of(source) is None]


def no_such_fields(fields: Sequence[Field]) -> str:
    """`bytes read and no bytes written`: the words of missing fields, for a reason."""
    return " and no ".join(field.words for field in fields)


def readings_of(metrics: Sequence[Metric], inputs: Inputs,
                device: Optional[str] = None,
                keep: Callable[[Metric], bool] = lambda metric: True) -> list[Reading]:
    """The readings of every metric that has a value, in the metrics' order."""
    readings = []
    for metric in metrics:
        if keep(metric):
            reading = metric.reading(inputs, device)
            if reading is not None:
                readings.append(reading)
    return readings
