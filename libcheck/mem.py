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
from typing import NamedTuple, Optional

from libcheck.evaluation import Condition, Phrase, Reading
from libcheck.measure import Measurement
from libcheck.policy import STATE_NAMES
from libcheck.rates import DOMAIN_GROUP, Counters
from libcheck.samples import DomainSample, Group, MemorySample
from libcheck.thresholds import LabelSpec, Target
from libcheck.units import KIB, decimal, human_bytes

# A stats period of P seconds leaves numbers at most P old; allow for the
# poll landing just after our read and for whole-second timestamps.
STALE_PERIODS = 3
STALE_SLACK_SECONDS = 5
# last_update counts whole seconds: a timestamp less than this ahead of the
# local clock is its rounding, not a clock that runs ahead.
TIMESTAMP_RESOLUTION_SECONDS = 1.0

USAGE = LabelSpec("mem_usage", "%", "memory used inside the guest, in percent of the memory "
                  "it sees (the headline)", headline=True)
USED = LabelSpec("mem_used", "B", "memory used inside the guest: available - usable "
                 "(or - unused)")
AVAILABLE = LabelSpec("mem_available", "B", "memory the guest sees (its MemTotal)")
USABLE = LabelSpec("mem_usable", "B", "memory the guest could use without swapping "
                   "(its MemAvailable)")
UNUSED = LabelSpec("mem_unused", "B", "memory the guest leaves unused (its MemFree)")
CACHES = LabelSpec("mem_disk_caches", "B", "guest page cache that could be reclaimed")
ACTUAL = LabelSpec("balloon_actual", "B", "the balloon's current size (memory given to the guest)")
RSS = LabelSpec("host_rss", "B", "host-side: QEMU's resident memory for this VM")
RSS_USAGE = LabelSpec("host_rss_usage", "%", "host-side: QEMU's resident memory in percent "
                      "of the configured maximum")
SWAP_IN = LabelSpec("swap_in_bytes_per_second", "B", "guest swap-in, bytes per second")
SWAP_OUT = LabelSpec("swap_out_bytes_per_second", "B", "guest swap-out, bytes per second")
MAJOR = LabelSpec("major_faults_per_second", "", "guest major page faults per second")
MINOR = LabelSpec("minor_faults_per_second", "", "guest minor page faults per second")

SPECS = (USAGE, USED, AVAILABLE, USABLE, UNUSED, CACHES, ACTUAL, RSS, RSS_USAGE,
         SWAP_IN, SWAP_OUT, MAJOR, MINOR)

_RATE_COUNTERS = (("swap_in", SWAP_IN, KIB, "swap-in"), ("swap_out", SWAP_OUT, KIB, "swap-out"),
                  ("major_fault", MAJOR, 1, "major faults"),
                  ("minor_fault", MINOR, 1, "minor faults"))

_RATE_SPECS = tuple(spec for _counter, spec, *_rest in _RATE_COUNTERS)
# The balloon field each label needs (the guest's balloon driver may omit some).
_BALLOON_FIELD_OF = {USABLE: "usable", UNUSED: "unused", CACHES: "disk_caches",
                     ACTUAL: "actual", RSS: "rss",
                     **{spec: counter for counter, spec, *_rest in _RATE_COUNTERS}}

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
    bound = max_age or STALE_PERIODS * memory.stats_period + STALE_SLACK_SECONDS
    updated = memory.balloon.get("last_update") or 0
    if updated <= 0:
        return BalloonVerdict(False, f"balloon statistics are stale (never updated, limit "
                                     f"{bound:g} s)", HINT_STALE)
    if progress is not None and (progress.advance > 0 or progress.interval > bound):
        return _judge_progress(progress, bound)
    return _judge_by_clock(now - updated, bound)


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


