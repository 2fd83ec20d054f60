"""The monitoring host's clocks, which time every sample a check takes.

The wall clock is for display and ages that operators set; the boot-time
clock (never stepped, counting time suspended) times intervals, and the
kernel's boot ID names the boot in which that clock compares.
"""

from __future__ import annotations

import time

from libcheck.records import NamedTuple

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id"


def boot_clock() -> float:
    """Seconds on the boot-time clock: never stepped, and counting time suspended."""
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def boot_id(path: str = BOOT_ID_PATH) -> Optional[str]:
    """The kernel's ID of this boot of the host (None when it cannot be read)."""
    try:
        # Read as bytes: decoding ASCII from bytes needs no codec module, a
        # text file opened as ASCII loads one (encodings.ascii) on every run.
        with open(path, "rb") as handle:
            return handle.read(64).decode("ascii").strip() or None
    except (OSError, ValueError):
        return None


class Clocks(NamedTuple):
    """The three readings a sample's time is made of; tests hand in their own."""

    wall: Callable[[], float] = time.time
    boot_time: Callable[[], float] = boot_clock
    boot: Callable[[], Optional[str]] = boot_id


SYSTEM_CLOCKS = Clocks()
