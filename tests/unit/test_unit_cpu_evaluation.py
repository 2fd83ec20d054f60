"""The CPU check's readings and their judgement (libcheck.cpu, libcheck.evaluation).

Measurements are built by hand: a sample and the per-second rates of its
counters, with no libvirt and no clock.
"""

from __future__ import annotations

import pytest
from fakes import NS, FakeClock, sample
from nagiosplugin.state import Critical, Ok, Warn

from libcheck.cpu import CHECK, SPECS, USAGE
from libcheck.errors import CheckError
from libcheck.evaluation import Reading, judge
from libcheck.measure import Measurement
from libcheck.samples import VcpuSample
from libcheck.thresholds import Thresholds


def measurement(rates: dict, vcpu_count: int = 2, vcpus: int = 2) -> Measurement:
    """A running domain's measurement with the given rates (ns per second)."""
    domain_sample = sample(FakeClock(), 1234 * NS, vcpu_count=vcpu_count,
                           vcpus=[VcpuSample(index, NS) for index in range(vcpus)],
                           user_ns=1, system_ns=1)
    return Measurement(domain_sample, rates, 10.0, "since the previous run")


def values(readings: list[Reading]) -> dict[str, float]:
    return {reading.label: reading.value for reading in readings}


BUSY = {
    "": {"time": 1.0e9, "user": 0.2e9, "system": 0.1e9},
    "vcpu0": {"time": 0.6e9, "wait": 0.1e9, "delay": 0.04e9},
    "vcpu1": {"time": 0.4e9, "wait": 0.1e9, "delay": 0.02e9},
}


# -- readings ---------------------------------------------------------------------------

def test_usage_is_cpu_time_rate_in_percent_of_all_vcpus():
    readings = CHECK.readings(measurement({"": {"time": 1e9}}))
    assert readings[0].label == "cpu_usage"
    assert readings[0].value == pytest.approx(50.0)
    assert readings[0].text == "50.0% of 2 vCPUs"


def test_one_vcpu_is_named_in_the_singular():
    readings = CHECK.readings(measurement({"": {"time": 0.25e9}}, vcpu_count=1, vcpus=1))
    assert readings[0].text == "25.0% of 1 vCPU"


def test_user_system_wait_and_steal_are_percent_of_all_vcpus():
    got = values(CHECK.readings(measurement(BUSY)))
    assert got["cpu_user"] == pytest.approx(10.0)
    assert got["cpu_system"] == pytest.approx(5.0)
    assert got["cpu_wait"] == pytest.approx(10.0)    # (0.1 + 0.1) s/s over 2 vCPUs
    assert got["cpu_steal"] == pytest.approx(3.0)    # (0.04 + 0.02) s/s over 2 vCPUs


def test_each_vcpu_is_in_percent_of_that_vcpu():
    got = values(CHECK.readings(measurement(BUSY)))
    assert got["vcpu0_usage"] == pytest.approx(60.0)
    assert got["vcpu1_usage"] == pytest.approx(40.0)
    assert got["vcpu0_wait"] == pytest.approx(10.0)
    assert got["vcpu1_steal"] == pytest.approx(2.0)


def test_the_raw_cpu_time_is_reported_as_a_counter():
    reading = next(r for r in CHECK.readings(measurement(BUSY)) if r.label == "cpu_time_ns")
    assert (reading.value, reading.spec.uom, reading.maximum) == (1234 * NS, "c", None)


def test_percentages_are_clamped_to_0_and_100():
    got = values(CHECK.readings(measurement({
        "": {"time": 5e9, "user": -1e9},
        "vcpu0": {"time": 3e9}, "vcpu1": {"time": -2e9}})))
    assert got["cpu_usage"] == 100.0
    assert got["cpu_user"] == 0.0
    assert got["vcpu0_usage"] == 100.0
    assert got["vcpu1_usage"] == 0.0


def test_readings_of_unmeasured_counters_are_left_out():
    got = values(CHECK.readings(measurement({"": {"time": 1e9}})))
    assert set(got) == {"cpu_usage", "cpu_time_ns"}


def test_missing_domain_rates_are_a_check_error():
    with pytest.raises(CheckError, match="CPU counters went back during the run"):
        CHECK.readings(measurement({"vcpu0": {"time": 1e9}}))


