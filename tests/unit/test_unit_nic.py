"""check_vm_nic's readings, selection and judgement, from hand-made interface samples.

Rates come either straight from a hand-made Measurement or through the real
Measurer with a scripted reader and a fake clock, as the runtime wires it.
"""

from __future__ import annotations

import argparse
from typing import Any, Iterable

import pytest
from harness.fakes import FakeClock, MemorySlot, identity
from nagiosplugin.state import Critical, Ok, Unknown, Warn

from libcheck import cli
from libcheck.errors import UsageError
from libcheck.evaluation import Unmeasured, judge
from libcheck.measure import Measurement, Measurer
from libcheck.metrics import loss_pct
from libcheck.nic import CHECK
from libcheck.rates import BaselinePolicy
from libcheck.samples import DomainSample, NicSample
from libcheck.thresholds import Thresholds
from libcheck.units import human_bits

PAUSE = 1.5
POLICY = BaselinePolicy(shortest_age=PAUSE, settled_age=5.0, max_age=3600.0)
MAC0, MAC1, MAC_USER = "52:54:00:00:00:10", "52:54:00:00:00:11", "52:54:00:00:00:99"


def nic(name: str | None, mac: str | None = None, source: str | None = "br0",
        **counters: int) -> NicSample:
    """An interface; counters not given are 0 (None for one without a name)."""
    if name is not None:
        counters = {field: counters.get(field, 0) for field in (
            "rx_bytes", "rx_packets", "rx_errors", "rx_drops",
            "tx_bytes", "tx_packets", "tx_errors", "tx_drops")}
    return NicSample(name, mac=mac, source=source, **counters)


def domain(nics: Iterable[NicSample], clock: FakeClock | None = None,
           name: str = "web01") -> DomainSample:
    clock = clock or FakeClock()
    return DomainSample(identity(name), clock.wall, clock.mono, nics=tuple(nics))


def measured(nics: Iterable[NicSample], rates: dict[str, dict[str, float]]) -> Measurement:
    return Measurement(domain(nics), rates, 60.0, "since the previous run")


def options(**overrides: Any) -> argparse.Namespace:
    values = {"interface": [], "exclude_interface": [], "speed": None}
    values.update(overrides)
    return argparse.Namespace(**values)


def rates(**values: float) -> dict[str, float]:
    """One interface's per-second rates; counters not given are 0."""
    fields = ("rx_bytes", "rx_packets", "rx_errors", "rx_drops",
              "tx_bytes", "tx_packets", "tx_errors", "tx_drops")
    return {field: float(values.get(field, 0)) for field in fields}


def by_label(readings) -> dict[str, float]:
    return {reading.label: reading.value for reading in readings}


TWO = (nic("vnet0", MAC0, "br0"), nic("vnet1", MAC1, "default"))
TWO_RATES = {"vnet0": rates(rx_bytes=1_000_000, tx_bytes=250_000, rx_packets=1000,
                            tx_packets=500),
             "vnet1": rates(rx_bytes=125_000, tx_bytes=2_000_000, rx_packets=100,
                            tx_packets=2000)}


# -- readings --------------------------------------------------------------------------

def test_bytes_per_second_become_bits_per_second_in_the_guests_directions():
    values = by_label(CHECK.readings(measured(TWO, TWO_RATES), options()))
    assert values["vnet0_rx_bits_per_second"] == 8_000_000
    assert values["vnet0_tx_bits_per_second"] == 2_000_000
    assert values["vnet0_rx_packets_per_second"] == 1000
    assert values["vnet1_tx_bits_per_second"] == 16_000_000


