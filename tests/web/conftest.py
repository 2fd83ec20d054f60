"""Fixtures of the web tier: the packages and check-vm installed, the stack running.

Where the machine cannot host the tier (not root, not Debian, apt failing)
the tests skip with the reason, or fail with it when CI=true. The package is
built from this checkout and installed as in the cluster tier (purged at the
end unless it was installed before); the stack (harness.web.tier) runs for
one module and is stopped by PID at its end whatever happens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Iterator

import pytest
from harness.package import debpackage
from harness.skips import unavailable
from harness.vm.host import POLICY_RC_D, TierUnavailable
from harness.web.stack import WebStack
from harness.web.tier import installed_package, running_stack


@pytest.fixture(scope="module")
def policy_rc_d_before() -> bool:
    """Whether /usr/sbin/policy-rc.d existed before the tier installed anything."""
    return POLICY_RC_D.exists()


@pytest.fixture(scope="module")
def package(policy_rc_d_before) -> Iterator[Path]:
    """The stack's Debian packages and check-vm built from this checkout, installed."""
    try:
        with installed_package() as deb:
            yield deb
    except TierUnavailable as exc:
        unavailable(f"web tier cannot run: {exc}")
    except debpackage.BuildFailed as exc:
        pytest.fail(f"make deb failed: {exc}", pytrace=False)


@pytest.fixture(scope="module")
def web_stack(package) -> Iterator[WebStack]:
    """The stack running over two test-driver hypervisors (`web_stack.nodes`)."""
    with running_stack() as stack:
        yield stack
