"""One or two samples -> a measurement against the stored baseline (libcheck.measure).

The samples are built by hand, the clock is fake and `sleep` advances it,
and the slot keeps its snapshots in memory through JSON like the real store.
"""

from __future__ import annotations

import pytest
from fakes import NS, FakeClock, MemorySlot, ScriptedReader, cpu_and_disk_counters, snapshot
from hypothesis import given
from hypothesis import strategies as st

from libcheck.measure import Measurement, Measurer
from libcheck.rates import BaselinePolicy
from libcheck.samples import DomainState

PAUSE = 1.5
POLICY = BaselinePolicy(shortest_age=PAUSE, settled_age=5.0, max_age=3600.0)


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
    slot = MemorySlot([snapshot(clock.wall - 0.5, cpu_ns=0)])
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
    slot = MemorySlot([snapshot(clock.wall - 60, cpu_ns=500 * NS)])
    measurement, _reader = run(clock, slot, {"cpu_ns": 2 * NS},
                               {"cpu_ns": 2 * NS + 750_000_000})
    assert clock.sleeps == [PAUSE]
    assert measurement.rate("", "time") == pytest.approx(5e8)
    assert measurement.basis == "within this run (a counter was reset or a device is new)"


def test_a_restarted_domain_is_measured_within_the_run(clock):
    slot = MemorySlot([snapshot(clock.wall - 60, cpu_ns=1 * NS, domain_id=1)])
    measurement, _reader = run(clock, slot, {"cpu_ns": 90 * NS, "domain_id": 2},
                               {"cpu_ns": 90 * NS + 3 * NS, "domain_id": 2})
    assert clock.sleeps == [PAUSE]
    assert measurement.rate("", "time") == pytest.approx(2e9)
    assert "restarted" in measurement.basis
    assert {item.domain_id for item in slot.load()} == {2}


def test_a_baseline_older_than_max_age_is_not_used(clock):
    slot = MemorySlot([snapshot(clock.wall - 7200, cpu_ns=0)])
    measurement, _reader = run(clock, slot, {"cpu_ns": 100 * NS},
                               {"cpu_ns": 100 * NS + 15 * NS // 10})
    assert clock.sleeps == [PAUSE]
    assert measurement.rate("", "time") == pytest.approx(1e9)
    assert measurement.basis == "within this run (the previous sample is older than --max-age)"
    assert min(item.wall_time for item in slot.load()) > clock.wall - 3600


def test_a_clock_that_went_back_is_measured_within_the_run_and_the_future_dropped(clock):
    slot = MemorySlot([snapshot(clock.wall + 300, cpu_ns=0)])
    measurement, _reader = run(clock, slot, {"cpu_ns": 10 * NS},
                               {"cpu_ns": 10 * NS + 15 * NS // 10})
    assert clock.sleeps == [PAUSE]
    assert measurement.rate("", "time") == pytest.approx(1e9)
    assert "clock went back" in measurement.basis
    assert all(item.wall_time <= clock.wall for item in slot.load())


def test_a_new_device_is_measured_within_the_run_and_the_others_against_the_baseline(clock):
    slot = MemorySlot([snapshot(clock.wall - 60, cpu_ns=0, vda={"rd_bytes": 0})])
    measurement, _reader = run(
        clock, slot,
        {"cpu_ns": 60 * NS, "disks": [("vda", 6000), ("vdb", 100)]},
        {"cpu_ns": 60 * NS + 15 * NS // 10, "disks": [("vda", 6300), ("vdb", 250)]})
    assert clock.sleeps == [PAUSE]
    assert measurement.rate("vdb", "rd_bytes") == pytest.approx(100.0)
    assert measurement.rate("vda", "rd_bytes") == pytest.approx(6300 / 61.5)
    assert measurement.rate("", "time") == pytest.approx(1e9)
    assert set(measurement.rates) == {"", "vda", "vdb"}


def test_a_reset_device_is_never_measured_across_its_reset(clock):
    slot = MemorySlot([snapshot(clock.wall - 60, cpu_ns=0, vda={"rd_bytes": 1000})])
    measurement, _reader = run(
        clock, slot,
        {"cpu_ns": 60 * NS, "disks": [("vda", 0)]},
        {"cpu_ns": 60 * NS + 15 * NS // 10, "disks": [("vda", 4500)]})
    assert clock.sleeps == [PAUSE]
    assert measurement.rate("vda", "rd_bytes") == pytest.approx(4500 / PAUSE)


# -- a domain that is not running ----------------------------------------------------------

def test_a_domain_that_stops_between_the_samples_gives_the_inactive_sample_and_saves_nothing(
        clock):
    stored = snapshot(clock.wall - 1, cpu_ns=0)
    slot = MemorySlot([stored])
    measurement, _reader = run(clock, slot, {"cpu_ns": 5 * NS},
                               {"state": DomainState.SHUTOFF, "domain_id": None})
    assert measurement.sample.identity.state is DomainState.SHUTOFF
    assert measurement.rates == {}
    assert slot.saves == 0
    assert slot.load() == [stored]


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


@given(stored=st.lists(st.tuples(st.floats(min_value=-100, max_value=8000), _CPU,
                                 st.sampled_from([1, 2])), max_size=4),
       first=_CPU, growth=st.integers(min_value=0, max_value=10**13))
def test_no_history_ever_yields_a_negative_rate(stored, first, growth):
    clock = FakeClock()
    slot = MemorySlot([snapshot(clock.wall - age, cpu_ns=cpu, domain_id=domain)
                       for age, cpu, domain in stored])
    reader = ScriptedReader(clock, [{"cpu_ns": first}, {"cpu_ns": first + growth}])
    measurement = measurer(clock, reader).measure(slot)
    assert measurement.rates.get("") is not None
    assert all(rate >= 0 for group in measurement.rates.values() for rate in group.values())
