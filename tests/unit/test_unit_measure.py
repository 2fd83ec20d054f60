"""One or two samples -> a measurement against the stored baseline (libcheck.measure).

The samples are built by hand, the clock is fake and `sleep` advances it,
and the slot keeps its snapshots in memory through JSON like the real store.
"""

from __future__ import annotations

import pytest
from harness.fakes import (
    NS,
    FakeClock,
    MemorySlot,
    ScriptedReader,
    cpu_and_disk_counters,
    sample,
    snapshot,
)
from hypothesis import given
from hypothesis import strategies as st

from libcheck.measure import Measurement, Measurer
from libcheck.rates import BaselinePolicy, Snapshot
from libcheck.samples import DomainState

PAUSE = 1.5
POLICY = BaselinePolicy(shortest_age=PAUSE, settled_age=5.0, max_age=3600.0)


def stored(clock: FakeClock, age: float, cpu_ns: float = 0, domain_id=1, *, step: float = 0.0,
           boot=None, **groups: dict[str, float]) -> Snapshot:
    """A snapshot a run stored `age` seconds ago (boot-time clock), in the boot of
    the scripted samples, with the wall clock stepped `step` seconds since."""
    old = snapshot(clock.wall - age - step, cpu_ns, domain_id, **groups)
    return old._replace(boot_time=clock.mono - age, boot_id=boot)


def measurer(clock: FakeClock, reader: ScriptedReader) -> Measurer:
    return Measurer(reader, cpu_and_disk_counters, POLICY, PAUSE, sleep=clock.sleep)


def run(clock: FakeClock, slot, *script: dict) -> tuple[Measurement, ScriptedReader]:
    """Measure once with the scripted samples; return the measurement and reader."""
    reader = ScriptedReader(clock, script)
    return measurer(clock, reader).measure(slot), reader


# -- no usable baseline: measure within the run ----------------------------------------

def test_a_first_run_sleeps_once_and_reports_the_rate_over_that_pause(clock):
    slot = MemorySlot()
    measurement, reader = run(clock, slot, {"cpu_ns": 10 * NS},
                              {"cpu_ns": 10 * NS + 1_500_000_000})
    assert clock.sleeps == [PAUSE]
    assert reader.reads == 2
    assert measurement.rate("", "time") == pytest.approx(1e9)
    assert measurement.interval == pytest.approx(PAUSE)
    assert measurement.basis == "within this run (no previous sample)"
    assert slot.saves == 1
    assert [item.counters[""]["time"] for item in slot.load()] == [10 * NS,
                                                                   10 * NS + 1_500_000_000]


def test_without_a_state_slot_the_run_still_measures_within_itself(clock):
    measurement, _reader = run(clock, None, {"cpu_ns": 0}, {"cpu_ns": 3 * NS})
    assert clock.sleeps == [PAUSE]
    assert measurement.rate("", "time") == pytest.approx(2e9)


def test_the_second_run_measures_against_the_stored_baseline_without_sleeping(clock):
    slot = MemorySlot()
    run(clock, slot, {"cpu_ns": 10 * NS}, {"cpu_ns": 11 * NS})
    clock.advance(60)
    clock.sleeps.clear()
    measurement, reader = run(clock, slot, {"cpu_ns": 41 * NS})
    assert clock.sleeps == []
    assert reader.reads == 1
    assert measurement.rate("", "time") == pytest.approx(30 * NS / 60)
    assert measurement.interval == pytest.approx(60)
    assert measurement.basis == "since the previous run"


def test_a_young_baseline_is_used_rather_than_sleeping_again(clock):
    slot = MemorySlot()
    run(clock, slot, {"cpu_ns": 0}, {"cpu_ns": 1 * NS})
    clock.advance(3)
    clock.sleeps.clear()
    measurement, _reader = run(clock, slot, {"cpu_ns": 4 * NS})
    assert clock.sleeps == []
    # The oldest young snapshot: the first run's first sample, 4.5 s back.
    assert measurement.interval == pytest.approx(4.5)
    assert measurement.rate("", "time") == pytest.approx(4 * NS / 4.5)


def test_a_back_to_back_run_uses_the_first_runs_first_sample_without_sleeping(clock):
    slot = MemorySlot()
    run(clock, slot, {"cpu_ns": 0}, {"cpu_ns": 1 * NS})
    clock.advance(0.2)
    clock.sleeps.clear()
    measurement, _reader = run(clock, slot, {"cpu_ns": 2 * NS})
    assert clock.sleeps == []
    assert measurement.interval == pytest.approx(1.7)


