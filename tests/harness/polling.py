"""The one bounded poll: ask a condition until it holds or the time is up.

Every wait of the harness and the tiers is a poll of this kind (a daemon's
socket or API, stored points, a guest's balloon, a log line), so each says
only what it waits for and how long it may take.
"""

from __future__ import annotations

import time
from typing import Callable, Optional, TypeVar

T = TypeVar("T")


def poll(condition: Callable[[], T], timeout: float, interval: float = 0.1) -> Optional[T]:
    """The first true value of `condition()`, asked every `interval` seconds for
    `timeout` seconds and once more at the end; None if it never was true."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value or time.monotonic() >= deadline:
            return value or None
        time.sleep(interval)


def wait_for(condition: Callable[[], Optional[T]], timeout: float, what: str,
             log_tail: Callable[[], str] = str, interval: float = 0.5) -> T:
    """The first true value of `condition()`; AssertionError naming `what`, with
    the end of a log (`log_tail()`), when none came within `timeout` seconds."""
    value = poll(condition, timeout, interval)
    if value is None:
        raise AssertionError(f"timed out after {timeout} s waiting for {what}; "
                             f"the log ends:\n{log_tail()}")
    return value
