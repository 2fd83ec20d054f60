"""Perfdata wire format: label quoting, plain numbers, trailing fields (libcheck.perfdata)."""

from __future__ import annotations

import math
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nagiosplugin import Range

from libcheck.perfdata import Perfdata, format_value, quote_label
from libcheck.thresholds import device_label, parse_range
from libcheck.units import decimal, exact, human_bits, human_bytes, whole

# -- a tiny perfdata parser, written from the plugin guidelines ------------------

_VALUE = re.compile(r"^(-?\d+(?:\.\d+)?)([^;\d]*)$")


def parse_item(text: str) -> tuple[str, float, str, list[str]]:
    """`'label'=valueUOM;warn;crit;min;max` -> (label, value, uom, other fields)."""
    if text.startswith("'"):
        label, position = [], 1
        while True:
            quote = text.index("'", position)
            label.append(text[position:quote])
            if text[quote + 1:quote + 2] == "'":
                label.append("'")
                position = quote + 2
                continue
            rest = text[quote + 1:]
            break
        label_text = "".join(label)
    else:
        label_text, _, rest = text.partition("=")
        rest = "=" + rest
    assert rest.startswith("="), f"no '=' after the label in {text!r}"
    fields = rest[1:].split(";")
    match = _VALUE.match(fields[0])
    assert match, f"value field {fields[0]!r} is not a plain number with a unit"
    return label_text, float(match.group(1)), match.group(2), fields[1:]


def test_the_test_parser_reads_a_quoted_label_with_a_doubled_quote():
    assert parse_item("'it''s here'=5%;1;2") == ("it's here", 5.0, "%", ["1", "2"])


# -- quote_label ----------------------------------------------------------------

@pytest.mark.parametrize("label", ["cpu_usage", "vda_rd_bytes", "eth0.100-rx", "A.b-C_9"])
def test_labels_of_safe_characters_stay_bare(label):
    assert quote_label(label) == label


@pytest.mark.parametrize(("label", "quoted"), [
    ("my disk", "'my disk'"),
    ("it's", "'it''s'"),
    ("''", "''''''"),
    ("vm:cpu", "'vm:cpu'"),
    ("ünï", "'ünï'"),
    ("a/b", "'a/b'"),
])
def test_other_labels_are_single_quoted_with_inner_quotes_doubled(label, quoted):
    assert quote_label(label) == quoted


@pytest.mark.parametrize(("label", "shown"), [
    ("a=b", "a_b"),
    ("a|b", "a_b"),
    ("a\nb", "a_b"),
    ("a\tb\x7f", "a_b_"),
    ("x y=z", "'x y_z'"),
    ("it's|=", "'it''s__'"),
])
def test_characters_no_parser_survives_become_underscores(label, shown):
    assert quote_label(label) == shown


# -- format_value ---------------------------------------------------------------

@pytest.mark.parametrize(("value", "text"), [
    (5, "5"), (5.0, "5"), (0, "0"), (-0.0, "0"), (-3, "-3"), (0.5, "0.5"),
    (1 / 3, "0.3333"), (2 / 3, "0.6667"), (-2.5, "-2.5"), (123.456789, "123.4568"),
    (0.99999, "1"), (1e-7, "0.0000001"), (-1e-5, "-0.00001"), (1e-12, "0"),
    (1e20, "100000000000000000000"), (2**63 + 0.0, "9223372036854775808"),
    (None, ""),
])
def test_format_value_writes_plain_decimals(value, text):
    assert format_value(value) == text


@given(st.floats(min_value=-1e30, max_value=1e30, allow_nan=False))
def test_format_value_never_uses_exponent_notation(value):
    text = format_value(value)
    assert "e" not in text.lower()
    assert re.fullmatch(r"-?\d+(\.\d+)?", text)


# -- Perfdata -------------------------------------------------------------------

def test_a_full_item_has_every_field():
    item = Perfdata("cpu_usage", 50.0, "%", Range("80"), Range("90"), 0, 100)
    assert str(item) == "cpu_usage=50%;80;90;0;100"


@pytest.mark.parametrize(("item", "text"), [
    (Perfdata("x", 1.5), "x=1.5"),
    (Perfdata("x", 1, "c", None, Range("5")), "x=1c;;5"),
    (Perfdata("x", 1, "", None, None, 0), "x=1;;;0"),
    (Perfdata("x", 1, "B", parse_range("10:"), None, None, 10), "x=1B;10:;;;10"),
    (Perfdata("my disk", 2, "ms", parse_range("@1:2")), "'my disk'=2ms;@1:2"),
])
def test_trailing_empty_fields_are_dropped_inner_ones_kept(item, text):
    assert str(item) == text


