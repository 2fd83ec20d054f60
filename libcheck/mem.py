"""check_vm_mem: memory used inside the guest, from the virtio balloon driver.

With fresh balloon statistics, used = available - usable (usable counts
reclaimable caches as free, like Linux's MemAvailable), or available - unused
where the guest reports no usable.  Without them (no balloon device, no
driver in the guest, no stats period, or numbers older than their period
allows) nothing is guessed: the check reports the host-side view, QEMU's
resident memory against the configured size, labelled as host-side, in a
state chosen by --state-if-no-balloon.

Freshness never compares two machines' clocks where it can help it: the
balloon's last_update (the hypervisor's clock) is compared with its value at
the previous sample, over this host's interval between the two.
"""

from __future__ import annotations

import argparse

from libcheck.checkbase import Check, declared_part
from libcheck.evaluation import Condition, Reading
from libcheck.measure import Measurement
from libcheck.metrics import (
    Declarations,
    Field,
    Inputs,
    Limit,
    Metric,
    RatioOfRates,
    Reported,
    ShareOfLimit,
    Value,
    Wording,
    counted_fields,
    counters_in,
    missing_fields,
    readings_of,
)
from libcheck.policy import STATE_NAMES
from libcheck.rates import DOMAIN_GROUP, Counters
from libcheck.records import NamedTuple
from libcheck.samples import DomainSample, Group, MemorySample
from libcheck.thresholds import LabelSpec, Target
from libcheck.units import KIB, decimal, human_bytes

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional

# A stats period of P seconds leaves numbers at most P old; allow for the
# poll landing just after our read and for whole-second timestamps.
STALE_PERIODS = 3
STALE_SLACK_SECONDS = 5
# last_update counts whole seconds: a timestamp less than this ahead of the
# local clock is its rounding, not a clock that runs ahead.
TIMESTAMP_RESOLUTION_SECONDS = 1.0

BALLOON_FIELD_WORDS = "libvirt's balloon statistics of this domain have no '{name}'"


def _balloon(name: str) -> Field:
    return Field(name, f"'{name}'")


AVAILABLE_FIELD, USABLE_FIELD, UNUSED_FIELD = (_balloon(name) for name in
                                               ("available", "usable", "unused"))
CACHES_FIELD, ACTUAL_FIELD, RSS_FIELD = (_balloon(name) for name in
                                         ("disk_caches", "actual", "rss"))
LAST_UPDATE = _balloon("last_update")
# The configured maximum is the domain's, not the balloon's: a run passes it
# as the limit that host_rss_usage is a share of.
CONFIGURED_FIELD = Field("maximum_kib", "configured maximum")


def _configured(kib: float, decimals: Optional[int] = None) -> str:
    return human_bytes(kib * KIB, decimals)


class GuestUsed(Value):
    """Memory used inside the guest: available - usable (or - unused), in bytes,
    or in percent of available (`share`)."""

    fields = (AVAILABLE_FIELD,)

    def __init__(self, share: bool = False) -> None:
        self.share = share

    def compute(self, inputs: Inputs) -> Optional[float]:
        balloon = inputs.source
        if "available" not in balloon or not ("usable" in balloon or "unused" in balloon):
            return None
        available = balloon["available"] * KIB
        free = balloon["usable"] if "usable" in balloon else balloon["unused"]
        used = min(max(available - free * KIB, 0), available)
        if not self.share:
            return used
        return used / available * 100 if available else 0.0


_DECLARE = Declarations()


def _guest(spec: LabelSpec, field: Field, words: str) -> Metric:
    return _DECLARE(Metric(spec, Reported(field, KIB), Wording(f"{words} ", "", human_bytes)))


def _per_update(spec: LabelSpec, counter: str, scale: float, words: str) -> Metric:
    # The guest's counters move once per stats period: per second of the
    # time between the two balloon updates, not of our interval.
    number = human_bytes if scale == KIB else decimal
    return _DECLARE(Metric(spec, RatioOfRates(_balloon(counter), LAST_UPDATE, scale=scale),
                           Wording(f"{words} ", "/s", number)))