def test_a_zero_vcpu_count_does_not_divide_by_zero():
    readings = CHECK.readings(measurement({"": {"time": 0.5e9}}, vcpu_count=0, vcpus=0))
    assert readings[0].value == pytest.approx(50.0)


def test_counters_flatten_a_sample_leaving_out_unknown_values():
    domain_sample = sample(FakeClock(), 9 * NS, user_ns=None, system_ns=2,
                           vcpus=[VcpuSample(0, 5, 6, None), VcpuSample(1, None)])
    assert CHECK.counters(domain_sample) == {
        "": {"time": 9 * NS, "system": 2},
        "vcpu0": {"time": 5, "wait": 6},
        "vcpu1": {}}


def test_devices_are_the_vcpu_names_up_to_the_larger_count():
    domain_sample = sample(FakeClock(), 0, vcpu_count=3, vcpus=[VcpuSample(0, 1)])
    assert CHECK.devices(domain_sample) == {"vcpu": ["vcpu0", "vcpu1", "vcpu2"]}


# -- judge -------------------------------------------------------------------------------------

def verdict(rates: dict, warnings=(), criticals=()):
    current = measurement(rates)
    readings = CHECK.readings(current)
    return judge("cpu", "vm1", CHECK.ok_text(current, readings), readings,
                 Thresholds(SPECS, warnings, criticals))


def test_below_the_thresholds_the_state_is_ok_with_the_calm_summary():
    outcome = verdict({"": {"time": 1e9}}, ["80"], ["90"])
    assert outcome.state == Ok
    assert outcome.text == "vm1: 50.0% of 2 vCPUs"


def test_above_warning_the_state_is_warning_naming_the_reading_and_the_limit():
    outcome = verdict({"": {"time": 1.7e9}}, ["80"], ["90"])
    assert outcome.state == Warn
    assert outcome.text == "vm1: 85.0% of 2 vCPUs (> 80)"


def test_above_critical_the_state_is_critical_with_the_critical_limit():
    outcome = verdict({"": {"time": 1.9e9}}, ["80"], ["90"])
    assert outcome.state == Critical
    assert outcome.text == "vm1: 95.0% of 2 vCPUs (> 90)"


def test_the_status_names_the_worst_reading_and_counts_the_others():
    outcome = verdict(BUSY, ["40", "vcpu_usage=50"], ["vcpu0_usage=55"])
    assert outcome.state == Critical
    assert outcome.text == "vm1: vcpu0 usage 60.0% (> 55) (+1 more)"


def test_a_device_threshold_beats_the_generic_one_in_judgement():
    generic_only = verdict(BUSY, ["vcpu_usage=50"])
    assert generic_only.state == Warn
    assert generic_only.text == "vm1: vcpu0 usage 60.0% (> 50)"
    with_device = verdict(BUSY, ["vcpu_usage=50", "vcpu0_usage=70"])
    assert with_device.state == Ok


def test_an_inverted_range_alerts_inside():
    outcome = verdict({"": {"time": 1e9}}, ["@40:60"])
    assert outcome.state == Warn
    assert outcome.text == "vm1: 50.0% of 2 vCPUs (inside 40:60)"


def test_perfdata_fields_carry_warning_critical_min_and_max():
    outcome = verdict(BUSY, ["80", "vcpu0_wait=5"], ["90", "vcpu_wait=20"])
    assert "cpu_usage=50%;80;90;0;100" in outcome.perfdata
    assert "vcpu0_wait=10%;5;20;0;100" in outcome.perfdata
    assert "vcpu1_wait=10%;;20;0;100" in outcome.perfdata
    assert "cpu_time_ns=1234000000000c;;;0" in outcome.perfdata
    assert "cpu_user=10%;;;0;100" in outcome.perfdata


def test_details_list_every_reading_and_the_state_of_the_bad_ones():
    outcome = verdict({"": {"time": 1.9e9}}, ["80"])
    assert outcome.details[0] == "cpu_usage: 95.0% of 2 vCPUs (warning: > 80)"
    assert "cpu_time_ns: CPU time 1234.0 s" in outcome.details


def test_a_reading_is_labelled_by_its_device():
    reading = Reading(USAGE, 1.0, "x")
    assert reading.label == "cpu_usage"
    assert Reading(SPECS[6], 1.0, "x", device="vcpu3").label == "vcpu3_usage"