def test_every_label_of_an_interface_and_its_unit():
    readings = CHECK.readings(measured(TWO[:1], {"vnet0": TWO_RATES["vnet0"]}), options())
    units = {reading.label: reading.spec.uom for reading in readings}
    assert units == {
        "vnet0_rx_bits_per_second": "", "vnet0_tx_bits_per_second": "",
        "vnet0_rx_packets_per_second": "", "vnet0_tx_packets_per_second": "",
        "vnet0_rx_errors_per_second": "", "vnet0_tx_errors_per_second": "",
        "vnet0_rx_drops_per_second": "", "vnet0_tx_drops_per_second": "",
        "vnet0_rx_errors_pct": "%", "vnet0_tx_errors_pct": "%",
        "vnet0_rx_drops_pct": "%", "vnet0_tx_drops_pct": "%",
        "vnet0_rx_bytes": "c", "vnet0_tx_bytes": "c",
        "total_rx_bits_per_second": "", "total_tx_bits_per_second": ""}


def test_cumulative_bytes_come_from_the_sample_not_the_rates():
    sample = (nic("vnet0", MAC0, rx_bytes=123_456, tx_bytes=789),)
    values = by_label(CHECK.readings(measured(sample, {"vnet0": rates()}), options()))
    assert (values["vnet0_rx_bytes"], values["vnet0_tx_bytes"]) == (123_456, 789)


def test_totals_add_up_every_reported_interface_per_direction():
    values = by_label(CHECK.readings(measured(TWO, TWO_RATES), options()))
    assert values["total_rx_bits_per_second"] == 8_000_000 + 1_000_000
    assert values["total_tx_bits_per_second"] == 2_000_000 + 16_000_000


def test_totals_leave_out_an_excluded_interface():
    values = by_label(CHECK.readings(measured(TWO, TWO_RATES),
                                     options(exclude_interface=["vnet1"])))
    assert values["total_rx_bits_per_second"] == 8_000_000
    assert not any(label.startswith("vnet1_") for label in values)


@pytest.mark.parametrize(("lost", "packets", "share"), [
    (0, 0, 0.0),        # nothing at all: 0, never a division by zero
    (5, 0, 100.0),      # everything lost is 100%, not a calm 0%
    (2, 98, 2.0),
    (0, 1000, 0.0),
])
def test_loss_is_a_share_of_the_offered_packets(lost, packets, share):
    assert loss_pct(lost, packets) == pytest.approx(share)


def test_percentages_with_zero_packets_are_zero_not_an_error():
    values = by_label(CHECK.readings(measured(TWO[:1], {"vnet0": rates()}), options()))
    for label in ("vnet0_rx_errors_pct", "vnet0_rx_drops_pct", "vnet0_tx_errors_pct",
                  "vnet0_tx_drops_pct"):
        assert values[label] == 0.0


def test_drop_and_error_percentages_per_direction():
    busy = {"vnet0": rates(rx_packets=980, rx_drops=20, tx_packets=90, tx_errors=10)}
    readings = CHECK.readings(measured(TWO[:1], busy), options())
    values = by_label(readings)
    assert values["vnet0_rx_drops_pct"] == pytest.approx(2.0)
    assert values["vnet0_tx_errors_pct"] == pytest.approx(10.0)
    assert values["vnet0_rx_errors_pct"] == values["vnet0_tx_drops_pct"] == 0.0
    pct = next(reading for reading in readings if reading.label == "vnet0_rx_drops_pct")
    assert (pct.text, pct.maximum) == ("vnet0 rx drops 2.0%", 100)


def test_speed_gives_usage_per_direction_and_a_maximum_for_the_bits():
    readings = CHECK.readings(measured(TWO[:1], {"vnet0": TWO_RATES["vnet0"]}),
                              options(speed=10_000_000))
    values = by_label(readings)
    assert values["vnet0_rx_usage"] == pytest.approx(80.0)
    assert values["vnet0_tx_usage"] == pytest.approx(20.0)
    bits = next(reading for reading in readings if reading.label == "vnet0_rx_bits_per_second")
    assert bits.maximum == 10_000_000
    usage = next(reading for reading in readings if reading.label == "vnet0_rx_usage")
    assert (usage.spec.uom, usage.maximum, usage.text) == ("%", 100,
                                                           "vnet0 rx 80.0% of 10.0 Mbit/s")


def test_usage_is_capped_at_100_percent():
    values = by_label(CHECK.readings(measured(TWO[:1], {"vnet0": TWO_RATES["vnet0"]}),
                                     options(speed=1_000_000)))
    assert values["vnet0_rx_usage"] == 100.0


