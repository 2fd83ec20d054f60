"""The CPU check's readings and their judgement (libcheck.cpu, libcheck.evaluation).

Measurements are built by hand: a sample and the per-second rates of its
counters, with no libvirt and no clock.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from harness.fakes import NS, FakeClock, sample
from nagiosplugin.state import Critical, Ok, Unknown, Warn

from libcheck.cpu import (
    CHECK,
    NO_DELAY,
    NO_SCHEDSTATS,
    NO_WAIT,
    NO_WAIT_EVER,
    SCHEDSTATS_OFF,
    SPECS,
    STEAL,
    USAGE,
    VCPU_USAGE,
    WAIT,
    CpuCheck,
    is_local_uri,
)
from libcheck.errors import CheckError
from libcheck.evaluation import Condition, Reading, Unmeasured, judge
from libcheck.measure import Measurement
from libcheck.samples import VcpuSample
from libcheck.thresholds import Target, Thresholds

# Cumulative counters of a vCPU whose host counted wait and delay (schedstats on).
COUNTED = {"wait_ns": NS // 10, "delay_ns": NS // 50}


def measurement(rates: dict, vcpu_count: int = 2, vcpus: int = 2,
                counted: dict = COUNTED) -> Measurement:
    """A running domain's measurement with the given rates (ns per second)."""
    domain_sample = sample(FakeClock(), 1234 * NS, vcpu_count=vcpu_count,
                           vcpus=[VcpuSample(index, NS, **counted) for index in range(vcpus)],
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
    reading = Reading(USAGE.spec, 1.0, "x")
    assert reading.label == "cpu_usage"
    assert Reading(SPECS[6], 1.0, "x", device="vcpu3").label == "vcpu3_usage"


# -- a threshold that judges nothing -------------------------------------------------

UNCOUNTED = {"wait_ns": 0, "delay_ns": None}


def judged(current: Measurement, warnings=(), criticals=(), state=Unknown, check=CHECK,
           condition=None, options=None):
    readings = check.readings(current, options)
    reasons = Unmeasured(lambda target: check.unmeasured_reason(current, options, target),
                         state)
    return judge("cpu", "vm1", check.ok_text(current, readings), readings,
                 Thresholds(SPECS, warnings, criticals), condition, reasons)


def test_a_threshold_on_a_label_not_reported_is_unknown_naming_it_and_why():
    outcome = judged(measurement({"": {"time": 1e9}}, counted=UNCOUNTED),
                     criticals=["cpu_steal=0.0001"])
    assert outcome.state == Unknown
    assert outcome.text == f"vm1: threshold -c cpu_steal judges nothing: {NO_DELAY}"
    assert outcome.notes == (f"threshold -c cpu_steal judges nothing: {NO_DELAY}",
                             "--state-if-unmeasured-threshold ok makes this a note, for "
                             "thresholds shared by hosts that differ")
    assert "libvirt >= 7.2" in NO_DELAY


def test_every_threshold_that_judges_nothing_is_listed():
    outcome = judged(measurement({"": {"time": 1e9}}, counted=UNCOUNTED),
                     warnings=["cpu_wait=1", "vcpu1_steal=5"], criticals=["cpu_wait=2"])
    assert outcome.state == Unknown
    assert outcome.text == (f"vm1: threshold -w/-c cpu_wait judges nothing: {NO_WAIT_EVER} "
                            "(+1 more)")
    assert outcome.notes[:2] == (f"threshold -w/-c cpu_wait judges nothing: {NO_WAIT_EVER}",
                                 f"threshold -w vcpu1_steal judges nothing: {NO_DELAY}")


def test_accepted_thresholds_that_judge_nothing_are_a_note():
    outcome = judged(measurement({"": {"time": 1e9}}, counted=UNCOUNTED), ["80"],
                     ["cpu_steal=10"], state=Ok)
    assert (outcome.state, outcome.text) == (Ok, "vm1: 50.0% of 2 vCPUs")
    assert outcome.notes == (f"threshold -c cpu_steal judges nothing: {NO_DELAY} (accepted: "
                             "--state-if-unmeasured-threshold ok)",)


def test_thresholds_that_judge_nothing_take_the_state_chosen_for_them():
    outcome = judged(measurement({"": {"time": 1e9}}, counted=UNCOUNTED), ["80"],
                     ["cpu_steal=10"], state=Warn)
    assert (outcome.state, outcome.text) == (
        Warn, f"vm1: threshold -c cpu_steal judges nothing: {NO_DELAY}")
    crossed = judged(measurement({"": {"time": 1.7e9}}, counted=UNCOUNTED), ["80"],
                     ["cpu_steal=10"], state=Warn)
    assert (crossed.state, crossed.text) == (
        Warn, f"vm1: threshold -c cpu_steal judges nothing: {NO_DELAY}")


def test_a_crossed_critical_threshold_outranks_one_that_judges_nothing():
    outcome = judged(measurement({"": {"time": 1.9e9}}, counted=UNCOUNTED), criticals=[
        "90", "cpu_steal=10"])
    assert (outcome.state, outcome.text) == (Critical, "vm1: 95.0% of 2 vCPUs (> 90)")
    assert outcome.notes[0] == f"threshold -c cpu_steal judges nothing: {NO_DELAY}"


def test_the_checks_own_condition_explains_missing_values_so_they_are_a_note():
    outcome = judged(measurement({"": {"time": 1e9}}, counted=UNCOUNTED), criticals=[
        "cpu_steal=10"], condition=Condition(Warn, "something else"))
    assert (outcome.state, outcome.text) == (Warn, "vm1: something else")
    assert outcome.notes == (f"threshold -c cpu_steal judges nothing: {NO_DELAY}",)


def test_a_generic_device_label_is_judged_by_any_device_reading():
    outcome = judged(measurement(BUSY), ["vcpu_steal=50", "vcpu_usage=90"])
    assert (outcome.state, outcome.notes) == (Ok, ())


def test_an_offline_vcpu_is_named_as_the_reason():
    current = measurement({"": {"time": 1e9}, "vcpu0": {"time": 1e9}}, vcpu_count=4, vcpus=1)
    outcome = judged(current, ["vcpu3_usage=50"])
    assert outcome.text == ("vm1: threshold -w vcpu3_usage judges nothing: libvirt reports no "
                            "time for vcpu3 (is it offline?)")


def test_without_reasons_from_the_check_the_words_are_generic():
    current = measurement({"": {"time": 1e9}}, counted=UNCOUNTED)
    readings = CHECK.readings(current)
    outcome = judge("cpu", "vm1", "calm", readings, Thresholds(SPECS, ["cpu_steal=5"]))
    assert outcome.text == ("vm1: threshold -w cpu_steal judges nothing: it was not measured "
                            "in this run")


def test_the_reasons_of_the_cpu_check():
    current = measurement({"": {"time": 1e9}}, counted={"wait_ns": None, "delay_ns": None})
    current = current._replace(sample=current.sample._replace(
        cpu=current.sample.cpu._replace(user_ns=None)))
    reasons = {spec.metric: CHECK.unmeasured_reason(current, None, Target(spec))
               for spec in SPECS}
    assert reasons["cpu_wait"] == reasons["wait"] == NO_WAIT
    assert reasons["cpu_steal"] == reasons["steal"] == NO_DELAY
    assert reasons["cpu_user"] == reasons["cpu_system"] == (
        "this driver reports no user/system split of the domain's CPU time")
    assert reasons["cpu_usage"] is None


# -- vCPU wait: only where the host collects it -----------------------------------------

def wait_labels(check: CpuCheck, uri, counted: dict) -> set[str]:
    current = measurement(BUSY, counted=counted)
    readings = check.readings(current, argparse.Namespace(connect=uri))
    return {reading.label for reading in readings if "wait" in reading.label}


def switch(tmp_path: Path, value: str) -> CpuCheck:
    path = tmp_path / "sched_schedstats"
    path.write_text(value)
    return CpuCheck(schedstats_switch=path)


def test_on_the_hypervisor_the_kernels_switch_decides_whether_wait_is_reported(tmp_path):
    assert wait_labels(switch(tmp_path, "1\n"), "qemu:///system", UNCOUNTED) == {
        "cpu_wait", "vcpu0_wait", "vcpu1_wait"}
    assert wait_labels(switch(tmp_path, "0\n"), "qemu:///system", COUNTED) == set()
    verdict = switch(tmp_path, "0\n").wait_verdict(measurement(BUSY).sample.cpu,
                                                   "qemu:///system")
    assert verdict == (False, SCHEDSTATS_OFF)
    assert "kernel.sched_schedstats" in SCHEDSTATS_OFF


def test_a_kernel_without_scheduler_statistics_has_no_wait(tmp_path):
    check = CpuCheck(schedstats_switch=tmp_path / "absent")
    assert wait_labels(check, "qemu+unix:///system", COUNTED) == set()
    assert check.wait_verdict(measurement(BUSY).sample.cpu, "qemu:///system") == (
        False, NO_SCHEDSTATS)


def test_from_another_host_a_wait_ever_counted_shows_the_kernel_collects_it(tmp_path):
    check = switch(tmp_path, "0\n")  # this machine's switch says nothing of a remote host
    assert wait_labels(check, "qemu+ssh://hv1/system", COUNTED) == {
        "cpu_wait", "vcpu0_wait", "vcpu1_wait"}
    assert wait_labels(check, "qemu+ssh://hv1/system", UNCOUNTED) == set()
    assert check.wait_verdict(measurement(BUSY, counted=UNCOUNTED).sample.cpu,
                              "qemu+ssh://hv1/system") == (False, NO_WAIT_EVER)


def test_an_unreadable_switch_falls_back_to_the_counted_wait(tmp_path):
    check = CpuCheck(schedstats_switch=tmp_path)  # a directory: not readable as a file
    assert wait_labels(check, "qemu:///system", COUNTED) == {
        "cpu_wait", "vcpu0_wait", "vcpu1_wait"}


def test_a_driver_without_vcpu_wait_reports_none():
    current = measurement(BUSY, counted={})
    assert CHECK.wait_verdict(current.sample.cpu, None) == (False, NO_WAIT)
    assert CHECK.details(current) == [f"vCPU wait not reported: {NO_WAIT}"]


@pytest.mark.parametrize(("uri", "local"), [
    ("qemu:///system", True), ("qemu:///session", True), ("test:///default", True),
    ("qemu+unix:///system?socket=/run/x.sock", True), ("qemu+ssh://hv1/system", False),
    ("qemu://hv1/system", False), ("qemu+tcp://localhost/system", False),
    ("qemu+ext:///system?command=/bin/x", False), ("", False), (None, False),
])
def test_a_local_uri_has_no_host_and_a_local_transport(uri, local):
    assert is_local_uri(uri) is local


# -- a crossed threshold is visibly crossed -------------------------------------------------

def test_the_status_line_shows_the_digits_that_cross_the_threshold():
    outcome = verdict({"": {"time": 1e9}, "vcpu0": {"time": 0.00004e9}}, ["vcpu_usage=~:0"])
    assert outcome.state == Warn
    assert outcome.text == "vm1: vcpu0 usage 0.004% (> 0)"
    assert "vcpu0_usage: vcpu0 usage 0.004% (warning: > 0)" in outcome.details


@pytest.mark.parametrize(("rate", "threshold", "shown"), [
    (0.9004e9, "90", "90.04% (> 90)"), (0.8996e9, "90:", "89.96% (< 90)"),
    (0.9e9, "~:89.99", "90.00% (> 89.99)"), (0.99e9, "~:0.5", "99.0% (> 0.5)"),
])
def test_only_as_many_digits_as_the_comparison_needs(rate, threshold, shown):
    outcome = verdict({"": {"time": 1e9}, "vcpu0": {"time": rate}}, [f"vcpu0_usage={threshold}"])
    assert outcome.text == f"vm1: vcpu0 usage {shown}"


def test_a_reading_without_a_phrase_keeps_its_text():
    assert Reading(VCPU_USAGE.spec, 0.004, "as it is").text_against(
        Thresholds(SPECS, ["0"]).ranges_for(USAGE.spec, "cpu_usage")[0]) == "as it is"


def test_wait_and_steal_specs_are_the_domain_wide_ones():
    assert (WAIT.spec.metric, STEAL.spec.metric) == ("cpu_wait", "cpu_steal")
