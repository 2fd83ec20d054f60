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
from typing import NamedTuple, Optional, Union

from libcheck.errors import CheckError
from libcheck.evaluation import Phrase, Reading
from libcheck.measure import Measurement
from libcheck.rates import DOMAIN_GROUP, Counters
from libcheck.samples import CpuSample, DomainSample, Group
from libcheck.thresholds import LabelSpec, Target
from libcheck.units import decimal

NS_PER_SECOND = 1e9
# The kernel's switch for scheduler statistics (absent: built without them).
SCHEDSTATS_SWITCH = "/proc/sys/kernel/sched_schedstats"

USAGE = LabelSpec("cpu_usage", "%", "CPU used, in percent of all vCPUs (the headline)",
                  headline=True)
USER = LabelSpec("cpu_user", "%", "host-side user time of the VM's processes (the guest's "
                 "own running counts here), in percent of all vCPUs")
SYSTEM = LabelSpec("cpu_system", "%", "host-side kernel time spent for the VM, in percent "
                   "of all vCPUs")
WAIT = LabelSpec("cpu_wait", "%", "time vCPUs were runnable while the host ran something "
                 "else, from the host's scheduler statistics, in percent of all vCPUs")
STEAL = LabelSpec("cpu_steal", "%", "time vCPUs waited in the host's run queue (the "
                  "guest's steal time), in percent of all vCPUs")
TIME = LabelSpec("cpu_time_ns", "c", "cumulative CPU time of the domain, nanoseconds")
VCPU_USAGE = LabelSpec("usage", "%", "one vCPU's usage, in percent of that vCPU",
                       kind="vcpu")
VCPU_WAIT = LabelSpec("wait", "%", "one vCPU's wait time, in percent", kind="vcpu")
VCPU_STEAL = LabelSpec("steal", "%", "one vCPU's run-queue delay (steal), in percent",
                       kind="vcpu")

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

SPECS = (USAGE, USER, SYSTEM, WAIT, STEAL, TIME, VCPU_USAGE, VCPU_WAIT, VCPU_STEAL)

_DOMAIN_COUNTERS = {"time": "time_ns", "user": "user_ns", "system": "system_ns"}
_VCPU_COUNTERS = {"time": "time_ns", "wait": "wait_ns", "delay": "delay_ns"}


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
        with_wait = self.wait_verdict(cpu, getattr(options, "connect", None)).collected
        readings = self._domain_readings(measurement, cpu, with_wait)
        for vcpu in cpu.vcpus:
            readings += self._vcpu_readings(measurement, _vcpu_name(vcpu.index), with_wait)
        return readings

    def _domain_readings(self, measurement: Measurement, cpu: CpuSample,
                         with_wait: bool) -> list[Reading]:
        count = max(cpu.vcpu_count, 1)
        usage = _percent(measurement.rate(DOMAIN_GROUP, "time"), count)
        readings = [Reading.of(USAGE, usage, self._headline(count), maximum=100)]
        for spec, value, words in (
                (USER, _percent(measurement.rate(DOMAIN_GROUP, "user"), count), "user time"),
                (SYSTEM, _percent(measurement.rate(DOMAIN_GROUP, "system"), count),
                 "system time"),
                (WAIT, self._vcpu_sum(measurement, "wait", count) if with_wait else None,
                 "vCPU wait"),
                (STEAL, self._vcpu_sum(measurement, "delay", count), "vCPU steal")):
            if value is not None:
                readings.append(Reading.of(spec, value, Phrase(f"{words} ", "%"), maximum=100))
        readings.append(Reading.of(TIME, cpu.time_ns, Phrase("CPU time ", " s", _seconds),
                                   maximum=None))
        return readings

    @staticmethod
    def _headline(count: int) -> Phrase:
        return Phrase("", f"% of {count} vCPU{'s' if count != 1 else ''}")

    @staticmethod
    def _vcpu_sum(measurement: Measurement, counter: str, count: int) -> Optional[float]:
        rates = [values[counter] for group, values in measurement.rates.items()
                 if group.startswith("vcpu") and counter in values]
        return _percent(sum(rates), count) if rates else None

    @staticmethod
    def _vcpu_readings(measurement: Measurement, name: str, with_wait: bool) -> list[Reading]:
        readings = []
        for spec, counter, words in ((VCPU_USAGE, "time", "usage"), (VCPU_WAIT, "wait", "wait"),
                                     (VCPU_STEAL, "delay", "steal")):
            value = _percent(measurement.rate(name, counter))
            if value is not None and (with_wait or spec is not VCPU_WAIT):
                readings.append(Reading.of(spec, value, Phrase(f"{name} {words} ", "%"),
                                           device=name, maximum=100))
        return readings

    def unmeasured_reason(self, measurement: Measurement, options,
                          target: Target) -> Optional[str]:
        """Why a CPU label has no value in this run, where the check knows."""
        cpu = measurement.sample.cpu
        if target.spec in (WAIT, VCPU_WAIT):
            verdict = self.wait_verdict(cpu, getattr(options, "connect", None))
            if not verdict.collected:
                return verdict.reason
        if target.spec in (STEAL, VCPU_STEAL) and all(v.delay_ns is None for v in cpu.vcpus):
            return NO_DELAY
        if target.spec in (USER, SYSTEM) and None in (cpu.user_ns, cpu.system_ns):
            return NO_SPLIT
        if target.device is not None and target.device not in {
                _vcpu_name(vcpu.index) for vcpu in cpu.vcpus if vcpu.time_ns is not None}:
            return f"libvirt reports no time for {target.device} (is it offline?)"
        return None

    def ok_text(self, measurement: Measurement, readings: list[Reading]) -> str:
        """The calm status line: usage of all vCPUs."""
        return readings[0].text

    def details(self, measurement: Measurement, options=None) -> list[str]:
        """With -v: why vCPU wait is not reported, where it is not."""
        verdict = self.wait_verdict(measurement.sample.cpu, getattr(options, "connect", None))
        return [] if verdict.collected else [f"vCPU wait not reported: {verdict.reason}"]


def _seconds(nanoseconds: float, decimals: Optional[int] = None) -> str:
    return decimal(nanoseconds / NS_PER_SECOND, decimals)


def _present(source, fields: dict[str, str]) -> dict[str, float]:
    values = {name: getattr(source, attribute) for name, attribute in fields.items()}
    return {name: value for name, value in values.items() if value is not None}


CHECK = CpuCheck()
