"""check_vm_cpu: CPU usage of a VM in percent of its vCPUs.

The headline is the domain's CPU time over the real interval, divided by the
vCPU count: 100% means every vCPU busy all the time.  Where the driver has
them, user/system time, per-vCPU usage and the time vCPUs were runnable but
not running (wait; and delay, which the guest sees as steal) are reported
too, each under its own label.
"""

from __future__ import annotations

from typing import Optional

from libcheck.errors import CheckError
from libcheck.evaluation import Reading
from libcheck.measure import Measurement
from libcheck.rates import DOMAIN_GROUP, Counters
from libcheck.samples import CpuSample, DomainSample, Group
from libcheck.thresholds import LabelSpec

NS_PER_SECOND = 1e9

USAGE = LabelSpec("cpu_usage", "%", "CPU used, in percent of all vCPUs (the headline)",
                  headline=True)
USER = LabelSpec("cpu_user", "%", "user time, in percent of all vCPUs")
SYSTEM = LabelSpec("cpu_system", "%", "system time, in percent of all vCPUs")
WAIT = LabelSpec("cpu_wait", "%", "time vCPUs were runnable while the host ran something "
                 "else, in percent of all vCPUs")
STEAL = LabelSpec("cpu_steal", "%", "time vCPUs waited in the host's run queue (the "
                  "guest's steal time), in percent of all vCPUs")
TIME = LabelSpec("cpu_time_ns", "c", "cumulative CPU time of the domain, nanoseconds")
VCPU_USAGE = LabelSpec("usage", "%", "one vCPU's usage, in percent of that vCPU",
                       kind="vcpu")
VCPU_WAIT = LabelSpec("wait", "%", "one vCPU's wait time, in percent", kind="vcpu")
VCPU_STEAL = LabelSpec("steal", "%", "one vCPU's run-queue delay (steal), in percent",
                       kind="vcpu")

SPECS = (USAGE, USER, SYSTEM, WAIT, STEAL, TIME, VCPU_USAGE, VCPU_WAIT, VCPU_STEAL)

_DOMAIN_COUNTERS = {"time": "time_ns", "user": "user_ns", "system": "system_ns"}
_VCPU_COUNTERS = {"time": "time_ns", "wait": "wait_ns", "delay": "delay_ns"}


def _vcpu_name(index: int) -> str:
    return f"vcpu{index}"


def _percent(rate_ns: Optional[float], vcpus: int = 1) -> Optional[float]:
    if rate_ns is None:
        return None
    return min(max(rate_ns / NS_PER_SECOND / vcpus * 100.0, 0.0), 100.0)


class CpuCheck:
    """The CPU check: counters to keep, readings to judge, words to print."""

    name = "cpu"
    title = "VM_CPU"
    description = ("CPU usage of a KVM/QEMU domain, measured from the hypervisor "
                   "through libvirt.")
    groups = frozenset({Group.CPU})
    specs = SPECS

    @staticmethod
    def counters(sample: DomainSample) -> Counters:
        """The cumulative CPU times, by domain and by vCPU."""
        cpu = sample.cpu
        counters = {DOMAIN_GROUP: _present(cpu, _DOMAIN_COUNTERS)}
        for vcpu in cpu.vcpus:
            counters[_vcpu_name(vcpu.index)] = _present(vcpu, _VCPU_COUNTERS)
        return counters

    @staticmethod
    def devices(sample: DomainSample) -> dict[str, list[str]]:
        """The vCPUs a threshold label may name."""
        indices = {vcpu.index for vcpu in sample.cpu.vcpus} | set(range(sample.cpu.vcpu_count))
        return {"vcpu": [_vcpu_name(index) for index in sorted(indices)]}

    def readings(self, measurement: Measurement, options=None) -> list[Reading]:
        """Domain-wide percentages, the raw counter, then each vCPU's."""
        cpu = measurement.sample.cpu
        if DOMAIN_GROUP not in measurement.rates:
            raise CheckError("the domain's CPU counters went back during the run "
                             "(was it restarted?); the next run measures again")
        readings = self._domain_readings(measurement, cpu)
        for vcpu in cpu.vcpus:
            readings += self._vcpu_readings(measurement, _vcpu_name(vcpu.index))
        return readings

    def _domain_readings(self, measurement: Measurement, cpu: CpuSample) -> list[Reading]:
        count = max(cpu.vcpu_count, 1)
        usage = _percent(measurement.rate(DOMAIN_GROUP, "time"), count)
        readings = [Reading(USAGE, usage, self._headline(usage, count), maximum=100)]
        for spec, value, words in (
                (USER, _percent(measurement.rate(DOMAIN_GROUP, "user"), count), "user time"),
                (SYSTEM, _percent(measurement.rate(DOMAIN_GROUP, "system"), count),
                 "system time"),
                (WAIT, self._vcpu_sum(measurement, "wait", count), "vCPU wait"),
                (STEAL, self._vcpu_sum(measurement, "delay", count), "vCPU steal")):
            if value is not None:
                readings.append(Reading(spec, value, f"{words} {value:.1f}%", maximum=100))
        readings.append(Reading(TIME, cpu.time_ns, f"CPU time {cpu.time_ns / 1e9:.1f} s",
                                maximum=None))
        return readings

    @staticmethod
    def _headline(usage: float, count: int) -> str:
        return f"{usage:.1f}% of {count} vCPU{'s' if count != 1 else ''}"

    @staticmethod
    def _vcpu_sum(measurement: Measurement, counter: str, count: int) -> Optional[float]:
        rates = [values[counter] for group, values in measurement.rates.items()
                 if group.startswith("vcpu") and counter in values]
        return _percent(sum(rates), count) if rates else None

    @staticmethod
    def _vcpu_readings(measurement: Measurement, name: str) -> list[Reading]:
        readings = []
        for spec, counter, words in ((VCPU_USAGE, "time", "usage"), (VCPU_WAIT, "wait", "wait"),
                                     (VCPU_STEAL, "delay", "steal")):
            value = _percent(measurement.rate(name, counter))
            if value is not None:
                readings.append(Reading(spec, value, f"{name} {words} {value:.1f}%",
                                        device=name, maximum=100))
        return readings

    def ok_text(self, measurement: Measurement, readings: list[Reading]) -> str:
        """The calm status line: usage of all vCPUs."""
        return readings[0].text

    @staticmethod
    def details(measurement: Measurement, options=None) -> list[str]:
        """Nothing beyond the readings themselves."""
        return []


def _present(source, fields: dict[str, str]) -> dict[str, float]:
    values = {name: getattr(source, attribute) for name, attribute in fields.items()}
    return {name: value for name, value in values.items() if value is not None}


CHECK = CpuCheck()
