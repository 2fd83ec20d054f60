"""Fixtures of the graphing tier: the databases installed, and each one started privately.

They live in fixtures.py, where the Icinga tier imports them from too.
"""

from harness.graphs.fixtures import (  # noqa: F401
    carbon,
    graph_packages,
    graphite_web,
    icinga_installed,
    influxdb,
)
