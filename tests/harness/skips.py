"""The one rule for a tier that cannot run on this machine.

A tier that lacks what it needs (root, Debian, /dev/net/tun, a package apt
cannot install, a daemon already running) skips with one line saying why, so
that a developer's laptop still runs the rest; under CI=true it fails with
that line instead, so that CI never passes without the tier.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def unavailable(reason: str) -> NoReturn:
    """Skip with `reason`, or fail with it when running in CI (CI=true)."""
    if os.environ.get("CI") == "true":
        pytest.fail(reason, pytrace=False)
    pytest.skip(reason)
