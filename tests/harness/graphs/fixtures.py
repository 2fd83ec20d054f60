"""The graphing tier's fixtures, shared with the Icinga tier (its conftest imports them).

Where the packages cannot be installed (not root, not Debian, apt failing)
the tests skip with the reason, or fail with it when CI=true.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest

from harness.icinga.environment import ensure_installed as ensure_icinga_installed
from harness.skips import unavailable
from harness.vm.host import TierUnavailable

from .databases import CarbonCache, GraphiteWeb, InfluxDB
from .packages import daemon_pids, ensure_installed


@pytest.fixture(scope="session")
def graph_packages() -> set[int]:
    """graphite-carbon, python3-whisper, graphite-web and influxdb installed; the PIDs of
    Debian's daemons (carbon-cache, influxd, apache2) that ran before the install."""
    before = daemon_pids()
    try:
        ensure_installed()
    except TierUnavailable as exc:
        unavailable(f"graphing tier cannot run: {exc}")
    return before


@pytest.fixture(scope="session")
def icinga_installed() -> None:
    """icinga2 (and nagios4) installed, as the Icinga tier has them."""
    try:
        ensure_icinga_installed()
    except TierUnavailable as exc:
        unavailable(f"graphing tier cannot run: {exc}")


@pytest.fixture(scope="module")
def carbon(graph_packages, tmp_path_factory) -> Iterator[CarbonCache]:
    """A running carbon-cache of the module's own."""
    with CarbonCache(Path(tmp_path_factory.mktemp("carbon"))) as daemon:
        yield daemon


@pytest.fixture(scope="module")
def graphite_web(carbon, tmp_path_factory) -> Iterator[GraphiteWeb]:
    """graphite-web's APIs over the module's carbon-cache."""
    with GraphiteWeb(Path(tmp_path_factory.mktemp("graphite-web")), carbon) as daemon:
        yield daemon


@pytest.fixture(scope="module")
def influxdb(graph_packages, tmp_path_factory) -> Iterator[InfluxDB]:
    """A running influxd of the module's own."""
    with InfluxDB(Path(tmp_path_factory.mktemp("influxdb"))) as daemon:
        yield daemon
