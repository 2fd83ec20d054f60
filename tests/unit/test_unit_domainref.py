"""The lookup rule of a domain reference (libcheck.domainref): the inspector
and the host snapshot both try the kinds in this order."""

from __future__ import annotations

import pytest

from libcheck.domainref import Lookup, lookup_order

UUID = "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"


@pytest.mark.parametrize(("reference", "order"), [
    ("web01", [Lookup.NAME]),
    (UUID, [Lookup.UUID, Lookup.NAME]),
    (UUID.upper(), [Lookup.UUID, Lookup.NAME]),
    (UUID.replace("-", ""), [Lookup.UUID, Lookup.NAME]),
    ("7", [Lookup.NAME, Lookup.ID]),
    ("123456789", [Lookup.NAME, Lookup.ID]),
    ("1234567890", [Lookup.NAME]),  # too large for libvirt's int
    ("١٢", [Lookup.NAME]),  # digits, but not ASCII ones
    ("-1", [Lookup.NAME]),
    (UUID[:-1], [Lookup.NAME]),
    (UUID + "0", [Lookup.NAME]),
    (" " + UUID, [Lookup.NAME]),
    ("", [Lookup.NAME]),
], ids=["name", "uuid", "upper-uuid", "bare-uuid", "id", "nine-digits", "ten-digits",
        "arabic-digits", "negative", "short-uuid", "long-uuid", "spaced-uuid", "empty"])
def test_a_reference_is_tried_as_the_kinds_it_may_be_the_likeliest_first(reference, order):
    assert lookup_order(reference) == order