def test_without_speed_there_is_no_usage():
    values = by_label(CHECK.readings(measured(TWO, TWO_RATES), options()))
    assert not any(label.endswith("_usage") for label in values)


@pytest.mark.parametrize(("text", "bits"), [("1G", 1e9), ("100M", 1e8), ("2.5G", 2.5e9),
                                            ("10k", 1e4), ("1Gi", 2**30)])
def test_speed_option_takes_unit_suffixes(text, bits):
    parser = cli.build_parser("check_vm_nic", CHECK.description, CHECK.specs,
                              CHECK.add_options)
    assert parser.parse_args(["-d", "x", "--speed", text]).speed == bits


@pytest.mark.parametrize(("text", "message"), [
    ("0", "argument --speed: '0' is not a positive speed"),
    ("fast", "argument --speed: 'fast' is not a number"),
])
def test_a_bad_speed_is_a_usage_error(text, message):
    parser = cli.build_parser("check_vm_nic", CHECK.description, CHECK.specs,
                              CHECK.add_options)
    with pytest.raises(UsageError, match=message):
        parser.parse_args(["-d", "x", "--speed", text])


@pytest.mark.parametrize(("rate", "text"), [(0, "0 bit/s"), (999, "999 bit/s"),
                                            (12_345_678, "12.3 Mbit/s"),
                                            (1e9, "1.0 Gbit/s"), (2.5e12, "2.5 Tbit/s")])
def test_human_bits_uses_decimal_units(rate, text):
    assert human_bits(rate) == text


# -- interfaces without a host-side device ------------------------------------------------

WITH_USER = (nic("vnet0", MAC0), nic(None, MAC_USER, source=None))


def test_an_interface_without_target_has_no_counters_and_no_readings():
    assert set(CHECK.counters(domain(WITH_USER))) == {"vnet0"}
    readings = CHECK.readings(measured(WITH_USER, {"vnet0": rates()}), options())
    assert all(reading.device in ("vnet0", None) for reading in readings)
    assert CHECK.devices(domain(WITH_USER)) == {"nic": ["vnet0"]}


def test_an_interface_without_target_is_listed_in_verbose_as_without_statistics():
    lines = CHECK.details(measured(WITH_USER, {"vnet0": rates()}), options())
    assert lines == [
        f"interface vnet0: mac {MAC0}, source br0",
        f"interface without host-side device: mac {MAC_USER}, source none: "
        "no statistics available"]


def test_a_domain_with_only_user_networking_is_unknown_with_the_reason():
    sample = measured(WITH_USER[1:], {})
    assert CHECK.readings(sample, options()) == []
    condition = CHECK.condition(sample, options())
    assert condition.state == Unknown
    assert condition.text.startswith("no interface has traffic statistics")


def test_naming_an_interface_without_target_by_mac_reports_nothing_of_it():
    sample = measured(WITH_USER, {"vnet0": rates()})
    assert CHECK.readings(sample, options(interface=[MAC_USER])) == []
    assert CHECK.condition(sample, options(interface=[MAC_USER])).state == Unknown


def test_a_domain_without_interfaces_says_so():
    condition = CHECK.condition(measured((), {}), options())
    assert (condition.state, condition.text) == (Unknown,
                                                 "the domain has no network interfaces")


def test_excluding_every_interface_says_so():
    condition = CHECK.condition(measured(TWO, TWO_RATES),
                                options(exclude_interface=["vnet0", MAC1]))
    assert condition.text.startswith("no interface left to report")


def test_a_measurable_domain_has_no_condition():
    assert CHECK.condition(measured(TWO, TWO_RATES), options()) is None


# -- selection -------------------------------------------------------------------------

def selected_names(**chosen) -> list[str]:
    return [item.name for item in CHECK.selected(domain(TWO), options(**chosen))]


def test_every_interface_with_a_device_is_reported_by_default():
    assert selected_names() == ["vnet0", "vnet1"]


