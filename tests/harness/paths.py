"""Where the checkout's parts are, for every tier and for bench/."""

from __future__ import annotations

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
CHECKS = REPO / "checks"
ICINGA_CONF = REPO / "icinga2-conf"
NAGIOS_CONF = REPO / "nagios-conf"
GRAPH_TEMPLATES = REPO / "graphs"
NODE_XML = REPO / "tests" / "data" / "node.xml"
NODE_URI = f"test://{NODE_XML}"
DEFAULT_URI = "test:///default"
