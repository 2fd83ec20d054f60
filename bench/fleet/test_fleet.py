"""The fleet benchmark's own parts: lateness, the results file, the call hook,
the sampler of the agents' process states.

`make fleet` is a benchmark, not a test; what it counts must still be right,
so these tests live beside it and `make test` runs them. The call hook runs
for real: a Python with bench/fleet/fleethook on PYTHONPATH calls libvirt's
test driver, and the line it appends must name those calls.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from bench.common.resultsfile import write_section
from bench.fleet.cluster import HOOK
from bench.fleet.events import Result, result_of
from bench.fleet.procstates import WaitSampler, process_state, summarise
from bench.fleet.report import (
    LATE_AFTER,
    AgentWindow,
    Lateness,
    ModeResult,
    Scaled,
    calls_in,
    lateness,
    missed_intervals,
    percentile,
)


def result(name: str, ended: float) -> Result:
    return Result(name, "hv1", ended - 0.5, ended, 0, 10, "")


def test_results_every_interval_are_on_time():
    results = [result(name, 30 + 60 * k) for name in ("a", "b!c") for k in range(6)]
    found = lateness(results, ["a", "b!c"], start=60, end=360, since=0)
    assert (found.checkables, found.results, found.late, found.never) == (2, 10, 0, 0)
    assert found.max_gap == pytest.approx(60)


def test_a_gap_counts_the_intervals_it_left_without_a_result():
    assert [missed_intervals(gap) for gap in (60, LATE_AFTER, 76, 120, 121, 300)] == \
        [0, 0, 1, 1, 2, 4]


def test_a_gap_longer_than_the_limit_and_a_silent_end_are_late():
    times = [30, 90, 90 + LATE_AFTER + 1, 200]   # one late result, then 160 s silent
    found = lateness([result("a", t) for t in times], ["a"], start=60, end=360, since=0)
    assert found.late == 1 + 2
    assert found.max_gap == pytest.approx(160)


def test_a_checkable_without_any_result_is_late_and_never_checked():
    found = lateness([result("a", 70)], ["a", "b"], start=60, end=360, since=0)
    assert found.never == 1
    assert found.late == 4 + 5  # "a" silent for 290 s after 70; "b" for 360 s


def test_a_result_after_the_window_is_not_counted():
    found = lateness([result("a", 100), result("a", 400)], ["a"], start=60, end=150, since=0)
    assert found.results == 1


def test_the_99th_percentile_is_the_nearest_rank():
    assert percentile([float(v) for v in range(1, 101)], 0.99) == 99.0
    assert percentile([3.0], 0.99) == 3.0


def test_the_extrapolation_scales_each_vm_and_result():
    agents = [AgentWindow(f"hv{n}", 5.0, 2250, 2250, 146.25, 4.0, {}, {0: 2250})
              for n in (1, 2, 3)]   # 90 VMs x 5 results a minute, 65 ms each
    measured = ModeResult("on", agents, Lateness(1350, 6750, 0, 61.0, 0), 90, 5.0,
                          master_cpu=6.75, master_results=6750, master_rss_mib=46.0,
                          idle_rss_mib=25.0, machine_busy=0.76, run_p99=1.0,
                          result_bytes=500.0)
    scaled = Scaled(measured)
    assert scaled.results_per_minute == pytest.approx(5000)
    assert scaled.agent_cores == pytest.approx(5000 * 0.065 / 60)
    assert scaled.satellite_rate == pytest.approx(100 * 5000 / 60)
    assert scaled.satellite_cores == pytest.approx(100 * 5000 / 60 * 0.001)
    assert scaled.satellite_checkables == pytest.approx(500_000)
    assert scaled.satellite_gib == pytest.approx((25 + 500_000 * 21 / 1350) / 1024)
    assert "fell behind" not in " ".join(scaled.lines(2, 24))
    measured.lateness.late = 3
    assert "fell behind" in " ".join(scaled.lines(2, 24))


def test_an_event_becomes_a_result_with_its_problem():
    event = {"type": "CheckResult", "host": "vm1", "service": "vm-mem",
             "check_result": {"check_source": "hv1", "execution_start": 1.5,
                              "execution_end": 2.0, "state": 3.0,
                              "output": "VM_MEM UNKNOWN - no\nmore", "performance_data": ["x=1"]}}
    found = result_of(event)
    assert found.checkable == "vm1!vm-mem" and found.state == 3
    assert found.problem == "VM_MEM UNKNOWN - no"
    assert found.size == len("VM_MEM UNKNOWN - no\nmore") + len("x=1") + 1
    assert result_of({"type": "StateChange"}) is None


def test_each_benchmark_replaces_only_its_own_section(tmp_path):
    path = tmp_path / "results.txt"
    write_section(path, "make bench", "bench one\n")
    write_section(path, "make fleet", "fleet one\n")
    write_section(path, "make bench", "bench two\n")
    assert path.read_text() == "bench two\n\n==== make fleet ====\nfleet one\n"
    write_section(path, "make fleet", "fleet two\n")
    assert path.read_text() == "bench two\n\n==== make fleet ====\nfleet two\n"


def test_the_hook_counts_the_libvirt_calls_of_a_run(tmp_path):
    log = tmp_path / "calls.log"
    code = ("import libvirt\n"
            "c = libvirt.openReadOnly('test:///default')\n"
            "d = c.lookupByName('test'); d.info(); d.info(); c.getAllDomainStats()\n")
    environment = {**os.environ, "PYTHONPATH": str(HOOK),
                   "CHECK_VM_FLEET_CALLS": str(log)}
    for program in (code, "pass"):
        subprocess.run([sys.executable, "-c", program], env=environment, check=True,
                       timeout=60)
    first, second = (json.loads(line) for line in log.read_text().splitlines())
    assert first["calls"] == {"libvirt.openReadOnly": 1, "c.lookupByName": 1, "d.info": 2,
                              "c.getAllDomainStats": 1}
    assert second["calls"] == {}
    runs, calls = calls_in(log, first["end"] - 1, second["end"])
    assert runs == 2 and calls["d.info"] == 2


def test_waits_are_means_per_sample_and_name_the_busiest_wait_channels():
    waits = summarise([[("R", ""), ("D", "do_unlinkat"), ("S", "")],
                       [("D", "do_unlinkat"), ("D", "folio_wait_bit_common")]])
    assert (waits.samples, waits.runnable, waits.blocked) == (2, 0.5, 1.5)
    assert waits.channels == {"do_unlinkat": 1.0, "folio_wait_bit_common": 0.5}
    assert waits.line().endswith("(2 samples): do_unlinkat 1.0, folio_wait_bit_common 0.5")
    assert summarise([]).line() == ("0.0 runnable and 0.0 in uninterruptible sleep on "
                                    "average (0 samples)")


def test_the_sampler_counts_a_busy_process_runnable_and_a_sleeping_one_neither():
    busy = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    sleeping = subprocess.Popen(["sleep", "60"])
    try:
        sampler = WaitSampler(lambda: [busy.pid, sleeping.pid], every=0.05)
        sampler.start()
        time.sleep(0.6)
        waits = sampler.stop()
    finally:
        for process in (busy, sleeping):
            process.kill()
            process.wait()
    assert waits.samples >= 5
    assert (waits.runnable, waits.blocked) == (1.0, 0.0)
    assert process_state(busy.pid) is None  # reaped: gone from /proc