def test_an_interface_is_selected_by_mac_alone_in_any_case():
    assert selected_names(interface=[MAC1]) == ["vnet1"]
    assert selected_names(interface=[MAC1.upper()]) == ["vnet1"]


def test_an_interface_is_selected_by_name():
    assert selected_names(interface=["vnet0"]) == ["vnet0"]


def test_exclude_by_name_or_by_mac():
    assert selected_names(exclude_interface=["vnet0"]) == ["vnet1"]
    assert selected_names(exclude_interface=[MAC1.upper()]) == ["vnet0"]


def test_an_unknown_interface_is_a_usage_error_naming_what_exists():
    with pytest.raises(UsageError, match=r"--interface vnet9: this domain has no such "
                                         r"interface \(it has: .*vnet0, vnet1\)"):
        selected_names(interface=["vnet9"])
    with pytest.raises(UsageError, match="--exclude-interface vnet9"):
        selected_names(exclude_interface=["vnet9"])


def test_verbose_marks_interfaces_left_out():
    lines = CHECK.details(measured(TWO, TWO_RATES), options(interface=["vnet1"]))
    assert lines == [f"interface vnet0: mac {MAC0}, source br0 (not reported)",
                     f"interface vnet1: mac {MAC1}, source default"]


# -- judgement and status lines ------------------------------------------------------------

def verdict(measurement: Measurement, opts=None, warnings=(), criticals=()):
    opts = opts or options()
    readings = CHECK.readings(measurement, opts)
    return judge(CHECK.name, measurement.sample.identity.name,
                 CHECK.ok_text(measurement, readings), readings,
                 Thresholds(CHECK.specs, warnings, criticals),
                 CHECK.condition(measurement, opts))


def test_the_ok_line_gives_totals_and_the_busiest_interface():
    outcome = verdict(measured(TWO, TWO_RATES))
    assert outcome.state == Ok
    assert outcome.text == "web01: 2 interfaces: rx 9.0 Mbit/s, tx 18.0 Mbit/s (busiest vnet1)"


def test_a_bare_range_judges_each_interfaces_rx_and_tx_bits():
    outcome = verdict(measured(TWO, TWO_RATES), warnings=["10M"], criticals=["20M"])
    assert outcome.state == Warn
    assert outcome.text == "web01: vnet1 tx 16.0 Mbit/s (> 10000000)"
    # Among equally bad readings the line names the first, in the domain's order.
    outcome = verdict(measured(TWO, TWO_RATES), warnings=["7M"])
    assert outcome.text == "web01: vnet0 rx 8.0 Mbit/s (> 7000000) (+1 more)"


def test_a_bare_range_leaves_totals_and_packets_alone():
    outcome = verdict(measured(TWO, TWO_RATES), criticals=["17M"])
    assert outcome.state == Ok  # the tx total is 18 Mbit/s, and packets are not bits


def test_the_worst_interface_names_the_status_line():
    lossy = dict(TWO_RATES, vnet1=rates(rx_packets=979, rx_drops=21))
    outcome = verdict(measured(TWO, lossy), warnings=["nic_rx_drops_pct=1"],
                      criticals=["nic_rx_drops_pct=5"])
    assert (outcome.state, outcome.text) == (Warn, "web01: vnet1 rx drops 2.1% (> 1)")


def test_the_interfaces_own_label_beats_the_generic_one():
    outcome = verdict(measured(TWO, TWO_RATES),
                      warnings=["nic_tx_bits_per_second=1M", "vnet1_tx_bits_per_second=20M"])
    assert outcome.text == "web01: vnet0 tx 2.0 Mbit/s (> 1000000)"
    perfdata = {item.split("=")[0]: item for item in outcome.perfdata}
    assert perfdata["vnet1_tx_bits_per_second"].startswith(
        "vnet1_tx_bits_per_second=16000000;20000000;")
    assert perfdata["vnet0_tx_bits_per_second"].startswith(
        "vnet0_tx_bits_per_second=2000000;1000000;")


