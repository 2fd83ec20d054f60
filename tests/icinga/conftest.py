"""Fixtures of the Icinga tier: icinga2 and nagios4 installed (when missing).

Where they cannot be installed (not root, not Debian, apt failing) the tests
skip with the reason, or fail with it when CI=true, so CI never passes
without the daemons having seen the shipped configuration. The real InfluxDB
that Icinga's InfluxdbWriter writes into is the graphing tier's fixture.
"""

from __future__ import annotations

import pytest
from harness.graphs.fixtures import graph_packages, influxdb  # noqa: F401
from harness.icinga.environment import ensure_installed
from harness.skips import unavailable
from harness.vm.host import TierUnavailable


@pytest.fixture(scope="session")
def daemons_installed() -> None:
    """icinga2 and nagios4 are installed (installed now if they were not)."""
    try:
        ensure_installed()
    except TierUnavailable as exc:
        unavailable(f"icinga tier cannot run: {exc}")
