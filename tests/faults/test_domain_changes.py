"""The domain changes under the check: vanishes, stops, restarts, sits in a job.

A real driver cannot make a domain vanish between two calls on demand, so
these cases run the check's whole runtime in-process against the unit
tier's fake connection (libvirt's own error objects, libvirt's own codes).
"""

from __future__ import annotations

import io

import libvirt
from harness.fakes import NS, FakeConnection, FakeDomain, libvirt_error

from libcheck.clocks import Clocks
from libcheck.cpu import CHECK
from libcheck.inspector import Inspector
from libcheck.runtime import Run

NOWAIT = libvirt.VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT


class Clock:
    """Wall and monotonic time that the fake sleep advances."""

    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def time(self) -> float:
        return self.now

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def run(connection: FakeConnection, clock: Clock, state_dir, *args: str) -> tuple[int, str]:
    stream = io.StringIO()
    code = Run(CHECK, stream=stream, sleep=clock.sleep,
               open_inspector=lambda uri: Inspector(connection, uri, clock=clock.time,
                                                    boot_time=clock.monotonic),
               clocks=Clocks(clock.time, clock.monotonic))(
        ["-d", "vm1", "--connect", "fake:///system", "--state-dir", str(state_dir), *args])
    return code, stream.getvalue()


def cpu_stats(clock: Clock, domain_id_holder: dict) -> dict:
    return {"state.state": domain_id_holder.get("state", 1), "state.reason": 1,
            "cpu.time": int((clock.now - domain_id_holder["boot"]) * NS), "vcpu.current": 2,
            "vcpu.maximum": 2}


# A domain that vanishes between its lookup and its statistics: the race of a
# per-domain read (the host snapshot's bulk call just leaves such a domain out).
DIRECT = ("--snapshot-max-age", "0")


class VanishingConnection(FakeConnection):
    """Raises `error` on the first bulk call, and then shows the domain as `after`."""

    def __init__(self, domain: FakeDomain, error: libvirt.libvirtError, after: str) -> None:
        super().__init__([domain], stats={"state.state": 5, "state.reason": 0},
                         stats_failures=[error])
        self._after = after

    def domainListGetStats(self, domains, stats, flags=0):
        try:
            return super().domainListGetStats(domains, stats, flags)
        finally:
            if self._after == "gone":
                self.domains = []


def test_domain_gone_between_lookup_and_stats_gets_the_missing_policy(tmp_path):
    error = libvirt_error(libvirt.VIR_ERR_NO_DOMAIN, "Domain not found")
    connection = VanishingConnection(FakeDomain(), error, after="gone")
    code, out = run(connection, Clock(), tmp_path, *DIRECT)
    assert (code, out.count("\n")) == (2, 1)
    assert out.startswith("VM_CPU CRITICAL - no domain 'vm1' on fake:///system")


def test_domain_stopped_between_lookup_and_stats_gets_the_stopped_policy(tmp_path):
    error = libvirt_error(libvirt.VIR_ERR_OPERATION_INVALID, "domain is not running")
    connection = VanishingConnection(FakeDomain(), error, after="shut off")
    code, out = run(connection, Clock(), tmp_path, "--state-if-stopped", "warning", *DIRECT)
    assert (code, out) == (1, "VM_CPU WARNING - vm1: shut off\n")
    assert not list(tmp_path.glob("*.json"))


def test_a_domain_busy_in_a_job_is_asked_without_waiting(tmp_path):
    clock, boot = Clock(), {"boot": 1_699_999_000.0}
    connection = FakeConnection([FakeDomain()], stats=lambda: cpu_stats(clock, boot))
    code, out = run(connection, clock, tmp_path)
    assert code == 0, out
    assert all(flags == NOWAIT for _stats, flags in connection.stats_flags)


def test_restart_between_runs_is_never_a_spike_or_negative(tmp_path):
    clock, boot = Clock(), {"boot": 1_699_999_000.0}
    domain = FakeDomain(domain_id=7)
    connection = FakeConnection([domain], stats=lambda: cpu_stats(clock, boot))
    assert run(connection, clock, tmp_path)[0] == 0
    clock.sleep(60)
    boot["boot"] = clock.now - 0.5  # restarted: new ID, CPU time starts again
    domain._id = 8
    code, out = run(connection, clock, tmp_path, "-vv")
    assert code == 0, out
    usage = float(out.split("cpu_usage=")[1].split("%")[0])
    assert 0 <= usage <= 100
    assert "within this run (the domain was restarted since the previous sample)" in out


def test_counters_going_back_without_a_new_id_are_a_reset_too(tmp_path):
    clock, boot = Clock(), {"boot": 1_699_999_000.0}
    connection = FakeConnection([FakeDomain()], stats=lambda: cpu_stats(clock, boot))
    run(connection, clock, tmp_path)
    clock.sleep(60)
    boot["boot"] = clock.now - 1.0
    code, out = run(connection, clock, tmp_path, "-vv")
    assert code == 0
    assert "within this run (a counter of the domain was reset)" in out
    assert 0 <= float(out.split("cpu_usage=")[1].split("%")[0]) <= 100
