"""check_vm_cpu: CPU usage of a VM in percent of its vCPUs.

The headline is the domain's CPU time over the real interval, divided by the
vCPU count: 100% means every vCPU busy all the time.  Where the driver has
them, user/system time (the host's accounting of the VM's processes, in
which the guest's own running counts as user), per-vCPU usage and the time
vCPUs were runnable but not running are reported too, each under its own
label: delay (which the guest sees as steal) always, wait only where the
hypervisor's kernel collects scheduler statistics, without which libvirt
reports a wait of 0 whatever happens.
"""

from __future__ import annotations

import functools
import os

from libcheck.checkbase import Check, declared_part
from libcheck.errors import CheckError
from libcheck.evaluation import Phrase, Reading
from libcheck.measure import Measurement
from libcheck.metrics import (
    Declarations,
    Field,
    Inputs,
    Metric,
    Reported,
    Value,
    Wording,
    counted_fields,
    counters_in,
    missing_fields,
    readings_of,
    specs_of,
)
from libcheck.rates import DOMAIN_GROUP, Counters
from libcheck.records import NamedTuple
from libcheck.samples import CpuSample, DomainSample, Group, VcpuSample
from libcheck.thresholds import VCPU_KIND, LabelSpec, Target
from libcheck.units import decimal

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional, Union

NS_PER_SECOND = 1e9
# The kernel's switch for scheduler statistics (absent: built without them).
SCHEDSTATS_SWITCH = "/proc/sys/kernel/sched_schedstats"

NO_DELAY = ("this driver or libvirt version reports no vCPU delay (libvirt >= 7.2 reports "
            "it for QEMU/KVM guests)")
NO_WAIT = "this driver reports no vCPU wait"
NO_SPLIT = "this driver reports no user/system split of the domain's CPU time"
SCHEDSTATS_OFF = ("the hypervisor's kernel does not collect scheduler statistics "
                  "(kernel.sched_schedstats = 0; sysctl kernel.sched_schedstats=1 turns them "
                  "on), so libvirt's vCPU wait stays 0")
NO_SCHEDSTATS = ("the hypervisor's kernel has no scheduler statistics (built without "
                 "CONFIG_SCHEDSTATS), so libvirt's vCPU wait stays 0")
NO_WAIT_EVER = ("no vCPU of this domain has waited a nanosecond in libvirt's count: the "
                "hypervisor's kernel does not collect scheduler statistics "
                "(sysctl kernel.sched_schedstats=1 there turns them on)")


def _seconds(nanoseconds: float, decimals: Optional[int] = None) -> str:
    return decimal(nanoseconds / NS_PER_SECOND, decimals)


def _percent(rate_ns: Optional[float], vcpus: float = 1) -> Optional[float]:
    if rate_ns is None:
        return None
    return min(max(rate_ns / NS_PER_SECOND / vcpus * 100.0, 0.0), 100.0)


# Their words are whole reasons: the CPU check says them as they are.
TIME_NS = Field("time_ns", "libvirt reports no CPU time for this domain", "time")
USER_NS = Field("user_ns", NO_SPLIT, "user")
SYSTEM_NS = Field("system_ns", NO_SPLIT, "system")
# A vCPU's: a domain-wide label needs them from at least one vCPU.
VCPU_TIME_NS = Field("time_ns", "libvirt reports no time for this vCPU", "time")
WAIT_NS = Field("wait_ns", NO_WAIT, "wait")
DELAY_NS = Field("delay_ns", NO_DELAY, "delay")


class CpuShare(Value):
    """A CPU-time counter's rate in percent of the vCPUs' time: the run's vCPU
    count is the limit (1 for one vCPU's own label), clamped to 0..100.
    `along` are fields that must come with it (user time means nothing
    without system time: the split is reported whole or not at all)."""

    def __init__(self, field: Field, *along: Field) -> None:
        self.fields, self.counted = (field, *along), (field,)

    def compute(self, inputs: Inputs) -> Optional[float]:
        return _percent(inputs.rates.get(self.fields[0].key), inputs.limit or 1)


