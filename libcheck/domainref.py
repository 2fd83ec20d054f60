"""How a domain reference is looked up: the one rule for libvirt and the host
snapshot alike.

A reference (`--domain`) may be a UUID, a name or a numeric ID.  Every
reference may be a name; one shaped like a UUID is tried as a UUID first,
and one of digits is tried as an ID after the name: of a domain named "8"
and another whose ID is 8, "8" finds the first.
"""

from __future__ import annotations

import enum
import re

_UUID = r"^[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}$"
# libvirt's domain IDs are C ints: a number of ten digits may not fit.
_MAX_ID_DIGITS = 9


class Lookup(enum.Enum):
    """A kind of lookup of a domain reference."""

    UUID = "uuid"
    NAME = "name"
    ID = "id"


def uuid_digits(uuid: str) -> str:
    """A UUID as it compares: its hex digits in lower case, without dashes
    (libvirt takes it either way)."""
    return uuid.replace("-", "").lower()


def lookup_order(reference: str) -> list[Lookup]:
    """The lookups to try for `reference`, the likeliest first."""
    order = [Lookup.NAME]
    if re.match(_UUID, reference):
        order.insert(0, Lookup.UUID)
    if reference.isascii() and reference.isdigit() and len(reference) <= _MAX_ID_DIGITS:
        order.append(Lookup.ID)
    return order