def test_usage_thresholds_need_speed_and_then_judge():
    outcome = verdict(measured(TWO, TWO_RATES), options(speed=20_000_000),
                      criticals=["nic_tx_usage=75"])
    assert (outcome.state, outcome.text) == (Critical,
                                             "web01: vnet1 tx 80.0% of 20.0 Mbit/s (> 75)")


def test_only_user_networking_gives_an_unknown_line_not_no_check_results():
    outcome = verdict(measured(WITH_USER[1:], {}))
    assert (outcome.state, outcome.text) == (
        Unknown, "web01: no interface has traffic statistics (one without a host-side "
                 "device, such as user-mode networking, has none)")


# -- counters across runs: resets and hot-plug, through the real Measurer ----------------------

class NicReader:
    """A `read` callable: each call samples the clock with the next scripted interfaces."""

    def __init__(self, clock: FakeClock, script: list[tuple[NicSample, ...]]) -> None:
        self._clock = clock
        self._script = list(script)
        self.reads = 0

    def __call__(self, not_before=None) -> DomainSample:
        nics = self._script[self.reads]
        self.reads += 1
        return domain(nics, self._clock)


def measure(clock: FakeClock, slot: MemorySlot, *script: tuple[NicSample, ...]):
    reader = NicReader(clock, list(script))
    return Measurer(reader, CHECK.counters, POLICY, PAUSE, sleep=clock.sleep).measure(slot)


