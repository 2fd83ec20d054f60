"""Where the checkout's parts are, for every tier and for bench/."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]
CHECKS = REPO / "checks"
ICINGA_CONF = REPO / "icinga2-conf"
NAGIOS_CONF = REPO / "nagios-conf"
GRAPH_TEMPLATES = REPO / "graphs"
NODE_XML = REPO / "tests" / "data" / "node.xml"
NODE_URI = f"test://{NODE_XML}"
DEFAULT_URI = "test:///default"


def load_script(name: str) -> ModuleType:
    """scripts/<name>.py of the checkout, imported as the module `name`."""
    spec = importlib.util.spec_from_file_location(name, REPO / "scripts" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
