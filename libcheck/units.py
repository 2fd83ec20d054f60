"""Human-readable sizes and rates for status lines (perfdata stays in base units)."""

KIB = 1024


def human_bytes(count: float) -> str:
    """Bytes in binary units with one decimal: 3.6 GiB, 512.0 MiB."""
    for unit, size in (("TiB", KIB**4), ("GiB", KIB**3), ("MiB", KIB**2), ("KiB", KIB)):
        if abs(count) >= size:
            return f"{count / size:.1f} {unit}"
    return f"{count:.0f} B"


def human_bits(rate: float) -> str:
    """Bits per second in decimal units with one decimal: 12.3 Mbit/s."""
    for unit, size in (("Tbit/s", 1e12), ("Gbit/s", 1e9), ("Mbit/s", 1e6), ("kbit/s", 1e3)):
        if abs(rate) >= size:
            return f"{rate / size:.1f} {unit}"
    return f"{rate:.0f} bit/s"
