"""Nagios ranges, unit suffixes and LABEL=RANGE thresholds (libcheck.thresholds)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nagiosplugin import Range

from libcheck.errors import UsageError
from libcheck.thresholds import (
    LabelSpec,
    Target,
    Thresholds,
    format_range,
    parse_number,
    parse_range,
    violation,
)

INF = float("inf")

HEADLINE = LabelSpec("usage", "%", "the headline", headline=True)
STEAL = LabelSpec("steal", "%", "a domain-wide metric")
DISK_LATENCY = LabelSpec("latency_read", "ms", "read latency of one disk", kind="disk")
NIC_DROPS = LabelSpec("drops", "c", "dropped packets of one NIC", kind="nic")
SPECS = (HEADLINE, STEAL, DISK_LATENCY, NIC_DROPS)


# -- parse_number --------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("10", 10), ("0", 0), ("-5", -5), ("+3", 3), ("2.5", 2.5), (".5", 0.5), ("5.", 5),
    ("1k", 1000), ("1K", 1000), ("1.5M", 1_500_000), ("2G", 2 * 10**9),
    ("1T", 10**12), ("1P", 10**15), ("1.5G", 1_500_000_000),
    ("1Ki", 1024), ("512Mi", 536_870_912), ("1Gi", 1024**3), ("2Ti", 2 * 1024**4),
    ("1Pi", 1024**5), ("0.5Ki", 512),
])
def test_parse_number_applies_decimal_and_binary_suffixes(text, expected):
    assert parse_number(text) == expected


def test_parse_number_gives_integers_for_whole_values():
    assert isinstance(parse_number("1.5k"), int)
    assert isinstance(parse_number("2.5"), float)


@pytest.mark.parametrize("text", [
    "abc", "1x", "", " ", "ki", "1ki", "k", "Ki", "1KI", "1e5", "1e400", "inf", "nan",
    "0x10", "1_000", "1 k", "--1", "1.2.3", "1kk",
])
def test_parse_number_rejects_what_is_not_a_number(text):
    with pytest.raises(UsageError, match="is not a number"):
        parse_number(text)


@pytest.mark.parametrize("text", ["9" * 400, "1" + "0" * 301, "1" + "0" * 300 + "P"])
def test_parse_number_rejects_numbers_too_large_to_use(text):
    with pytest.raises(UsageError, match="too large"):
        parse_number(text)


# -- parse_range ---------------------------------------------------------------

@pytest.mark.parametrize(("text", "invert", "start", "end"), [
    ("10", False, 0, 10),
    ("10:", False, 10, INF),
    ("~:10", False, -INF, 10),
    ("10:20", False, 10, 20),
    ("@10:20", True, 10, 20),
    ("-5:-1", False, -5, -1),
    ("1k:2Ki", False, 1000, 2048),
    ("@1.5M", True, 0, 1_500_000),
    ("~:", False, -INF, INF),
    (" 10:20 ", False, 10, 20),
])
def test_parse_range_reads_every_nagios_form(text, invert, start, end):
    threshold = parse_range(text)
    assert (threshold.invert, threshold.start, threshold.end) == (invert, start, end)


@pytest.mark.parametrize("text", ["10:5", "@", "", ":", "@:", "a:b", "1:2:3", "~", "10:~",
                                  "@@10", "1x:2", "   "])
def test_parse_range_rejects_malformed_ranges(text):
    with pytest.raises(UsageError):
        parse_range(text)


def test_parse_range_names_both_ends_when_start_exceeds_end():
    with pytest.raises(UsageError, match="start 10 is greater than end 5"):
        parse_range("10:5")


def test_parse_range_alerts_outside_and_inverted_inside():
    assert not parse_range("10:20").match(25)
    assert parse_range("10:20").match(15)
    assert parse_range("@10:20").match(25)
    assert not parse_range("@10:20").match(15)


@pytest.mark.parametrize("text", ["0.00001", "10000000P", "~:0.00005", "@0.00001:1"])
def test_parse_range_accepts_tiny_and_huge_numbers(text):
    threshold = parse_range(text)
    assert isinstance(threshold, Range)


# -- format_range and violation ------------------------------------------------

@pytest.mark.parametrize(("text", "shown"), [
    ("10", "10"), ("10:", "10:"), ("~:10", "~:10"), ("10:20", "10:20"),
    ("@10:20", "@10:20"), ("1.5:2.25", "1.5:2.25"), ("1k", "1000"), ("~:", "~:"),
    ("-5:-1", "-5:-1"), ("0.0001", "0.0001"), ("@5", "@5"),
])
def test_format_range_shows_ranges_as_nagios_writes_them(text, shown):
    assert format_range(parse_range(text)) == shown


def test_format_range_of_no_threshold_is_empty():
    assert format_range(None) == ""


@pytest.mark.parametrize("text", ["0:", "@0:"])
def test_format_range_keeps_a_zero_start_with_open_end(text):
    shown = format_range(parse_range(text))
    assert parse_range(shown) == parse_range(text)


@pytest.mark.parametrize(("text", "value", "words"), [
    ("90", 95, "> 90"),
    ("10:", 5, "< 10"),
    ("10:20", 25.5, "> 20"),
    ("~:2.5", 3, "> 2.5"),
    ("@10:20", 15, "inside 10:20"),
    ("0.000000000000000000001", 1, "> 0.000000000000000000001"),
    ("0.1Mi:", 1, "< 104857.6"),
    ("2.01k", 3000, "> 2010"),
    ("1.07G", 2e9, "> 1070000000"),
    ("@~:5", 1, "inside ~:5"),
])
def test_violation_says_which_side_was_crossed(text, value, words):
    assert violation(parse_range(text), value) == words


# -- hypothesis: ranges round-trip ---------------------------------------------

# Finite numbers as a person writes them: integers, or decimals with up to
# four places.
_NUMBERS = st.one_of(
    st.integers(min_value=-10**15, max_value=10**15),
    st.integers(min_value=-10**10, max_value=10**10).map(lambda n: n / 10_000),
)


def _text(number) -> str:
    return str(number)


@given(start=_NUMBERS, end=_NUMBERS, invert=st.booleans())
def test_any_finite_range_round_trips_through_format_range(start, end, invert):
    start, end = min(start, end), max(start, end)
    threshold = parse_range(f"{'@' if invert else ''}{_text(start)}:{_text(end)}")
    assert parse_range(format_range(threshold)) == threshold
    assert (threshold.start, threshold.end, threshold.invert) == (start, end, invert)


@given(start=_NUMBERS, end=_NUMBERS, value=_NUMBERS)
def test_a_parsed_range_matches_exactly_the_values_between_its_ends(start, end, value):
    start, end = min(start, end), max(start, end)
    assert parse_range(f"{_text(start)}:{_text(end)}").match(value) == (start <= value <= end)


@given(number=st.integers(min_value=0, max_value=10**6),
       suffix=st.sampled_from(["", "k", "M", "G", "Ki", "Mi", "Gi"]))
def test_suffixes_multiply_exactly(number, suffix):
    factor = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9,
              "Ki": 2**10, "Mi": 2**20, "Gi": 2**30}[suffix]
    assert parse_number(f"{number}{suffix}") == number * factor


@given(st.text(max_size=12))
def test_parse_number_either_answers_a_finite_number_or_a_usage_error(text):
    try:
        value = parse_number(text)
    except UsageError:
        return
    assert math.isfinite(value)


# -- Thresholds ----------------------------------------------------------------

def test_a_bare_range_applies_only_to_the_headline_metric():
    thresholds = Thresholds(SPECS, ["80"], ["90"])
    assert thresholds.ranges_for(HEADLINE, "usage") == (Range("80"), Range("90"))
    assert thresholds.ranges_for(STEAL, "steal") == (None, None)
    assert thresholds.ranges_for(DISK_LATENCY, "vda_latency_read") == (None, None)


def test_label_equals_range_sets_that_metric_only():
    thresholds = Thresholds(SPECS, ["steal=5"], [])
    assert thresholds.ranges_for(STEAL, "steal") == (Range("5"), None)
    assert thresholds.ranges_for(HEADLINE, "usage") == (None, None)


def test_a_label_threshold_accepts_suffixes_and_inversion():
    thresholds = Thresholds(SPECS, ["nic_drops=@1k:2Ki"], [])
    warning, _critical = thresholds.ranges_for(NIC_DROPS, "eth0_drops")
    assert (warning.invert, warning.start, warning.end) == (True, 1000, 2048)


def test_a_generic_label_applies_to_every_device_of_its_kind():
    thresholds = Thresholds(SPECS, ["disk_latency_read=10"], [])
    assert thresholds.ranges_for(DISK_LATENCY, "vda_latency_read")[0] == Range("10")
    assert thresholds.ranges_for(DISK_LATENCY, "vdb_latency_read")[0] == Range("10")


def test_a_device_label_beats_the_generic_one_and_warning_and_critical_resolve_apart():
    thresholds = Thresholds(SPECS,
                            ["disk_latency_read=10", "vda_latency_read=50"],
                            ["disk_latency_read=100"])
    assert thresholds.ranges_for(DISK_LATENCY, "vda_latency_read") == (Range("50"),
                                                                       Range("100"))
    assert thresholds.ranges_for(DISK_LATENCY, "vdb_latency_read") == (Range("10"),
                                                                       Range("100"))


def test_a_device_label_given_before_the_generic_one_still_wins():
    thresholds = Thresholds(SPECS, [], ["vda_latency_read=50", "disk_latency_read=10"])
    assert thresholds.ranges_for(DISK_LATENCY, "vda_latency_read") == (None, Range("50"))


def test_an_unknown_label_is_a_usage_error_naming_it_and_the_known_ones():
    with pytest.raises(UsageError) as raised:
        Thresholds(SPECS, ["bogus=5"], [])
    message = str(raised.value)
    assert "-w 'bogus=5'" in message
    assert "unknown label 'bogus'" in message
    assert "disk_latency_read" in message and "<disk>_latency_read" in message


def test_an_unknown_critical_label_names_the_critical_option():
    with pytest.raises(UsageError, match="-c 'nope=1': unknown label 'nope'"):
        Thresholds(SPECS, [], ["nope=1"])


@pytest.mark.parametrize("text", ["=5", " usage=5", "us age=5"])
def test_a_missing_or_spaced_label_is_a_usage_error(text):
    with pytest.raises(UsageError, match="label before '=' is missing or has spaces"):
        Thresholds(SPECS, [text], [])


def test_a_malformed_range_after_a_label_says_which_option_and_label():
    with pytest.raises(UsageError, match=r"-c 'steal=10:5': range '10:5'"):
        Thresholds(SPECS, [], ["steal=10:5"])


def test_a_malformed_bare_range_is_a_usage_error():
    with pytest.raises(UsageError, match="-w 'x'"):
        Thresholds(SPECS, ["x"], [])


def test_known_labels_lists_generic_labels_and_device_patterns():
    assert Thresholds(SPECS).known_labels() == [
        "usage", "steal", "disk_latency_read", "nic_drops",
        "<disk>_latency_read", "<nic>_drops"]


def test_check_devices_refuses_a_device_the_domain_lacks():
    thresholds = Thresholds(SPECS, ["vdz_latency_read=5"], [])
    with pytest.raises(UsageError) as raised:
        thresholds.check_devices({"disk": ["vda", "vdb"], "nic": ["eth0"]})
    assert str(raised.value) == ("threshold label 'vdz_latency_read': this domain has no "
                                 "disk 'vdz' (it has: vda, vdb)")


def test_check_devices_says_none_when_the_domain_has_no_device_of_that_kind():
    thresholds = Thresholds(SPECS, [], ["eth9_drops=1"])
    with pytest.raises(UsageError, match=r"no nic 'eth9' \(it has: none\)"):
        thresholds.check_devices({"disk": ["vda"]})


def test_check_devices_accepts_present_devices_generic_labels_and_bare_ranges():
    thresholds = Thresholds(SPECS, ["80", "disk_latency_read=5", "vda_latency_read=9"],
                            ["eth0_drops=3", "steal=4"])
    thresholds.check_devices({"disk": ["vda"], "nic": ["eth0"]})


def test_label_for_and_generic_label_of_device_and_domain_metrics():
    assert DISK_LATENCY.label_for("vda") == "vda_latency_read"
    assert DISK_LATENCY.generic_label == "disk_latency_read"
    assert STEAL.label_for() == "steal" == STEAL.generic_label


# -- thresholds that judge nothing ----------------------------------------------------------

def test_unjudged_names_the_labels_no_reading_carries_in_the_order_given():
    thresholds = Thresholds(SPECS, ["steal=5", "vdb_latency_read=3", "80"],
                            ["nic_drops=1", "steal=9"])
    assert thresholds.unjudged([(HEADLINE, "usage"), (DISK_LATENCY, "vda_latency_read")]) == [
        "steal", "vdb_latency_read", "nic_drops"]


def test_a_generic_label_is_judged_by_a_reading_of_any_device():
    thresholds = Thresholds(SPECS, ["disk_latency_read=5", "vda_latency_read=9"])
    assert thresholds.unjudged([(DISK_LATENCY, "vda_latency_read")]) == []
    assert thresholds.unjudged([(DISK_LATENCY, "vdb_latency_read")]) == ["vda_latency_read"]


def test_a_bare_range_is_judged_by_the_headline_only():
    thresholds = Thresholds(SPECS, ["80"])
    assert thresholds.unjudged([(STEAL, "steal")]) == [None]
    assert thresholds.unjudged([(HEADLINE, "usage")]) == []
    assert Thresholds(SPECS).unjudged([]) == []


def test_targets_say_what_a_label_names_the_longest_metric_first():
    specs = (*SPECS, LabelSpec("read", "ms", "x", kind="disk"))
    thresholds = Thresholds(specs)
    assert thresholds.targets(None) == [Target(HEADLINE)]
    assert thresholds.targets("steal") == [Target(STEAL)]
    assert thresholds.targets("disk_latency_read") == [Target(DISK_LATENCY)]
    assert thresholds.targets("vda_latency_read") == [Target(DISK_LATENCY, "vda"),
                                                      Target(specs[-1], "vda_latency")]


def test_options_for_says_how_the_command_line_set_a_label():
    thresholds = Thresholds(SPECS, ["80", "steal=5", "nic_drops=1"], ["90", "steal=9"])
    assert thresholds.options_for("steal") == "-w/-c steal"
    assert thresholds.options_for("nic_drops") == "-w nic_drops"
    assert thresholds.options_for(None) == "-w/-c 80/90"


def test_a_range_of_negative_numbers_is_a_range():
    assert parse_range("-5:-1") == Range._make((False, -5, -1))
    assert parse_range("@-5:-1") == Range._make((True, -5, -1))
    assert parse_range("-1.5k:") == Range._make((False, -1500, INF))


def test_a_negative_end_alone_names_the_implied_start_of_zero():
    with pytest.raises(UsageError, match=r"^range '-5': start 0 is greater than end -5$"):
        parse_range("-5")