def test_a_baseline_only_moments_old_is_not_used(clock):
    slot = MemorySlot([stored(clock, 0.5, cpu_ns=0)])
    measurement, _reader = run(clock, slot, {"cpu_ns": 2 * NS}, {"cpu_ns": 3 * NS})
    assert clock.sleeps == [PAUSE]
    assert measurement.interval == pytest.approx(PAUSE)
    assert measurement.basis == "within this run (the previous sample is only moments old)"


def test_stored_state_keeps_at_most_three_snapshots_over_many_runs(clock):
    slot = MemorySlot()
    cpu = 0
    for _ in range(6):
        cpu += NS
        run(clock, slot, {"cpu_ns": cpu}, {"cpu_ns": cpu + NS})
        cpu += NS
        clock.advance(2)
    assert 1 <= len(slot.load()) <= 3


# -- a baseline that must not be measured across ----------------------------------------

def test_a_counter_reset_is_measured_within_the_run_and_never_negative(clock):
    slot = MemorySlot([stored(clock, 60, cpu_ns=500 * NS)])
    measurement, _reader = run(clock, slot, {"cpu_ns": 2 * NS},
                               {"cpu_ns": 2 * NS + 750_000_000})
    assert clock.sleeps == [PAUSE]
    assert measurement.rate("", "time") == pytest.approx(5e8)
    assert measurement.basis == "within this run (a counter of the domain was reset)"


def test_a_restarted_domain_is_measured_within_the_run(clock):
    slot = MemorySlot([stored(clock, 60, cpu_ns=1 * NS, domain_id=1)])
    measurement, _reader = run(clock, slot, {"cpu_ns": 90 * NS, "domain_id": 2},
                               {"cpu_ns": 90 * NS + 3 * NS, "domain_id": 2})
    assert clock.sleeps == [PAUSE]
    assert measurement.rate("", "time") == pytest.approx(2e9)
    assert "restarted" in measurement.basis
    assert {item.domain_id for item in slot.load()} == {2}


