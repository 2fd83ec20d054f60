"""libvirt calls per refresh window: every check of every domain, counted.

    python bench/snapshot/window.py RECORD.json URI STATE_DIR CHECKS DOMAIN...

One process runs every check (CHECKS, comma-separated) of every DOMAIN in
this process, with libvirt-python wrapped as apitrace.py wraps it and
libcheck's XML parse counted:

1. preparation, untraced: one check run makes the snapshot (its first
   refresh reads every domain's XML: they are all new; it leaves the device
   list for the next refresh), then every check of every domain stores its
   baseline on the direct path (--snapshot-max-age 0, one shared connection,
   a 1 ms --sample-interval: a first run samples twice, and through the
   snapshot every first run would refresh it);
2. the window, after a pause longer than --sample-interval: every run again,
   with the default --snapshot-max-age (15 s).  The first run finds the
   snapshot older than its own baseline and refreshes it; the others hit.

RECORD.json gets the window's calls by kind, the snapshot generations before
and after it, how long it took, the exit statuses of its runs and, when
libvirt logs to a file, the log's size where the window began.  Running the
checks in one process keeps a window of 4 x 500 runs well within 15 s; the
calls counted are the same a process per run makes (a hit makes none).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path

import apitrace

SAMPLE_INTERVAL = "0.05"
PAUSE = 0.2
BULK = ("c.getAllDomainStats(",)
# The host summary's one listing of the domains that start with the host.
LISTINGS = ("c.listAllDomains(",)
LOOKUPS = ("c.lookupByName(", "c.lookupByUUIDString(", "c.lookupByID(")
PARSES: list[str] = []


def count_parses() -> None:
    """Count libcheck's parses of domain XML (the inspector's one entry to lxml)."""
    from libcheck import inspector

    original = inspector._parsed

    def parsed(xml: str):
        PARSES.append("parse")
        return original(xml)

    inspector._parsed = parsed


def generation(state_dir: Path) -> int:
    """The newest snapshot generation in the state directory (0: none)."""
    numbers = [json.loads(path.read_text())["generation"]
               for path in state_dir.glob("hostsnap-*/current")]
    return max(numbers, default=0)


def run_all(uri: str, state_dir: Path, checks: list[str], domains: list[str],
            extra: tuple[str, ...] = ("--sample-interval", SAMPLE_INTERVAL)) -> Counter:
    """Every check of every domain, in this process; their exit statuses."""
    statuses: Counter = Counter()
    for domain in domains:
        for check in checks:
            options = ["--connect", uri, "-d", domain, "--state-dir", str(state_dir), *extra]
            if check == "mem" and uri.startswith("test:"):
                options += ["--balloon-max-age", "0"]
            with contextlib.redirect_stdout(io.StringIO()):
                statuses[apitrace.run_check(check, options)] += 1
    return statuses


@contextlib.contextmanager
def shared_connection():
    """libvirt.openReadOnly hands out one connection per URI, never closed."""
    import libvirt

    opened: dict = {}
    real_open, real_close = libvirt.openReadOnly, libvirt.virConnect.close

    def open_shared(uri):
        if uri not in opened:
            opened[uri] = real_open(uri)
        return opened[uri]

    libvirt.openReadOnly, libvirt.virConnect.close = open_shared, lambda _self: 0
    try:
        yield
    finally:
        libvirt.openReadOnly, libvirt.virConnect.close = real_open, real_close
        for connection in opened.values():
            real_close(connection)


def prepare(uri: str, state_dir: Path, checks: list[str], domains: list[str]) -> None:
    """The snapshot with its device list, then every check's baseline."""
    run_all(uri, state_dir, checks[:1], domains[:1],
            ("--sample-interval", SAMPLE_INTERVAL, "--snapshot-max-age", "0.001"))
    time.sleep(PAUSE)
    with shared_connection():
        run_all(uri, state_dir, checks, domains,
                ("--sample-interval", "0.001", "--snapshot-max-age", "0"))


def log_size() -> int:
    """How far libvirt's debug log file (LIBVIRT_LOG_OUTPUTS "1:file:PATH") has grown."""
    output = os.environ.get("LIBVIRT_LOG_OUTPUTS", "")
    path = output.split(":file:", 1)[1] if ":file:" in output else ""
    return os.path.getsize(path) if path and os.path.exists(path) else 0


def kind_of(code: str) -> str:
    """The kind of one traced call: connection, bulk, listing, XML, lookup, per domain."""
    if code.startswith(("libvirt.openReadOnly(", "libvirt.open(")):
        return "connections"
    if code.startswith(BULK):
        return "bulk"
    if code.startswith(LISTINGS):
        return "listings"
    if code.startswith("d.XMLDesc("):
        return "xml"
    if code.startswith(LOOKUPS):
        return "lookups"
    if code.startswith("d.") or code.startswith("c.domainListGetStats("):
        return "per_domain"
    return "other"


def main() -> None:
    """Prepare, pause, run the window and write its record."""
    record, uri, state_dir = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    checks, domains = sys.argv[4].split(","), sys.argv[5:]
    prepare(uri, state_dir, checks, domains)
    time.sleep(PAUSE)
    apitrace.install()
    count_parses()
    log_offset = log_size()
    before, started = generation(state_dir), time.monotonic()
    statuses = run_all(uri, state_dir, checks, domains)
    elapsed, after = time.monotonic() - started, generation(state_dir)
    kinds = Counter(kind_of(code) for code, _raised in apitrace.CALLS)
    methods = Counter(code.split("(", 1)[0] for code, _raised in apitrace.CALLS)
    record.write_text(json.dumps({
        "runs": sum(statuses.values()), "statuses": {str(k): v for k, v in statuses.items()},
        "seconds": elapsed, "generations": [before, after], "kinds": dict(kinds),
        "parses": len(PARSES), "methods": dict(methods), "log_offset": log_offset}))


if __name__ == "__main__":
    main()
