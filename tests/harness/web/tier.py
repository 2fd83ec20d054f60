"""The web stack as the web tier and `make web` bring it up: packages, check-vm, hypervisors.

`installed_package()` installs the stack's Debian packages where missing and
check-vm built from this checkout (purged at the end unless it was installed
before). `running_stack()` starts the stack in a directory of its own under
/tmp that every user may pass through (its daemons run as mysql, nagios,
www-data and _director), over two test-driver hypervisors, and stops it by PID
at the end whatever happens. `director_ready()` adds what an operator does:
the feed configured as its unit runs it, the kickstart, the package's basket,
one run of the basket's jobs by the Director's daemon, then one cycle of the
commands they run.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, Optional

from harness.cluster.cluster import AGENT_A, AGENT_B
from harness.cluster.testnodes import TestNode
from harness.package import debpackage
from harness.vm.host import ensure_packages

from . import packages
from .cycle import DirectorFlow
from .feed import Feed
from .stack import WebStack

DOMAINS = {AGENT_A: ["a-web", "a-db"], AGENT_B: ["b-app"]}


@contextlib.contextmanager
def installed_package(say: Callable[[str], None] = print) -> Iterator[Path]:
    """The stack's packages and check-vm from this checkout, installed; raises
    TierUnavailable where the machine cannot, BuildFailed where `make deb` fails."""
    began = time.monotonic()
    packages.check_machine()
    ensure_packages(debpackage.RUNTIME_PACKAGES)
    packages.ensure_installed()
    say(f"web: packages checked or installed in {time.monotonic() - began:.1f} s")
    with debpackage.installed() as deb:
        yield deb


@contextlib.contextmanager
def open_directory(prefix: str) -> Iterator[Path]:
    """A directory under /tmp that every user may pass through, removed at the end."""
    path = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def running_stack(import_dir: Optional[Path] = None,
                  say: Callable[[str], None] = print) -> Iterator[WebStack]:
    """The stack over two test-driver hypervisors (`stack.nodes`); fileshipper reads
    `import_dir` (default: a directory of the stack's own)."""
    with open_directory("check-vm-web-") as root:
        hypervisors = root / "hypervisors"
        hypervisors.mkdir(mode=0o755)
        nodes = {agent: TestNode(hypervisors / f"node-{agent}.xml", domains)
                 for agent, domains in DOMAINS.items()}
        stack = WebStack(root / "stack", {agent: node.uri for agent, node in nodes.items()},
                         import_dir or root / "import")
        stack.nodes = nodes
        try:
            began = time.monotonic()
            stack.start()
            say(f"web: stack started in {time.monotonic() - began:.1f} s: {stack.timings}")
            yield stack
        finally:
            stack.stop()


@contextlib.contextmanager
def director_ready(say: Callable[[str], None] = print) -> Iterator[DirectorFlow]:
    """A running stack whose Director holds the package's basket and has imported,
    synced and deployed the hypervisors' VMs once, by its own daemon's jobs."""
    feed = Feed()
    feed.set_up()
    try:
        with running_stack(feed.output, say) as stack:
            feed.configure([f"{agent} {node.uri}" for agent, node in stack.nodes.items()])
            flow = DirectorFlow(stack, feed)
            flow.kickstart()
            flow.restore_basket()
            feed.run()
            took = flow.run_jobs_by_daemon()
            say(f"web: the Director's daemon ran the basket's jobs and deployed in {took:.1f} s")
            # Within one pass the daemon may deploy before a sync has run: what the
            # next pass would deploy, a cycle of the same commands deploys now.
            flow.cycle()
            yield flow
    finally:
        feed.remove()
