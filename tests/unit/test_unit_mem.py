"""check_vm_mem's judgement of each balloon shape, from hand-made samples."""

from __future__ import annotations

import argparse

import pytest
from harness.fakes import FakeClock, MemorySlot, identity
from nagiosplugin.state import Ok, Unknown, Warn

from libcheck.evaluation import judge
from libcheck.measure import Measurement, Measurer
from libcheck.mem import CHECK, BalloonProgress, balloon_progress, judge_balloon
from libcheck.rates import BaselinePolicy
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


def measurement(mem: MemorySample, rates: dict | None = None,
                interval: float = 60.0) -> Measurement:
    clock = FakeClock(wall=NOW)
    sample = DomainSample(identity(), clock.wall, clock.mono, memory=mem)
    return Measurement(sample, {"": rates or {}}, interval, "since the previous run")


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
    # 20 s without an update is within 3 periods + 5 s: still fresh, no rates.
    rates = {"major_fault": 0.0, "swap_in": 0.0, "last_update": 0.0}
    values = by_label(CHECK.readings(measurement(memory(FULL), rates, 20.0), options()))
    assert "mem_usage" in values
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


# -- freshness without comparing two machines' clocks ---------------------------
#
# The hypervisor stamps last_update by its clock; this host measures the
# interval between two samples by its own.  SKEW is how far this host's clock
# runs ahead of the hypervisor's (negative: behind).

def skewed(age_on_hypervisor: float, skew: float) -> dict:
    """Balloon numbers `age_on_hypervisor` s old, read by a host `skew` s ahead."""
    return {**FULL, "last_update": int(NOW - skew - age_on_hypervisor)}


def run_after(balloon: dict, interval: float, advance: float,
              period: int = 10, **overrides) -> tuple[bool, str]:
    """One run `interval` s after the stored sample, during which last_update
    advanced `advance` s: (fresh, the condition's text or "")."""
    the_measurement = measurement(memory(balloon, period),
                                  {"last_update": advance / interval}, interval)
    condition = CHECK.condition(the_measurement, options(**overrides))
    return condition is None, condition.text if condition else ""


def test_fresh_statistics_read_by_a_host_40_s_ahead_are_fresh():
    # Before: judged 43 s old by this host's clock, over 3 * 10 + 5 s: stale.
    fresh, text = run_after(skewed(3, skew=40), interval=60, advance=60)
    assert fresh, text
    readings = CHECK.readings(measurement(memory(skewed(3, skew=40)), {"last_update": 1.0}),
                              options())
    assert readings[0].label == "mem_usage"


def test_hour_old_statistics_read_by_a_host_behind_are_stale():
    # Before: -600 s old by this host's clock, which no bound refused: fresh.
    fresh, text = run_after(skewed(3000, skew=-3600), interval=60, advance=0)
    assert not fresh
    assert "balloon statistics are stale (not updated in 60 s, limit 35 s)" in text


def test_a_timestamp_ahead_of_this_hosts_clock_is_never_fresh():
    # A first run (two samples 1.5 s apart, no update between them) can only
    # compare clocks; 30 s in the future is a clock behind, not fresh numbers.
    fresh, text = run_after(skewed(3000, skew=-3030), interval=1.5, advance=0)
    assert not fresh
    assert "cannot be judged fresh (their last update is 30 s ahead of this host's clock)" \
        in text
    assert "sync them" in text


def test_a_timestamp_within_its_whole_second_of_now_is_fresh():
    fresh, text = run_after({**FULL, "last_update": int(NOW) + 1}, interval=1.5, advance=0)
    assert fresh, text


def test_without_an_update_between_close_samples_the_clocks_decide():
    assert run_after(skewed(3, skew=0), interval=1.5, advance=0)[0]
    fresh, text = run_after(skewed(100, skew=0), interval=1.5, advance=0)
    assert not fresh
    assert "stale (100 s old by this host's clock, limit 35 s)" in text
    assert "this host's clock is ahead of the hypervisor's" in text


def test_an_update_between_close_samples_is_fresh_whatever_the_clocks_say():
    assert run_after(skewed(1, skew=1000), interval=1.5, advance=2)[0]


def test_statistics_that_fell_behind_the_interval_are_stale_though_they_moved():
    # 300 s between the runs, but last_update moved only 200 s: they stopped
    # at least 100 s ago.
    fresh, text = run_after(skewed(100, skew=40), interval=300, advance=200)
    assert not fresh
    assert "stale (they fell 100 s behind in 300 s, limit 35 s)" in text
    # A run after a stalled one sees last_update catch up: fresh again.
    assert run_after(skewed(1, skew=40), interval=60, advance=1000)[0]


def test_balloon_max_age_bounds_how_far_statistics_fall_behind():
    # 70 s behind in 100 s: stale by default (3 * 10 + 5 s), not with a 90 s limit.
    assert not run_after(skewed(70, skew=40), interval=100, advance=30)[0]
    assert run_after(skewed(70, skew=40), interval=100, advance=30, balloon_max_age=90)[0]
    assert not run_after(skewed(100, skew=40), interval=100, advance=0, balloon_max_age=90)[0]
    assert run_after(skewed(900, skew=40), interval=600, advance=0, balloon_max_age=0)[0]


def test_verbose_output_says_how_freshness_was_judged():
    between_runs = measurement(memory(skewed(3, skew=40)), {"last_update": 1.0}, 60.0)
    assert ("balloon last_update advanced 60 s in 60.0 s between two samples"
            in CHECK.details(between_runs, options()))
    first_run = measurement(memory(skewed(3, skew=0)), {"last_update": 0.0}, 1.5)
    assert ("balloon last_update 3 s old by this host's clock (no update seen between two "
            "samples)" in CHECK.details(first_run, options()))


def test_the_measurer_hands_over_last_updates_advance_over_its_interval():
    # Through the real Measurer and a state slot: a first run measures within
    # itself (1.5 s, no update between its samples), the next one 60 s later
    # against the sample the first one stored, during which the guest's
    # last_update moved 58 s.
    clock = FakeClock(wall=NOW)
    stamps = iter([int(NOW) - 3, int(NOW) - 3, int(NOW) + 55])

    def read(not_before=None) -> DomainSample:
        balloon = {**FULL, "last_update": next(stamps)}
        return DomainSample(identity(), clock.wall, clock.mono, memory=memory(balloon))

    policy = BaselinePolicy(shortest_age=1.5, settled_age=5.0, max_age=3600.0)
    measurer = Measurer(read, CHECK.counters, policy, 1.5, sleep=clock.sleep)
    slot = MemorySlot()
    first = measurer.measure(slot)
    assert balloon_progress(first) == BalloonProgress(0.0, 1.5)
    clock.advance(60.0)
    second = measurer.measure(slot)
    assert balloon_progress(second) == pytest.approx(BalloonProgress(58.0, 60.0))
    assert CHECK.condition(second, options()) is None