USAGE = _DECLARE(Metric(LabelSpec("mem_usage", "%", "memory used inside the guest, in percent "
                                  "of the memory it sees (the headline)", headline=True),
                        GuestUsed(share=True), Wording(""), maximum=100))
USED = _DECLARE(Metric(LabelSpec("mem_used", "B", "memory used inside the guest: available - "
                                 "usable (or - unused)"), GuestUsed(),
                       Wording("used ", "", human_bytes)))
AVAILABLE = _guest(LabelSpec("mem_available", "B", "memory the guest sees (its MemTotal)"),
                   AVAILABLE_FIELD, "available")
USABLE = _guest(LabelSpec("mem_usable", "B", "memory the guest could use without swapping "
                          "(its MemAvailable)"), USABLE_FIELD, "usable")
UNUSED = _guest(LabelSpec("mem_unused", "B", "memory the guest leaves unused (its MemFree)"),
                UNUSED_FIELD, "unused")
CACHES = _guest(LabelSpec("mem_disk_caches", "B", "guest page cache that could be reclaimed"),
                CACHES_FIELD, "disk caches")
ACTUAL = _guest(LabelSpec("balloon_actual", "B", "the balloon's current size (memory given to "
                          "the guest)"), ACTUAL_FIELD, "balloon size")
RSS = _guest(LabelSpec("host_rss", "B", "host-side: QEMU's resident memory for this VM"),
             RSS_FIELD, "host-side RSS")
RSS_USAGE = _DECLARE(Metric(
    LabelSpec("host_rss_usage", "%", "host-side: QEMU's resident memory in percent of the "
              "configured maximum"),
    ShareOfLimit(Reported(RSS_FIELD), Limit(CONFIGURED_FIELD, _configured),
                 "libvirt reports no configured maximum for {subject}"),
    Wording("host-side RSS ", "% of {limit} configured"), maximum=100))
SWAP_IN = _per_update(LabelSpec("swap_in_bytes_per_second", "B", "guest swap-in, bytes per "
                                "second"), "swap_in", KIB, "swap-in")
SWAP_OUT = _per_update(LabelSpec("swap_out_bytes_per_second", "B", "guest swap-out, bytes "
                                 "per second"), "swap_out", KIB, "swap-out")
MAJOR = _per_update(LabelSpec("major_faults_per_second", "", "guest major page faults per "
                              "second"), "major_fault", 1, "major faults")
MINOR = _per_update(LabelSpec("minor_faults_per_second", "", "guest minor page faults per "
                              "second"), "minor_fault", 1, "minor faults")

METRICS = _DECLARE.all()
# The balloon's sizes besides available, shown while its statistics are fresh;
# the rates, per balloon update.
_GUEST_SIZES = tuple(metric for metric in METRICS if isinstance(metric.value, Reported)
                     and metric is not AVAILABLE)
_RATES = tuple(metric for metric in METRICS if metric.is_rate)
_COUNTED = counted_fields(METRICS)
# Labels whose absence the balloon's verdict explains best: they need what
# the verdict requires (available, and usable or unused).
_GUEST_TOTALS = (USAGE, USED, AVAILABLE)

HINT_NO_DEVICE = ("add <memballoon model='virtio'><stats period='10'/></memballoon> to the "
                  "domain to see memory inside the guest")
HINT_NO_DRIVER = ("load the virtio balloon driver in the guest (Linux: virtio_balloon; "
                  "Windows: the virtio-win balloon driver and service)")
HINT_NO_PERIOD = ("set <stats period='10'/> in the domain's <memballoon> (live: virsh "
                  "dommemstat DOMAIN --period 10 --live)")
HINT_STALE = ("the guest's balloon driver stopped reporting, or the stats period is longer "
              "than --balloon-max-age")
HINT_STALE_BY_CLOCK = ("the guest's balloon driver stopped reporting, or this host's clock is "
                       "ahead of the hypervisor's (with no update seen between two samples, "
                       "the clocks were compared; sync them, e.g. NTP)")