def test_a_baseline_older_than_max_age_is_not_used(clock):
    slot = MemorySlot([stored(clock, 7200, cpu_ns=0)])
    measurement, _reader = run(clock, slot, {"cpu_ns": 100 * NS},
                               {"cpu_ns": 100 * NS + 15 * NS // 10})
    assert clock.sleeps == [PAUSE]
    assert measurement.rate("", "time") == pytest.approx(1e9)
    assert measurement.basis == "within this run (the previous sample is older than --max-age)"
    assert min(item.wall_time for item in slot.load()) > clock.wall - 3600


def test_a_clock_stepped_back_before_the_baseline_is_measured_within_the_run_and_dropped(clock):
    # The baseline's wall time lies 300 s in the future: the clock went back 360 s.
    slot = MemorySlot([stored(clock, 60, cpu_ns=0, step=-360)])
    measurement, _reader = run(clock, slot, {"cpu_ns": 10 * NS},
                               {"cpu_ns": 10 * NS + 15 * NS // 10})
    assert clock.sleeps == [PAUSE]
    assert measurement.rate("", "time") == pytest.approx(1e9)
    assert measurement.basis == \
        "within this run (the clock was stepped since the previous sample, 360 s back)"
    assert all(item.wall_time <= clock.wall for item in slot.load())


@pytest.mark.parametrize(("step", "words"), [(-50, "50 s back"), (300, "300 s forward")])
def test_a_wall_clock_stepped_within_the_interval_is_measured_within_the_run(clock, step,
                                                                              words):
    # 60 s of one CPU-second per second, while the wall clock shows 10 s or 360 s.
    slot = MemorySlot([stored(clock, 60, cpu_ns=0, step=step)])
    measurement, _reader = run(clock, slot, {"cpu_ns": 60 * NS},
                               {"cpu_ns": 60 * NS + 15 * NS // 10})
    assert clock.sleeps == [PAUSE]
    assert measurement.rate("", "time") == pytest.approx(1e9)
    assert measurement.interval == pytest.approx(PAUSE)
    assert measurement.basis == f"within this run (the clock was stepped since the previous " \
                                f"sample, {words})"
    assert [item.wall_time for item in slot.load()] == [clock.wall - PAUSE, clock.wall]


def test_a_small_wall_clock_step_keeps_the_baseline_and_the_boot_time_interval(clock):
    # NTP stepped the wall clock 1 s back: the baseline stands, timed on the boot clock.
    slot = MemorySlot([stored(clock, 60, cpu_ns=0, step=-1)])
    measurement, reader = run(clock, slot, {"cpu_ns": 60 * NS})
    assert clock.sleeps == []
    assert reader.reads == 1
    assert measurement.interval == pytest.approx(60)
    assert measurement.rate("", "time") == pytest.approx(1e9)
    assert measurement.basis == "since the previous run"


def test_a_baseline_from_another_boot_of_the_monitoring_host_is_not_used(clock):
    slot = MemorySlot([stored(clock, 60, cpu_ns=0, boot="an-earlier-boot")])
    measurement, _reader = run(clock, slot, {"cpu_ns": 60 * NS},
                               {"cpu_ns": 60 * NS + 15 * NS // 10})
    assert clock.sleeps == [PAUSE]
    assert measurement.rate("", "time") == pytest.approx(1e9)
    assert measurement.basis == \
        "within this run (the monitoring host was restarted since the previous sample)"
    assert {item.boot_id for item in slot.load()} == {None}


def test_a_snapshot_of_an_earlier_version_costs_one_measurement_within_the_run(clock):
    slot = MemorySlot([snapshot(clock.wall - 60, cpu_ns=0)])
    measurement, _reader = run(clock, slot, {"cpu_ns": 60 * NS},
                               {"cpu_ns": 60 * NS + 15 * NS // 10})
    assert clock.sleeps == [PAUSE]
    assert measurement.rate("", "time") == pytest.approx(1e9)
    assert measurement.basis == ("within this run (the previous sample was stored by an "
                                 "earlier version, without a boot-time clock reading)")
    assert all(item.boot_time is not None for item in slot.load())
    clock.advance(60)
    clock.sleeps.clear()
    measurement, _reader = run(clock, slot, {"cpu_ns": 121 * NS})
    assert clock.sleeps == []
    assert measurement.basis == "since the previous run"


def test_a_new_device_is_measured_within_the_run_and_the_others_against_the_baseline(clock):
    slot = MemorySlot([stored(clock, 60, cpu_ns=0, vda={"rd_bytes": 0})])
    measurement, _reader = run(
        clock, slot,
        {"cpu_ns": 60 * NS, "disks": [("vda", 6000), ("vdb", 100)]},
        {"cpu_ns": 60 * NS + 15 * NS // 10, "disks": [("vda", 6300), ("vdb", 250)]})
    assert clock.sleeps == [PAUSE]
    assert measurement.rate("vdb", "rd_bytes") == pytest.approx(100.0)
    assert measurement.rate("vda", "rd_bytes") == pytest.approx(6300 / 61.5)
    assert measurement.rate("", "time") == pytest.approx(1e9)
    assert set(measurement.rates) == {"", "vda", "vdb"}
    assert measurement.interval == pytest.approx(61.5)
    assert measurement.basis == "since the previous run; vdb over 1.50 s within this run " \
                                "(vdb is new)"


def test_a_reset_device_is_never_measured_across_its_reset(clock):
    slot = MemorySlot([stored(clock, 60, cpu_ns=0, vda={"rd_bytes": 1000})])
    measurement, _reader = run(
        clock, slot,
        {"cpu_ns": 60 * NS, "disks": [("vda", 0)]},
        {"cpu_ns": 60 * NS + 15 * NS // 10, "disks": [("vda", 4500)]})
    assert clock.sleeps == [PAUSE]
    assert measurement.rate("vda", "rd_bytes") == pytest.approx(4500 / PAUSE)
    assert measurement.basis == "since the previous run; vda over 1.50 s within this run " \
                                "(a counter of vda was reset)"


def test_every_remeasured_group_is_named_with_its_reason(clock):
    slot = MemorySlot([stored(clock, 60, cpu_ns=0, vda={"rd_bytes": 1000})])
    measurement, _reader = run(
        clock, slot,
        {"cpu_ns": 60 * NS, "disks": [("vda", 0), ("vdb", 0)]},
        {"cpu_ns": 61 * NS, "disks": [("vda", 10), ("vdb", 20)]})
    assert measurement.basis == "since the previous run; vda, vdb over 1.50 s within this run " \
                                "(a counter of vda was reset, vdb is new)"


# -- an earlier sample offered by the sampler (the host snapshot's previous generation) ----

def earlier_sample(clock: FakeClock, age: float, **kwargs):
    """What a reader's `earlier_sample` gives: a sample taken `age` seconds ago."""
    then = FakeClock(clock.wall - age, clock.mono - age)
    return lambda: sample(then, **kwargs)


def test_a_first_run_with_a_fit_earlier_sample_measures_against_it_without_sleeping(clock):
    slot = MemorySlot()
    reader = ScriptedReader(clock, [{"cpu_ns": 10 * NS}])
    measurement = measurer(clock, reader).measure(slot, earlier_sample(clock, 2.0, cpu_ns=8 * NS))
    assert (clock.sleeps, reader.reads) == ([], 1)
    assert measurement.rate("", "time") == pytest.approx(1e9)
    assert measurement.interval == pytest.approx(2.0)
    assert measurement.basis == "between the two newest host snapshots (no previous sample)"
    assert [item.counters[""]["time"] for item in slot.load()] == [8 * NS, 10 * NS]


@pytest.mark.parametrize("age, earlier", [
    (1.0, {"cpu_ns": 9 * NS}),                                # younger than the pause
    (2.0, {"cpu_ns": 11 * NS}),                               # every counter went back
    (2.0, {"cpu_ns": 8 * NS, "domain_id": 2}),                # another run of the domain
    (2.0, {"state": DomainState.SHUTOFF, "domain_id": None}),  # not running then
    (4000.0, {"cpu_ns": 8 * NS}),                             # older than --max-age
])
def test_an_unfit_earlier_sample_leaves_the_run_to_measure_within_itself(clock, age, earlier):
    reader = ScriptedReader(clock, [{"cpu_ns": 10 * NS}, {"cpu_ns": 10 * NS + 3 * NS // 2}])
    measurement = measurer(clock, reader).measure(MemorySlot(),
                                                  earlier_sample(clock, age, **earlier))
    assert (clock.sleeps, reader.reads) == ([PAUSE], 2)
    assert measurement.rate("", "time") == pytest.approx(1e9)
    assert measurement.basis == "within this run (no previous sample)"


def test_a_device_new_since_the_earlier_sample_alone_is_measured_within_the_run(clock):
    reader = ScriptedReader(clock, [{"cpu_ns": 10 * NS, "disks": [("vda", 0), ("vdb", 0)]},
                                    {"cpu_ns": 11 * NS, "disks": [("vda", 0), ("vdb", 30)]}])
    measurement = measurer(clock, reader).measure(
        MemorySlot(), earlier_sample(clock, 2.0, cpu_ns=8 * NS, disks=[("vda", 0)]))
    assert clock.sleeps == [PAUSE]
    assert measurement.rate("", "time") == pytest.approx(3 * NS / 3.5)
    assert measurement.rate("vdb", "rd_bytes") == pytest.approx(20)
    assert measurement.basis == ("between the two newest host snapshots (no previous sample); "
                                 "vdb over 1.50 s within this run (vdb is new)")


def test_a_stored_baseline_is_measured_against_before_an_earlier_sample_is_asked_for(clock):
    slot = MemorySlot([stored(clock, 60, cpu_ns=0)])
    asked: list[bool] = []
    reader = ScriptedReader(clock, [{"cpu_ns": 60 * NS}])
    measurement = measurer(clock, reader).measure(slot, lambda: asked.append(True))
    assert measurement.basis == "since the previous run"
    assert asked == []


# -- a domain that is not running ----------------------------------------------------------

def test_a_domain_that_stops_between_the_samples_gives_the_inactive_sample_and_saves_nothing(
        clock):
    baseline = stored(clock, 1, cpu_ns=0)
    slot = MemorySlot([baseline])
    measurement, _reader = run(clock, slot, {"cpu_ns": 5 * NS},
                               {"state": DomainState.SHUTOFF, "domain_id": None})
    assert measurement.sample.identity.state is DomainState.SHUTOFF
    assert measurement.rates == {}
    assert slot.saves == 0
    assert slot.load() == [baseline]


def test_an_inactive_domain_is_read_once_without_sleeping_or_saving(clock):
    slot = MemorySlot()
    measurement, reader = run(clock, slot, {"state": DomainState.PAUSED})
    assert reader.reads == 1
    assert clock.sleeps == []
    assert slot.saves == 0
    assert measurement.sample.identity.state is DomainState.PAUSED


def test_measurement_rate_of_an_unknown_group_or_counter_is_none(clock):
    measurement, _reader = run(clock, None, {"cpu_ns": 0}, {"cpu_ns": NS})
    assert measurement.rate("vdz", "rd_bytes") is None
    assert measurement.rate("", "nope") is None


# -- property: whatever the stored history, no rate is negative ---------------------------------

_CPU = st.integers(min_value=0, max_value=10**15)


@given(history=st.lists(st.tuples(st.floats(min_value=-100, max_value=8000),
                                  st.floats(min_value=-1000, max_value=1000), _CPU,
                                  st.sampled_from([1, 2]), st.sampled_from([None, "other"])),
                        max_size=4),
       first=_CPU, growth=st.integers(min_value=0, max_value=10**13))
def test_no_history_ever_yields_a_negative_rate(history, first, growth):
    clock = FakeClock()
    slot = MemorySlot([stored(clock, age, cpu_ns=cpu, domain_id=domain, step=step, boot=boot)
                       for age, step, cpu, domain, boot in history])
    reader = ScriptedReader(clock, [{"cpu_ns": first}, {"cpu_ns": first + growth}])
    measurement = measurer(clock, reader).measure(slot)
    assert measurement.rates.get("") is not None
    assert all(rate >= 0 for group in measurement.rates.values() for rate in group.values())
