"""Human-readable numbers, sizes and rates for status lines (perfdata stays in base units).

Each formatter takes the number and, optionally, how many decimals to show;
without it, the formatter's usual precision.  A status line that compares a
value with a threshold asks for more decimals where the usual ones would hide
the difference (`0.004%`, not `0.0%`, against a threshold of 0).
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Optional


KIB = 1024


def exact(number: float) -> str:
    """A number in plain decimal notation that reads back as the same number: an
    integer without `.0`, any other in the fewest digits that do (1e-21 is
    0.000000000000000000001, never 0)."""
    if float(number).is_integer():
        return str(int(number))
    shortest = repr(float(number))
    if "e" not in shortest:
        return shortest
    # Only a number below 1e-4 or from 1e16 has an exponent; decimal costs every
    # run a millisecond to import, so only these pay it.
    from decimal import Decimal

    return format(Decimal(shortest), "f")


def decimal(number: float, decimals: Optional[int] = None) -> str:
    """A number with one decimal, or `decimals`: 12.3."""
    return f"{number:.{1 if decimals is None else decimals}f}"


def ratio(number: float, decimals: Optional[int] = None) -> str:
    """A ratio with two decimals, or `decimals`: 1.25."""
    return f"{number:.{2 if decimals is None else decimals}f}"


def whole(number: float, decimals: Optional[int] = None) -> str:
    """A count: no decimals, or `decimals` (an integer stays exact at any size)."""
    if isinstance(number, int) and not decimals:
        return str(number)
    return f"{number:.{decimals or 0}f}"


def human_bytes(count: float, decimals: Optional[int] = None) -> str:
    """Bytes in binary units with one decimal (3.6 GiB, 512.0 MiB), whole bytes below 1 KiB."""
    for unit, size in (("TiB", KIB**4), ("GiB", KIB**3), ("MiB", KIB**2), ("KiB", KIB)):
        if abs(count) >= size:
            return f"{decimal(count / size, decimals)} {unit}"
    return f"{whole(count, decimals)} B"


def human_bits(rate: float, decimals: Optional[int] = None) -> str:
    """Bits per second in decimal units with one decimal (12.3 Mbit/s), whole below 1 kbit/s."""
    for unit, size in (("Tbit/s", 1e12), ("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if abs(rate) >= size:
            return f"{decimal(rate / size, decimals)} {unit}"
    return f"{whole(rate, decimals)} bit/s"