HINT_CLOCK_BEHIND = ("this host's clock is behind the hypervisor's: sync them (e.g. NTP); the "
                     "next run judges by the updates since this one")


class BalloonVerdict(NamedTuple):
    """Whether the balloon numbers can be judged, and if not, why; `basis` says
    how their freshness was judged (for -v)."""

    fresh: bool
    reason: str = ""
    hint: str = ""
    basis: str = ""


class BalloonProgress(NamedTuple):
    """How far last_update moved between two samples: `advance` seconds of the
    hypervisor's clock over `interval` seconds of this host's."""

    advance: float
    interval: float

    @property
    def lag(self) -> float:
        """How much older the statistics grew between the samples: with clocks
        that tick alike, a lower bound of their age now."""
        return self.interval - self.advance


def judge_balloon(memory: MemorySample, now: float, max_age: Optional[float],
                  progress: Optional[BalloonProgress] = None) -> BalloonVerdict:
    """Decide whether the balloon statistics are present and fresh.

    `max_age` None means: three stats periods plus a few seconds; 0 trusts
    numbers of any age (for drivers without a clock, such as the test driver).
    Fresh means that last_update advanced between two samples and did not
    fall behind this host's interval by more than that bound.  Only when the
    two samples tell nothing (no update between them, but less time than the
    bound) is last_update compared with `now`, this host's clock: then a
    timestamp ahead of it is never fresh.
    """
    missing = _missing_statistics(memory, max_age)
    if missing is not None or max_age == 0:
        return missing or BalloonVerdict(True)
    bound = _stale_after(memory, max_age)
    updated = memory.balloon.get("last_update") or 0
    if updated <= 0:
        return BalloonVerdict(False, f"balloon statistics are stale (never updated, limit "
                                     f"{bound:g} s)", HINT_STALE)
    if progress is not None and (progress.advance > 0 or progress.interval > bound):
        return _judge_progress(progress, bound)
    return _judge_by_clock(now - updated, bound)


def _stale_after(memory: MemorySample, max_age: Optional[float]) -> float:
    """The age beyond which statistics are stale: `max_age`, else three stats
    periods plus a few seconds (statistics without a period are missing)."""
    if max_age:
        return max_age
    if not memory.stats_period:
        raise AssertionError("balloon statistics without a stats period have no age bound")
    return STALE_PERIODS * memory.stats_period + STALE_SLACK_SECONDS


def _missing_statistics(memory: MemorySample, max_age: Optional[float]
                        ) -> Optional[BalloonVerdict]:
    """Why there are no statistics to judge, or None when there are."""
    balloon = memory.balloon
    if memory.balloon_model == "none":
        return BalloonVerdict(False, "no balloon device (memballoon model 'none')",
                              HINT_NO_DEVICE)
    if "available" not in balloon or not ("usable" in balloon or "unused" in balloon):
        return BalloonVerdict(False, "no balloon statistics from the guest", HINT_NO_DRIVER)
    if max_age is None and not memory.stats_period:
        return BalloonVerdict(False, "balloon statistics are not polled (no stats period)",
                              HINT_NO_PERIOD)
    return None


def _judge_progress(progress: BalloonProgress, bound: float) -> BalloonVerdict:
    basis = (f"balloon last_update advanced {progress.advance:.0f} s in "
             f"{progress.interval:.1f} s between two samples")
    if progress.advance <= 0:
        return BalloonVerdict(False, f"balloon statistics are stale (not updated in "
                                     f"{progress.interval:.0f} s, limit {bound:g} s)",
                              HINT_STALE, basis)
    if progress.lag > bound:
        return BalloonVerdict(False, f"balloon statistics are stale (they fell "
                                     f"{progress.lag:.0f} s behind in {progress.interval:.0f} "
                                     f"s, limit {bound:g} s)", HINT_STALE, basis)
    return BalloonVerdict(True, basis=basis)