class VcpuShare(Value):
    """The sum of one counter's rates over every vCPU, in percent of all vCPUs,
    from the rates of every group (the vCPUs' are `vcpuN`)."""

    def __init__(self, field: Field) -> None:
        self.fields = self.counted = (field,)

    def compute(self, inputs: Inputs) -> Optional[float]:
        counter = self.fields[0].key
        rates = [values[counter] for group, values in inputs.groups.items()
                 if group.startswith("vcpu") and counter in values]
        return _percent(sum(rates), inputs.limit or 1) if rates else None


_DECLARE = Declarations()


def _percent_of_cpus(metric: str, meaning: str, value: Value, wording: Wording,
                     kind: Optional[str] = None, headline: bool = False,
                     spare: int = 0) -> Metric:
    return _DECLARE(Metric(LabelSpec(metric, "%", meaning, kind=kind, headline=headline,
                                     spare=spare), value, wording, maximum=100))


USAGE = _percent_of_cpus("cpu_usage", "CPU used, in percent of all vCPUs (the headline)",
                         CpuShare(TIME_NS), Wording(""), headline=True)
USER = _percent_of_cpus("cpu_user", "host-side user time of the VM's processes (the guest's "
                        "own running counts here), in percent of all vCPUs",
                        CpuShare(USER_NS, SYSTEM_NS), Wording("user time ", "%"))
SYSTEM = _percent_of_cpus("cpu_system", "host-side kernel time spent for the VM, in percent "
                          "of all vCPUs", CpuShare(SYSTEM_NS, USER_NS),
                          Wording("system time ", "%"))
WAIT = _percent_of_cpus("cpu_wait", "time vCPUs were runnable while the host ran something "
                        "else, from the host's scheduler statistics, in percent of all vCPUs",
                        VcpuShare(WAIT_NS), Wording("vCPU wait ", "%"))
STEAL = _percent_of_cpus("cpu_steal", "time vCPUs waited in the host's run queue (the "
                         "guest's steal time), in percent of all vCPUs",
                         VcpuShare(DELAY_NS), Wording("vCPU steal ", "%"))
TIME = _DECLARE(Metric(LabelSpec("cpu_time_ns", "c", "cumulative CPU time of the domain, "
                                 "nanoseconds"),
                       Reported(TIME_NS), Wording("CPU time ", " s", _seconds)))
VCPU_USAGE = _percent_of_cpus("usage", "one vCPU's usage, in percent of that vCPU",
                              CpuShare(VCPU_TIME_NS), Wording("{device} usage ", "%"),
                              kind=VCPU_KIND)
# The domain-wide wait and steal sum them up: a big guest's perfdata keeps every
# vCPU's usage before any vCPU's wait and steal.
VCPU_WAIT = _percent_of_cpus("wait", "one vCPU's wait time, in percent", CpuShare(WAIT_NS),
                             Wording("{device} wait ", "%"), kind=VCPU_KIND, spare=1)
VCPU_STEAL = _percent_of_cpus("steal", "one vCPU's run-queue delay (steal), in percent",
                              CpuShare(DELAY_NS), Wording("{device} steal ", "%"),
                              kind=VCPU_KIND, spare=1)

METRICS = _DECLARE.all()
SPECS = specs_of(METRICS)
# The headline and the raw counter have readings of their own; the other
# domain-wide labels follow the headline, and each vCPU's labels the vCPU.
_PER_VCPU = tuple(metric for metric in METRICS if metric.spec.kind == VCPU_KIND)
_DOMAIN = tuple(metric for metric in METRICS
                if metric.spec.kind is None and metric not in (USAGE, TIME))
