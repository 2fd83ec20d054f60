"""Fixtures of the web tier: the packages and check-vm installed, the stack running.

Where the machine cannot host the tier (not root, not Debian, apt failing)
the tests skip with the reason, or fail with it when CI=true. The package is
built from this checkout and installed as in the cluster tier (purged at the
end unless it was installed before). The stack lives in a directory of its own
under /tmp that every user may pass through (its daemons run as mysql, nagios,
www-data and _director, and pytest's base directory is root's alone); it is
stopped by PID at the end of the module whatever happens, and its directory
removed.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest
from harness.cluster.cluster import AGENT_A, AGENT_B
from harness.cluster.testnodes import TestNode
from harness.package import debpackage
from harness.skips import unavailable
from harness.vm.host import POLICY_RC_D, TierUnavailable, ensure_packages
from harness.web import packages
from harness.web.stack import WebStack

DOMAINS = {AGENT_A: ["a-web", "a-db"], AGENT_B: ["b-app"]}


@pytest.fixture(scope="module")
def policy_rc_d_before() -> bool:
    """Whether /usr/sbin/policy-rc.d existed before the tier installed anything."""
    return POLICY_RC_D.exists()


@pytest.fixture(scope="module")
def package(policy_rc_d_before) -> Iterator[Path]:
    """The stack's Debian packages and check-vm built from this checkout, installed."""
    began = time.monotonic()
    try:
        packages.check_machine()
        ensure_packages(debpackage.RUNTIME_PACKAGES)
        packages.ensure_installed()
    except TierUnavailable as exc:
        unavailable(f"web tier cannot run: {exc}")
    print(f"web tier: packages checked or installed in {time.monotonic() - began:.1f} s")
    was_installed = debpackage.status() == "installed"
    try:
        deb = debpackage.build()
    except debpackage.BuildFailed as exc:
        pytest.fail(f"make deb failed: {exc}", pytrace=False)
    try:
        debpackage.install(deb)
        yield deb
    finally:
        if not was_installed and debpackage.status() not in ("", "not-installed"):
            debpackage.purge()


@contextlib.contextmanager
def open_directory(prefix: str) -> Iterator[Path]:
    """A directory under /tmp that every user may pass through, removed at the end."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def web_stack(package) -> Iterator[WebStack]:
    """The stack running over two test-driver hypervisors (`web_stack.nodes`)."""
    with open_directory("check-vm-web-") as root:
        hypervisors = root / "hypervisors"
        hypervisors.mkdir(mode=0o755)
        nodes = {agent: TestNode(hypervisors / f"node-{agent}.xml", domains)
                 for agent, domains in DOMAINS.items()}
        stack = WebStack(root / "stack", {agent: node.uri for agent, node in nodes.items()},
                         root / "import")
        stack.nodes = nodes
        try:
            began = time.monotonic()
            stack.start()
            print(f"web tier: stack started in {time.monotonic() - began:.1f} s: "
                  f"{stack.timings}")
            yield stack
        finally:
            stack.stop()
