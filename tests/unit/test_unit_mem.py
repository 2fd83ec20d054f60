"""check_vm_mem's judgement of each balloon shape, from hand-made samples."""

from __future__ import annotations

import argparse

import pytest
from fakes import FakeClock, identity
from nagiosplugin.state import Ok, Unknown, Warn

from libcheck.evaluation import judge
from libcheck.measure import Measurement
from libcheck.mem import CHECK, judge_balloon
from libcheck.samples import DomainSample, MemorySample
from libcheck.thresholds import Thresholds

KIB = 1024
NOW = 1_700_000_000.0
FULL = {"actual": 4194304, "available": 4000000, "usable": 1000000, "unused": 500000,
        "disk_caches": 400000, "rss": 3000000, "last_update": int(NOW) - 3,
        "swap_in": 10, "swap_out": 0, "major_fault": 5, "minor_fault": 100}


def memory(balloon: dict, period: int | None = 10, model: str | None = "virtio",
           maximum_kib: int = 4194304) -> MemorySample:
    return MemorySample(maximum_kib=maximum_kib, current_kib=maximum_kib, balloon=balloon,
                        balloon_model=model, stats_period=period)


def measurement(mem: MemorySample, rates: dict | None = None) -> Measurement:
    clock = FakeClock(wall=NOW)
    sample = DomainSample(identity(), clock.wall, clock.mono, memory=mem)
    return Measurement(sample, {"": rates or {}}, 60.0, "since the previous run")


def options(**overrides) -> argparse.Namespace:
    values = {"balloon_max_age": None, "state_if_no_balloon": "unknown"}
    values.update(overrides)
    return argparse.Namespace(**values)


def by_label(readings) -> dict:
    return {reading.label: reading.value for reading in readings}


def test_full_balloon_is_fresh():
    assert judge_balloon(memory(FULL), NOW, None).fresh


def test_used_is_available_minus_usable():
    values = by_label(CHECK.readings(measurement(memory(FULL)), options()))
    assert values["mem_used"] == (4000000 - 1000000) * KIB
    assert values["mem_usage"] == pytest.approx(75.0)
    assert values["mem_available"] == 4000000 * KIB
    assert values["balloon_actual"] == 4194304 * KIB


def test_without_usable_used_is_available_minus_unused():
    balloon = {k: v for k, v in FULL.items() if k != "usable"}
    values = by_label(CHECK.readings(measurement(memory(balloon)), options()))
    assert values["mem_used"] == (4000000 - 500000) * KIB
    assert "mem_usable" not in values


def test_rates_scale_swap_from_kib_and_keep_faults_as_counts():
    rates = {"swap_in": 2.0, "swap_out": 0.0, "major_fault": 1.5, "minor_fault": 30.0,
             "last_update": 1.0}
    values = by_label(CHECK.readings(measurement(memory(FULL), rates), options()))
    assert values["swap_in_bytes_per_second"] == 2048.0
    assert values["major_faults_per_second"] == 1.5
    assert values["minor_faults_per_second"] == 30.0


def test_rates_are_per_second_of_the_time_between_balloon_updates():
    # 20 faults over a 10 s interval, but the guest updated its numbers only
    # over 5 s of it (stats period): 4 faults per second, not 2.
    rates = {"major_fault": 2.0, "last_update": 0.5}
    values = by_label(CHECK.readings(measurement(memory(FULL), rates), options()))
    assert values["major_faults_per_second"] == 4.0


def test_no_balloon_update_within_the_interval_gives_no_rates():
    rates = {"major_fault": 0.0, "swap_in": 0.0, "last_update": 0.0}
    values = by_label(CHECK.readings(measurement(memory(FULL), rates), options()))
    assert not any(label.endswith("_per_second") for label in values)


@pytest.mark.parametrize(("balloon", "period", "model", "reason"), [
    ({**FULL, "last_update": int(NOW) - 100}, 10, "virtio", "balloon statistics are stale"),
    ({**FULL, "last_update": 0}, 10, "virtio", "never updated"),
    ({k: v for k, v in FULL.items() if k != "last_update"}, 10, "virtio", "never updated"),
    (FULL, None, "virtio", "not polled (no stats period)"),
    ({"actual": 4194304, "rss": 3000000, "last_update": 0}, 10, "virtio",
     "no balloon statistics from the guest"),
    ({}, None, "virtio", "no balloon statistics from the guest"),
    ({"rss": 3000000}, None, "none", "no balloon device"),
])
def test_shapes_without_fresh_statistics_are_refused(balloon, period, model, reason):
    verdict = judge_balloon(memory(balloon, period, model), NOW, None)
    assert not verdict.fresh
    assert reason in verdict.reason
    assert verdict.hint


def test_staleness_bound_follows_the_stats_period():
    balloon = {**FULL, "last_update": int(NOW) - 30}
    assert judge_balloon(memory(balloon, period=10), NOW, None).fresh  # 3*10 + 5 s
    assert not judge_balloon(memory(balloon, period=2), NOW, None).fresh  # 3*2 + 5 s
    assert judge_balloon(memory(balloon, period=2), NOW, 60).fresh
    assert judge_balloon(memory({**FULL, "last_update": 1}, period=None), NOW, 0).fresh


def test_fallback_reports_only_host_side_numbers():
    balloon = {"actual": 4194304, "rss": 1048576}
    values = by_label(CHECK.readings(measurement(memory(balloon)), options()))
    assert set(values) == {"host_rss", "host_rss_usage", "balloon_actual"}
    assert values["host_rss_usage"] == 25.0


@pytest.mark.parametrize(("policy", "state"), [("unknown", Unknown), ("warning", Warn),
                                                ("ok", Ok)])
def test_fallback_state_comes_from_the_policy(policy, state):
    the_measurement = measurement(memory({"rss": 1048576}, model="none"))
    condition = CHECK.condition(the_measurement, options(state_if_no_balloon=policy))
    readings = CHECK.readings(the_measurement, options())
    outcome = judge("mem", "vm1", CHECK.ok_text(the_measurement, readings), readings,
                    Thresholds(CHECK.specs), condition)
    assert outcome.state == state
    if state is not Ok:
        assert outcome.text.startswith("vm1: no balloon device (memballoon model 'none'): add ")
        assert outcome.text.endswith("host-side RSS 1.0 GiB of 4.0 GiB configured")


def test_fresh_statistics_impose_no_condition():
    assert CHECK.condition(measurement(memory(FULL)), options()) is None


def test_status_line_names_percent_and_sizes():
    the_measurement = measurement(memory(FULL))
    readings = CHECK.readings(the_measurement, options())
    outcome = judge("mem", "db01", CHECK.ok_text(the_measurement, readings), readings,
                    Thresholds(CHECK.specs, ["70"], ["80"]))
    assert outcome.state == Warn
    assert outcome.text == "db01: 75.0% used (2.9 GiB of 3.8 GiB) (> 70)"