_LABELS = st.text(min_size=1, max_size=20)
_VALUES = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False)
_UOMS = st.sampled_from(["", "%", "s", "ms", "us", "B", "KB", "MiB", "c"])
_RANGES = st.sampled_from([None, "90", "10:", "~:5", "10:20", "@10:20", "1.5:2.25"])


@given(label=_LABELS, value=_VALUES, uom=_UOMS, warn=_RANGES, crit=_RANGES,
       minimum=st.none() | st.just(0), maximum=st.none() | st.just(100))
def test_every_formatted_item_parses_back_to_its_label_and_value(
        label, value, uom, warn, crit, minimum, maximum):
    item = Perfdata(label, value, uom, warn and parse_range(warn), crit and parse_range(crit),
                    minimum, maximum)
    text = str(item)
    parsed_label, parsed_value, parsed_uom, rest = parse_item(text)
    assert parsed_label == re.sub(r"[=|\x00-\x1f\x7f]", "_", label)
    assert math.isclose(parsed_value, value, rel_tol=1e-12, abs_tol=5.0001e-5)
    assert parsed_uom == uom
    assert " " not in text or text.startswith("'")
    assert "\n" not in text and "|" not in text
    assert not text.endswith(";")
    assert len(rest) <= 4
    if warn:
        assert parse_range(rest[0]) == parse_range(warn)


# -- status-line numbers: the usual precision, or as many decimals as asked ------------------

@pytest.mark.parametrize(("formatter", "number", "decimals", "text"), [
    (decimal, 12.345, None, "12.3"), (decimal, 0.004, 3, "0.004"), (decimal, 5, 0, "5"),
    (whole, 898017486, None, "898017486"), (whole, 2**63 + 1, None, str(2**63 + 1)),
    (whole, 2.5, 2, "2.50"), (whole, 7.6, None, "8"),
    (human_bytes, 50001, None, "48.8 KiB"), (human_bytes, 50001, 3, "48.829 KiB"),
    (human_bytes, 1023.4, None, "1023 B"), (human_bytes, 1023.4, 1, "1023.4 B"),
    (human_bytes, 3 * 1024**3, None, "3.0 GiB"),
    (human_bits, 1_000_001, 6, "1.000001 Mbit/s"), (human_bits, 999.5, 1, "999.5 bit/s"),
])
def test_status_line_numbers_take_more_decimals_when_asked(formatter, number, decimals, text):
    assert formatter(number, decimals) == text


# -- device names in labels ---------------------------------------------------------------------

@given(st.text(min_size=1), st.text(min_size=1))
def test_two_device_names_never_share_a_label(first, second):
    if first != second:
        assert device_label(first) != device_label(second)


@given(st.text(min_size=1))
def test_a_device_label_holds_nothing_graphite_takes_apart(name):
    assert re.fullmatch(r"[A-Za-z0-9_-]+", device_label(name))


@pytest.mark.parametrize(("name", "label"), [
    ("vda", "vda"), ("tap1a2b-5e", "tap1a2b-5e"), ("eth0.100", "eth0_2e100"),
    ("a_b", "a__b"), ("x::y", "x_3a_3ay"), ("ü", "_c3_bc"), ("total", "_74otal"),
    ("disk", "_64isk"), ("totals", "totals")])
def test_a_device_label_keeps_plain_names_and_spells_the_rest_in_hex(name, label):
    assert device_label(name) == label


# -- thresholds in perfdata read back as the numbers they are --------------------------------------

@pytest.mark.parametrize(("text", "shown"), [
    ("0.000000000000000000001", "0.000000000000000000001"),
    ("~:0.00000000000000000000123", "~:0.00000000000000000000123"),
    ("0.00000000000001234567890123", "0.00000000000001234567890123"),
    ("@0.000000000000000000001:0.000000000000000000002",
     "@0.000000000000000000001:0.000000000000000000002"),
    ("0.1Mi", "104857.6"), ("1.1Ki", "1126.4"), ("90", "90"), ("10:", "10:"),
    ("1.5:2.25", "1.5:2.25"), ("~:5", "~:5"), ("@10:20", "@10:20"),
])
def test_a_threshold_in_perfdata_reads_back_as_the_same_range(text, shown):
    item = str(Perfdata("x", 1, "", parse_range(text)))
    assert item == f"x=1;{shown}"
    assert parse_range(item.split(";")[1]) == parse_range(text)


@given(st.floats(min_value=-1e30, max_value=1e30, allow_nan=False).filter(lambda x: x != 0))
def test_an_exact_number_reads_back_as_itself_in_plain_decimals(number):
    text = exact(number)
    assert float(text) == number
    assert re.fullmatch(r"-?\d+(\.\d+)?", text)
