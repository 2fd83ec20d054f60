"""Fixtures shared by the unit tier: a fake clock and libvirt's test driver.

The unit tier never touches a real hypervisor; the only libvirt it opens is
the built-in `test:///default` driver, which needs no daemon.
"""

from __future__ import annotations

import os

import libvirt
import pytest
from harness.fakes import FakeClock
from hypothesis import settings

# "unit" (the default): no example database and a fixed seed, so every run
# tries the same examples.  HYPOTHESIS_PROFILE=explore tries many fresh ones.
settings.register_profile("unit", database=None, deadline=None, max_examples=100,
                          derandomize=True)
settings.register_profile("explore", database=None, deadline=None, max_examples=5000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "unit"))


@pytest.fixture
def clock() -> FakeClock:
    """A clock that moves only when the test (or an injected sleep) moves it."""
    return FakeClock()


@pytest.fixture
def test_driver():
    """A read-only connection to libvirt's built-in test driver (a fresh node)."""
    connection = libvirt.openReadOnly("test:///default")
    yield connection
    connection.close()