def traffic(name: str, rx_bytes: int, tx_bytes: int = 0) -> NicSample:
    return nic(name, rx_bytes=rx_bytes, tx_bytes=tx_bytes, rx_packets=rx_bytes // 1000)


def test_a_reset_on_one_nic_measures_it_within_the_run_and_the_other_against_the_baseline(
        clock):
    slot = MemorySlot()
    measure(clock, slot, (traffic("vnet0", 0), traffic("vnet1", 0)),
            (traffic("vnet0", 1_500_000), traffic("vnet1", 1_500_000)))
    clock.advance(60)
    clock.sleeps.clear()
    # vnet0's counters restarted (its tap was re-created); vnet1's kept growing.
    measurement = measure(clock, slot,
                          (traffic("vnet0", 100_000), traffic("vnet1", 61_500_000)),
                          (traffic("vnet0", 1_600_000), traffic("vnet1", 63_000_000)))
    assert clock.sleeps == [PAUSE]
    assert measurement.rate("vnet0", "rx_bytes") == pytest.approx(1_500_000 / PAUSE)
    # vnet1 against the first run's first sample, 60 + 1.5 + 1.5 s before the last one.
    assert measurement.rate("vnet1", "rx_bytes") == pytest.approx(63_000_000 / 63.0)
    values = by_label(CHECK.readings(measurement, options()))
    assert values["vnet0_rx_bits_per_second"] == pytest.approx(8_000_000)
    assert values["vnet1_rx_bits_per_second"] == pytest.approx(8_000_000)


def test_a_hot_plugged_nic_is_measured_within_the_run(clock):
    slot = MemorySlot()
    measure(clock, slot, (traffic("vnet0", 0),), (traffic("vnet0", 1_500_000),))
    clock.advance(60)
    measurement = measure(clock, slot, (traffic("vnet0", 61_500_000), traffic("vnet1", 0)),
                          (traffic("vnet0", 63_000_000), traffic("vnet1", 3_000_000)))
    assert measurement.rate("vnet1", "rx_bytes") == pytest.approx(2_000_000)
    assert measurement.rate("vnet0", "rx_bytes") == pytest.approx(1_000_000)


def test_an_unplugged_nic_leaves_the_stored_state(clock):
    slot = MemorySlot()
    measure(clock, slot, (traffic("vnet0", 0), traffic("vnet1", 0)),
            (traffic("vnet0", 1_500_000), traffic("vnet1", 1_500_000)))
    clock.advance(60)
    measurement = measure(clock, slot, (traffic("vnet0", 61_500_000),))
    assert set(measurement.rates) == {"vnet0"}
    assert all(set(snapshot.counters) == {"vnet0"} for snapshot in slot.load())


def test_a_nic_without_target_never_enters_the_state(clock):
    slot = MemorySlot()
    measure(clock, slot, (traffic("vnet0", 0), nic(None, MAC_USER)),
            (traffic("vnet0", 1_500_000), nic(None, MAC_USER)))
    assert all(set(snapshot.counters) == {"vnet0"} for snapshot in slot.load())


# -- why a label has no value, and how a crossed one reads -------------------------------------

def judged(measurement: Measurement, opts=None, warnings=(), criticals=(), state=Unknown):
    opts = opts or options()
    readings = CHECK.readings(measurement, opts)
    reasons = Unmeasured(lambda target: CHECK.unmeasured_reason(measurement, opts, target),
                         state)
    return judge(CHECK.name, measurement.sample.identity.name,
                 CHECK.ok_text(measurement, readings), readings,
                 Thresholds(CHECK.specs, warnings, criticals),
                 CHECK.condition(measurement, opts), reasons)


def unmeasured(measurement: Measurement, label: str, opts=None) -> str:
    outcome = judged(measurement, opts, criticals=[f"{label}=1"])
    assert outcome.state == Unknown, outcome
    prefix = f"web01: threshold -c {label} judges nothing: "
    assert outcome.text.startswith(prefix), outcome.text
    return outcome.text[len(prefix):]


def test_usage_without_a_link_speed_is_unknown_and_says_how_to_give_one():
    assert unmeasured(measured(TWO, TWO_RATES), "nic_tx_usage") == (
        "interface vnet0 has no link speed to take tx usage of: give --speed (e.g. --speed 1G) "
        "or a <bandwidth> limit in the domain XML; interface vnet1 has no link speed to take "
        "tx usage of: give --speed (e.g. --speed 1G) or a <bandwidth> limit in the domain XML")
    limited = (TWO[0]._replace(tx_limit_bps=10_000_000), TWO[1])
    assert unmeasured(measured(limited, TWO_RATES), "vnet1_tx_usage").startswith(
        "interface vnet1 has no link speed")
    assert judged(measured(limited, TWO_RATES), criticals=["nic_tx_usage=90"]).notes == ()


def test_an_interface_left_out_is_the_reason():
    assert unmeasured(measured(TWO, TWO_RATES), "vnet1_rx_bits_per_second",
                      options(interface=["vnet0"])) == (
        "interface vnet1 is not among the interfaces --interface names (vnet0)")
    assert unmeasured(measured(TWO, TWO_RATES), "vnet0_rx_drops_pct",
                      options(exclude_interface=[MAC0.upper()])) == (
        "--exclude-interface leaves interface vnet0 out")


def test_a_counter_the_driver_lacks_or_a_reset_is_the_reason():
    no_drops = (TWO[0]._replace(rx_drops=None), TWO[1])
    without = {name: {counter: rate for counter, rate in values.items()
                      if (name, counter) != ("vnet0", "rx_drops")}
               for name, values in TWO_RATES.items()}
    assert unmeasured(measured(no_drops, without), "vnet0_rx_drops_pct") == (
        "this driver reports no rx drops for interface vnet0")
    reset = {"vnet1": TWO_RATES["vnet1"]}
    assert unmeasured(measured(TWO, reset), "vnet0_rx_packets_per_second") == (
        "the counters of interface vnet0 went back during the run (it was reset); the next "
        "run measures again")


def test_accepted_thresholds_that_judge_nothing_are_notes():
    outcome = judged(measured(TWO, TWO_RATES), criticals=["nic_rx_usage=90"], state=Ok)
    assert outcome.state == Ok
    assert outcome.notes[0].endswith("(accepted: --state-if-unmeasured-threshold ok)")


def test_a_crossed_percentage_shows_the_digits_that_cross():
    lossy = dict(TWO_RATES, vnet1=rates(rx_packets=99_999, rx_drops=1))
    outcome = judged(measured(TWO, lossy), warnings=["vnet1_rx_drops_pct=0"])
    assert (outcome.state, outcome.text) == (Warn, "web01: vnet1 rx drops 0.001% (> 0)")
