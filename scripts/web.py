"""`make web`: what the package gives an Icinga shop, in a browser, on this machine.

Brings up the web tier's stack (tests/harness/web) over two libvirt test-driver
hypervisors: MariaDB, an Icinga 2 master and two agents with the IDO,
carbon-cache and graphite-web, Icinga Web 2 with the Director under Apache,
all on 127.0.0.1. The Director gets the package's basket and imports the VMs;
then the Director's daemon runs the basket's jobs and the feed runs every 2
minutes, as its timer would, until Ctrl-C stops everything by PID. Edit the
node files it names (add, remove or move a <domain>) and watch the hosts follow.

Run as root from the checkout: `make web`.
"""

from __future__ import annotations

import signal
import sys
import time

from harness.package import debpackage
from harness.vm.host import TierUnavailable
from harness.web.tier import director_ready, installed_package

FEED_INTERVAL = 120


def show(flow) -> None:
    stack = flow.stack
    user, password = stack.login
    print(f"\nIcinga Web 2: {stack.base_url}  (login {user} / {password})")
    print(f"graphite-web: {stack.graphite_url}")
    for agent, node in stack.nodes.items():
        print(f"hypervisor {agent}: {node.path}  (domains: {', '.join(node.domains)})")
    print("The Director's jobs and the feed run every 2 minutes. Ctrl-C stops everything.\n",
          flush=True)


def serve(flow) -> None:
    """The Director's daemon and the feed's timer, until interrupted."""
    flow.director.start_daemon()
    try:
        while True:
            time.sleep(FEED_INTERVAL)
            try:
                result = flow.feed.run()
            except AssertionError as exc:  # a node file edited half-way: the next run
                print(exc, file=sys.stderr, flush=True)
                continue
            if result.stderr:
                print(result.stderr, end="", file=sys.stderr, flush=True)
    finally:
        flow.director.stop_daemon()


def main() -> int:
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        with installed_package() as _, director_ready() as flow:
            show(flow)
            serve(flow)
    except KeyboardInterrupt:
        print("\nstopped: every daemon of the stack is down", flush=True)
        return 0
    except (TierUnavailable, debpackage.BuildFailed, RuntimeError) as exc:
        print(f"make web cannot run here: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