_DOMAIN_COUNTED = tuple(metric for metric in METRICS
                        if metric.spec.kind is None and isinstance(metric.value, CpuShare))
_WAITS = tuple(metric for metric in METRICS if WAIT_NS in metric.needs)
# The counters kept between runs, by the domain and by each vCPU.
_DOMAIN_COUNTERS = counted_fields(_DOMAIN_COUNTED)
_VCPU_COUNTERS = counted_fields(_PER_VCPU)

class WaitVerdict(NamedTuple):
    """Whether the host collects vCPU wait, and if not, why."""

    collected: bool
    reason: str = ""


def is_local_uri(uri: Optional[str]) -> bool:
    """Whether a libvirt URI names this machine's own daemon (no host, local socket)."""
    if not uri or "://" not in uri:
        return False
    transport = uri.split("://", 1)[0].partition("+")[2]
    # Imported here: only a run that asks about vCPU wait needs it.
    from urllib.parse import urlsplit

    return transport in ("", "unix") and not urlsplit(uri).hostname


def _vcpu_name(index: int) -> str:
    return f"vcpu{index}"


class CpuOptions(NamedTuple):
    """What the CPU check reads of the common options: the URI (is it local?)."""

    connect: Optional[str]


class CpuCheck(Check):
    """The CPU check: counters to keep, readings to judge, words to print."""

    name = "cpu"
    description = ("CPU usage of a KVM/QEMU domain, measured from the hypervisor "
                   "through libvirt.")
    groups = frozenset({Group.CPU})
    metrics = METRICS
    Options = CpuOptions

    def __init__(self, schedstats_switch: Union[str, os.PathLike] = SCHEDSTATS_SWITCH) -> None:
        self._schedstats_switch = schedstats_switch

    def wait_verdict(self, cpu: CpuSample, uri: Optional[str]) -> WaitVerdict:
        """Whether vCPU wait means anything here.

        libvirt reads it from the kernel's scheduler statistics and says 0
        where the kernel does not collect them.  On the hypervisor itself (a
        local URI) the kernel's switch says whether it collects them now;
        from elsewhere, a wait ever counted by a vCPU shows it did since that
        vCPU started (a switch turned off later goes unnoticed there).
        """
        if not any(vcpu.wait_ns is not None for vcpu in cpu.vcpus):
            return WaitVerdict(False, NO_WAIT)
        if is_local_uri(uri):
            switch = self._switch
            if switch is not None:
                return switch
        if any(vcpu.wait_ns for vcpu in cpu.vcpus):
            return WaitVerdict(True)
        return WaitVerdict(False, NO_WAIT_EVER)

    @functools.cached_property
    def _switch(self) -> Optional[WaitVerdict]:
        # Read once per run: readings, details and threshold reasons all ask.
        try:
            with open(self._schedstats_switch, encoding="ascii") as switch:
                value = switch.read().strip()
        except FileNotFoundError:
            return WaitVerdict(False, NO_SCHEDSTATS)
        except OSError:
            return None
        return WaitVerdict(True) if value != "0" else WaitVerdict(False, SCHEDSTATS_OFF)

    def sample_fields(self) -> frozenset[str]:
        """The domain's CPU fields and a vCPU's."""
        return frozenset(CpuSample._fields) | frozenset(VcpuSample._fields)

    def counters(self, sample: DomainSample) -> Counters:
        """The cumulative CPU times, by domain and by vCPU."""
        cpu = declared_part(sample.cpu, Group.CPU)
        counters = {DOMAIN_GROUP: counters_in(_DOMAIN_COUNTERS, cpu)}
        for vcpu in cpu.vcpus:
            counters[_vcpu_name(vcpu.index)] = counters_in(_VCPU_COUNTERS, vcpu)
        return counters

    def devices(self, sample: DomainSample) -> dict[str, list[str]]:
        """The vCPUs a threshold label may name."""
        cpu = declared_part(sample.cpu, Group.CPU)
        indices = {vcpu.index for vcpu in cpu.vcpus} | set(range(cpu.vcpu_count))
        return {VCPU_KIND: [_vcpu_name(index) for index in sorted(indices)]}

    def readings(self, measurement: Measurement,
                 options: Optional[CpuOptions] = None) -> list[Reading]:
        """Domain-wide percentages, the raw counter, then each vCPU's."""
        cpu = declared_part(measurement.sample.cpu, Group.CPU)
        if DOMAIN_GROUP not in measurement.rates:
            raise CheckError("the domain's CPU counters went back during the run "
                             "(was it restarted?); the next run measures again")
        with_wait = self.wait_verdict(cpu, _uri(options)).collected
        readings = self._domain_readings(measurement, cpu, with_wait)
        for vcpu in cpu.vcpus:
            name = _vcpu_name(vcpu.index)
            inputs = Inputs(vcpu, measurement.rates.get(name, {}))
            readings += readings_of(_PER_VCPU, inputs, name,
                                    keep=lambda metric: with_wait or metric is not VCPU_WAIT)
        return readings

    def _domain_readings(self, measurement: Measurement, cpu: CpuSample,
                         with_wait: bool) -> list[Reading]:
        count = max(cpu.vcpu_count, 1)
        domain = Inputs(cpu, measurement.rates[DOMAIN_GROUP], count, measurement.rates)
        usage = USAGE.value.compute(domain)
        if usage is None:
            raise AssertionError("the domain's CPU time has no rate: every sample has one")
        readings = [Reading.of(USAGE.spec, usage, self._headline(count), maximum=100)]
        for metric in _DOMAIN:
            if with_wait or metric is not WAIT:
                readings += readings_of((metric,), domain)
        return readings + readings_of((TIME,), domain)

    @staticmethod
    def _headline(count: int) -> Phrase:
        return Phrase("", f"% of {count} vCPU{'s' if count != 1 else ''}")

    def unmeasured_reason(self, measurement: Measurement, options: Optional[CpuOptions],
                          target: Target) -> Optional[str]:
        """Why a CPU label has no value in this run, where the check knows."""
        cpu = declared_part(measurement.sample.cpu, Group.CPU)
        metric = next(metric for metric in METRICS if metric.spec is target.spec)
        if metric in _WAITS:
            verdict = self.wait_verdict(cpu, _uri(options))
            if not verdict.collected:
                return verdict.reason
        missing = _missing(metric, cpu)
        if missing:
            return missing[0].words
        if target.device is not None and target.device not in {
                _vcpu_name(vcpu.index) for vcpu in cpu.vcpus if vcpu.time_ns is not None}:
            return f"libvirt reports no time for {target.device} (is it offline?)"
        return None

    def ok_text(self, measurement: Measurement, readings: list[Reading]) -> str:
        """The calm status line: usage of all vCPUs."""
        return readings[0].text

    def details(self, measurement: Measurement,
                options: Optional[CpuOptions] = None) -> list[str]:
        """With -v: why vCPU wait is not reported, where it is not."""
        verdict = self.wait_verdict(declared_part(measurement.sample.cpu, Group.CPU),
                                    _uri(options))
        return [] if verdict.collected else [f"vCPU wait not reported: {verdict.reason}"]


def _uri(options: Optional[CpuOptions]) -> Optional[str]:
    return options.connect if options is not None else None


def _missing(metric: Metric, cpu: CpuSample) -> list[Field]:
    """The fields a label needs that the sample lacks: a vCPU's field is there
    when any vCPU has it (a vCPU's own label is judged by its own time)."""
    if metric in _PER_VCPU or isinstance(metric.value, VcpuShare):
        return [field for field in metric.needs if field is not VCPU_TIME_NS
                and all(field.of(vcpu) is None for vcpu in cpu.vcpus)]
    return missing_fields(metric, cpu)


CHECK = CpuCheck()