class MemCheck:
    """The memory check: balloon readings, or the honest host-side fallback."""

    name = "mem"
    title = "VM_MEM"
    description = ("Memory used inside a KVM/QEMU guest, from its virtio balloon "
                   "statistics, measured from the hypervisor through libvirt.")
    groups = frozenset({Group.MEMORY})
    specs = SPECS

    @staticmethod
    def add_options(parser: argparse.ArgumentParser) -> None:
        """The memory check's own options."""
        from libcheck.cli import add_state_option, duration_or_zero

        add_state_option(parser, "--state-if-no-balloon",
                         "the guest has no fresh balloon statistics", "unknown")
        parser.add_argument("--balloon-max-age", type=duration_or_zero, default=None,
                            metavar="SECONDS",
                            help="balloon statistics older than this are stale (default: "
                                 "3 stats periods + 5 s; 0 accepts any age)")

    @staticmethod
    def counters(sample: DomainSample) -> Counters:
        """The guest's swap and page-fault counters, where it reports them."""
        balloon = sample.memory.balloon
        names = [name for name, *_ in _RATE_COUNTERS] + ["last_update"]
        return {DOMAIN_GROUP: {name: balloon[name] for name in names if name in balloon}}

    @staticmethod
    def devices(sample: DomainSample) -> dict[str, list[str]]:
        """No per-device labels."""
        return {}

    def readings(self, measurement: Measurement, options) -> list[Reading]:
        """Guest-side readings when the balloon is fresh, else host-side ones."""
        memory = measurement.sample.memory
        if self._verdict(measurement, options).fresh:
            return (self._guest_readings(memory) + _rss_usage_readings(memory)
                    + self._rate_readings(measurement))
        return self._host_readings(memory)

    @staticmethod
    def _verdict(measurement: Measurement, options) -> BalloonVerdict:
        return judge_balloon(measurement.sample.memory, measurement.sample.wall_time,
                             getattr(options, "balloon_max_age", None),
                             balloon_progress(measurement))

    @staticmethod
    def _guest_readings(memory: MemorySample) -> list[Reading]:
        balloon = memory.balloon
        available = balloon["available"] * KIB
        free = balloon["usable"] if "usable" in balloon else balloon["unused"]
        used = min(max(available - free * KIB, 0), available)
        usage = used / available * 100 if available else 0.0
        readings = [
            Reading(USAGE, usage, f"{usage:.1f}% used ({human_bytes(used)} of "
                    f"{human_bytes(available)})", maximum=100),
            Reading(USED, used, f"used {human_bytes(used)}", maximum=available),
            Reading(AVAILABLE, available, f"available {human_bytes(available)}"),
        ]
        for spec, field, words in ((USABLE, "usable", "usable"), (UNUSED, "unused", "unused"),
                                   (CACHES, "disk_caches", "disk caches"),
                                   (ACTUAL, "actual", "balloon size"),
                                   (RSS, "rss", "host-side RSS")):
            if field in balloon:
                value = balloon[field] * KIB
                readings.append(Reading(spec, value, f"{words} {human_bytes(value)}"))
        return readings

    @staticmethod
    def _rate_readings(measurement: Measurement) -> list[Reading]:
        # The guest's counters move once per stats period: per second of the
        # time between the two balloon updates, not of our interval (which
        # would read 0, or a spike). No update in between: nothing to say.
        updates = measurement.rate(DOMAIN_GROUP, "last_update")
        if not updates:
            return []
        readings = []
        for counter, spec, scale, words in _RATE_COUNTERS:
            rate = measurement.rate(DOMAIN_GROUP, counter)
            if rate is not None:
                value = rate / updates * scale
                number = human_bytes if scale == KIB else decimal
                readings.append(Reading.of(spec, value, Phrase(f"{words} ", "/s", number)))
        return readings

    @staticmethod
    def _host_readings(memory: MemorySample) -> list[Reading]:
        readings = []
        rss = memory.balloon.get("rss")
        if rss is not None:
            readings.append(Reading(RSS, rss * KIB, f"host-side RSS {human_bytes(rss * KIB)}"))
        readings += _rss_usage_readings(memory)
        if "actual" in memory.balloon:
            actual = memory.balloon["actual"] * KIB
            readings.append(Reading(ACTUAL, actual, f"balloon size {human_bytes(actual)}"))
        return readings

    def unmeasured_reason(self, measurement: Measurement, options,
                          target: Target) -> Optional[str]:
        """Why a memory label has no value in this run, where the check knows."""
        memory = measurement.sample.memory
        field = _BALLOON_FIELD_OF.get(target.spec)
        if field is not None and field not in memory.balloon:
            return f"libvirt's balloon statistics of this domain have no '{field}'"
        if target.spec is RSS_USAGE:
            return ("libvirt reports no host-side RSS or no configured maximum for this domain"
                    if not _rss_usage_readings(memory) else None)
        verdict = self._verdict(measurement, options)
        if not verdict.fresh:
            return verdict.reason
        if target.spec in _RATE_SPECS and not measurement.rate(DOMAIN_GROUP, "last_update"):
            period = f", stats period {memory.stats_period} s" if memory.stats_period else ""
            return (f"the guest's balloon statistics did not update between the two samples "
                    f"({measurement.interval or 0:.1f} s apart{period}): no rate until they do")
        return None

    def condition(self, measurement: Measurement, options) -> Optional[Condition]:
        """Without fresh balloon statistics: the policy's state and why."""
        verdict = self._verdict(measurement, options)
        if verdict.fresh:
            return None
        state = STATE_NAMES[getattr(options, "state_if_no_balloon", "unknown")]
        return Condition(state, f"{verdict.reason}: {verdict.hint}; "
                                f"{self._host_summary(measurement.sample.memory)}")

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
        if readings and readings[0].spec is USAGE:
            return readings[0].text
        return self._host_summary(measurement.sample.memory)

    def details(self, measurement: Measurement, options) -> list[str]:
        """With -v: every balloon field as libvirt reported it (KiB)."""
        memory = measurement.sample.memory
        fields = ", ".join(f"{name}={value}" for name, value in sorted(memory.balloon.items()))
        period = f"{memory.stats_period} s" if memory.stats_period else "none"
        basis = self._verdict(measurement, options).basis
        return [f"balloon model {memory.balloon_model or 'none'}, stats period {period}",
                f"balloon fields (KiB, counts): {fields or 'none'}", *([basis] if basis else [])]


CHECK = MemCheck()


def _rss_usage_readings(memory: MemorySample) -> list[Reading]:
    """host_rss_usage, in either view: a label that comes and goes with the
    balloon's freshness would judge nothing half the time and break graphs."""
    rss = memory.balloon.get("rss")
    if rss is None or not memory.maximum_kib:
        return []
    share = min(rss / memory.maximum_kib * 100, 100.0)
    return [Reading(RSS_USAGE, share, f"host-side RSS {share:.1f}% of "
                    f"{human_bytes(memory.maximum_kib * KIB)} configured", maximum=100)]