def _judge_by_clock(age: float, bound: float) -> BalloonVerdict:
    basis = (f"balloon last_update {age:.0f} s old by this host's clock (no update seen "
             "between two samples)")
    if age < -TIMESTAMP_RESOLUTION_SECONDS:
        return BalloonVerdict(False, f"balloon statistics cannot be judged fresh (their last "
                                     f"update is {-age:.0f} s ahead of this host's clock)",
                              HINT_CLOCK_BEHIND, basis)
    if age > bound:
        return BalloonVerdict(False, f"balloon statistics are stale ({age:.0f} s old by this "
                                     f"host's clock, limit {bound:g} s)",
                              HINT_STALE_BY_CLOCK, basis)
    return BalloonVerdict(True, basis=basis)


def balloon_progress(measurement: Measurement) -> Optional[BalloonProgress]:
    """last_update's advance over the measurement's interval, where both are known."""
    rate = measurement.rate(DOMAIN_GROUP, "last_update")
    if rate is None or not measurement.interval:
        return None
    return BalloonProgress(rate * measurement.interval, measurement.interval)


class MemOptions(NamedTuple):
    """The memory check's own options."""

    state_if_no_balloon: str
    balloon_max_age: Optional[float]


class MemCheck(Check):
    """The memory check: balloon readings, or the honest host-side fallback."""

    name = "mem"
    description = ("Memory used inside a KVM/QEMU guest, from its virtio balloon "
                   "statistics, measured from the hypervisor through libvirt.")
    groups = frozenset({Group.MEMORY})
    metrics = METRICS
    Options = MemOptions

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        """The memory check's own options."""
        from libcheck.cli import add_state_option, duration_or_zero

        add_state_option(parser, "--state-if-no-balloon",
                         "the guest has no fresh balloon statistics", "unknown")
        parser.add_argument("--balloon-max-age", type=duration_or_zero, default=None,
                            metavar="SECONDS",
                            help="balloon statistics older than this are stale (default: "
                                 "3 stats periods + 5 s; 0 accepts any age)")

    def sample_fields(self) -> frozenset[str]:
        """The balloon's fields as libvirt names them, and the configured maximum."""
        from libcheck.bulkstats import BALLOON_FIELDS

        return frozenset(BALLOON_FIELDS.values()) | {CONFIGURED_FIELD.name}

    def counters(self, sample: DomainSample) -> Counters:
        """The guest's swap and page-fault counters, where it reports them."""
        balloon = declared_part(sample.memory, Group.MEMORY).balloon
        return {DOMAIN_GROUP: counters_in(_COUNTED, balloon)}

    def readings(self, measurement: Measurement, options: MemOptions) -> list[Reading]:
        """Guest-side readings when the balloon is fresh, else host-side ones."""
        memory = _memory(measurement)
        if self._verdict(measurement, options).fresh:
            return (self._guest_readings(memory) + _rss_usage_readings(memory)
                    + self._rate_readings(measurement))
        return self._host_readings(memory)

    @staticmethod
    def _verdict(measurement: Measurement, options: MemOptions) -> BalloonVerdict:
        return judge_balloon(_memory(measurement), measurement.sample.wall_time,
                             options.balloon_max_age, balloon_progress(measurement))

    @staticmethod
    def _guest_readings(memory: MemorySample) -> list[Reading]:
        inputs = Inputs(memory.balloon, {})
        used, available = _fresh(USED, inputs), _fresh(AVAILABLE, inputs)
        usage = _fresh(USAGE, inputs)
        readings = [
            Reading(USAGE.spec, usage, f"{usage:.1f}% used ({human_bytes(used)} of "
                    f"{human_bytes(available)})", maximum=100),
            Reading(USED.spec, used, f"used {human_bytes(used)}", maximum=available),
        ]
        return readings + readings_of((AVAILABLE, *_GUEST_SIZES), inputs)

    @staticmethod
    def _rate_readings(measurement: Measurement) -> list[Reading]:
        # No balloon update between the two samples: nothing to say (a rate
        # over our interval would read 0, or a spike).
        if not measurement.rate(DOMAIN_GROUP, "last_update"):
            return []
        rates = measurement.rates.get(DOMAIN_GROUP, {})
        return readings_of(_RATES, Inputs(_memory(measurement).balloon, rates))

    @staticmethod
    def _host_readings(memory: MemorySample) -> list[Reading]:
        inputs = Inputs(memory.balloon, {})
        return (readings_of((RSS,), inputs) + _rss_usage_readings(memory)
                + readings_of((ACTUAL,), inputs))

    def unmeasured_reason(self, measurement: Measurement, options: MemOptions,
                          target: Target) -> Optional[str]:
        """Why a memory label has no value in this run, where the check knows."""
        memory = _memory(measurement)
        metric = next(metric for metric in METRICS if metric.spec is target.spec)
        missing = missing_fields(metric, memory.balloon)
        if missing and metric not in _GUEST_TOTALS:
            return BALLOON_FIELD_WORDS.format(name=missing[0].name)
        if metric is RSS_USAGE:
            return ("libvirt reports no host-side RSS or no configured maximum for this domain"
                    if not _rss_usage_readings(memory) else None)
        verdict = self._verdict(measurement, options)
        if not verdict.fresh:
            return verdict.reason
        if metric in _RATES and not measurement.rate(DOMAIN_GROUP, "last_update"):
            period = f", stats period {memory.stats_period} s" if memory.stats_period else ""
            return (f"the guest's balloon statistics did not update between the two samples "
                    f"({measurement.interval or 0:.1f} s apart{period}): no rate until they do")
        return None

    def condition(self, measurement: Measurement, options: MemOptions) -> Optional[Condition]:
        """Without fresh balloon statistics: the policy's state and why."""
        verdict = self._verdict(measurement, options)
        if verdict.fresh:
            return None
        state = STATE_NAMES[options.state_if_no_balloon]
        return Condition(state, f"{verdict.reason}: {verdict.hint}; "
                                f"{self._host_summary(_memory(measurement))}")

    @staticmethod
    def _host_summary(memory: MemorySample) -> str:
        rss = memory.balloon.get("rss")
        if rss is None:
            return "no host-side numbers either"
        configured = (f" of {human_bytes(memory.maximum_kib * KIB)} configured"
                      if memory.maximum_kib else "")
        return f"host-side RSS {human_bytes(rss * KIB)}{configured}"

    def ok_text(self, measurement: Measurement, readings: list[Reading]) -> str:
        """The calm status line: percent used, and bytes of bytes."""
        if readings and readings[0].spec is USAGE.spec:
            return readings[0].text
        return self._host_summary(_memory(measurement))

    def details(self, measurement: Measurement, options: MemOptions) -> list[str]:
        """With -v: every balloon field as libvirt reported it (KiB)."""
        memory = _memory(measurement)
        fields = ", ".join(f"{name}={value}" for name, value in sorted(memory.balloon.items()))
        period = f"{memory.stats_period} s" if memory.stats_period else "none"
        basis = self._verdict(measurement, options).basis
        return [f"balloon model {memory.balloon_model or 'none'}, stats period {period}",
                f"balloon fields (KiB, counts): {fields or 'none'}", *([basis] if basis else [])]


CHECK = MemCheck()


def _memory(measurement: Measurement) -> MemorySample:
    return declared_part(measurement.sample.memory, Group.MEMORY)


def _fresh(metric: Metric, inputs: Inputs) -> float:
    """A guest total's value: fresh statistics have everything it needs."""
    value = metric.value.compute(inputs)
    if value is None:
        raise AssertionError(f"fresh balloon statistics without {metric.spec.metric}")
    return value


def _rss_usage_readings(memory: MemorySample) -> list[Reading]:
    """host_rss_usage, in either view: a label that comes and goes with the
    balloon's freshness would judge nothing half the time and break graphs."""
    configured = memory.maximum_kib
    share = RSS_USAGE.value.compute(Inputs(memory.balloon, {}, configured))
    if share is None or configured is None:  # a share has a configured maximum
        return []
    return [Reading(RSS_USAGE.spec, share, f"host-side RSS {share:.1f}% of "
                    f"{_configured(configured)} configured", maximum=100)]
