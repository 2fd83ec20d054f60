"""Helpers of the hostile-snapshot tests: files of the host snapshot rewritten
as an attacker or an unlucky operator would, and a fake host one of whose
domains is held in a job by another client (a long migration).

The index and parts are rewritten through the paths `snapshotkit` finds, so
these helpers pin only what the store documents (`current`, `g-<n>`, one
file per key with hard links for its other keys).
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import libvirt

from harness.fakes import DOMAIN_XML, NS, FakeClock, FakeConnection, FakeDomain
from harness.snapshotkit import part_path
from libcheck.clocks import Clocks
from libcheck.inspector import Inspector
from libcheck.runtime import Run

NOWAIT = getattr(libvirt, "VIR_CONNECT_GET_ALL_DOMAINS_STATS_NOWAIT", 0)
HOST_BOOT = "0f0e0d0c-0000-4000-8000-0000000000aa"
# The fakes' domain XML with a balloon whose statistics are polled.
POLLED_BALLOON_XML = DOMAIN_XML.replace(
    "  </devices>", "    <memballoon model='virtio'><stats period='2'/></memballoon>\n  </devices>")


# -- files ------------------------------------------------------------------------------------

def rewrite_index(top: Path, **fields: Any) -> None:
    """Rewrite the snapshot's `current` with `fields` changed (json's own
    spelling: a float infinity becomes `Infinity`, a huge int its digits)."""
    document = json.loads((top / "current").read_bytes())
    document.update(fields)
    (top / "current").write_text(json.dumps(document))


def rewrite_index_raw(top: Path, field: str, text: str) -> None:
    """Rewrite the snapshot's `current` with `field` spelled as `text`, for a
    value json.dumps will not write (an integer of thousands of digits)."""
    document = json.loads((top / "current").read_bytes())
    document[field] = "\0"
    (top / "current").write_text(json.dumps(document).replace('"\\u0000"', text))


def rewrite_sample(top: Path, reference: str, edit: Callable[[dict], None]) -> None:
    """Rewrite the current generation's part of `reference` in place (its
    hard links see the change), its sample edited by `edit`."""
    path = part_path(top, reference)
    document = json.loads(path.read_bytes())
    edit(document["sample"])
    with open(path, "r+b") as handle:
        handle.truncate(0)
        handle.write(json.dumps(document).encode())


def generation_names(top: Path) -> list[str]:
    """The generation directories in the snapshot directory, whatever their number."""
    return sorted(path.name for path in top.iterdir() if path.name.startswith("g-"))


# -- a domain held in a job -------------------------------------------------------------------

def qemu_stats(clock: FakeClock) -> dict:
    """What a running QEMU domain answers the bulk call with: every group,
    one disk and one interface, one CPU-second of work per second."""
    return {"state.state": 1, "state.reason": 1, "cpu.time": int(clock.mono * NS),
            "vcpu.current": 2, "vcpu.maximum": 2, "balloon.current": 2097152,
            "balloon.maximum": 4194304, "balloon.rss": 600000, "balloon.unused": 1048576,
            "balloon.available": 2000000, "balloon.usable": 1000000,
            "balloon.last-update": int(clock.wall),
            "block.count": 1, "block.0.name": "vda", "block.0.rd.reqs": int(clock.mono),
            "block.0.rd.bytes": int(clock.mono) * 4096, "block.0.capacity": 2**30,
            "net.count": 1, "net.0.name": "vnet3", "net.0.rx.bytes": int(clock.mono) * 100}


def without_job_numbers(stats: dict) -> dict:
    """The answer of a NOWAIT call while another client holds the domain's job:
    the balloon's memory statistics and the disks' counters are left out."""
    return {key: value for key, value in stats.items()
            if not (key.startswith("balloon.") and key not in ("balloon.current",
                                                                 "balloon.maximum"))
            and not (key.startswith("block.") and key.split(".")[2:3] in (["rd"], ["wr"],
                                                                           ["fl"]))}


class JobHeldConnection(FakeConnection):
    """A connection whose domains answer like QEMU's; the domains named in
    `job_held` answer a NOWAIT call without their job-only numbers, and a
    call that waits with all of them.  Counts host refreshes (the bulk call
    for every domain) and reads of single domains."""

    def __init__(self, clock: FakeClock, domains: list[FakeDomain],
                 job_held: Iterable[str] = ()) -> None:
        super().__init__(domains)
        self._clock = clock
        self.job_held = set(job_held)
        self.refreshes = 0
        self.single_reads = 0

    def _answer(self, domain: FakeDomain, flags: int) -> dict:
        stats = qemu_stats(self._clock)
        if domain.name() in self.job_held and NOWAIT and flags & NOWAIT:
            return without_job_numbers(stats)
        return stats

    def getAllDomainStats(self, stats: int, flags: int = 0) -> list:
        self.refreshes += 1
        return [(domain, self._answer(domain, flags)) for domain in self.domains]

    def domainListGetStats(self, domains: list, stats: int, flags: int = 0) -> list:
        self.single_reads += 1
        return [(domain, self._answer(domain, flags)) for domain in domains]


class JobHeldHost:
    """A fake host of QEMU domains, some held in a job, and a fake clock that
    every part of an in-process check run reads."""

    def __init__(self, clock: FakeClock, state_dir: Path, names: Iterable[str],
                 job_held: Iterable[str] = ()) -> None:
        self.clock = clock
        self.state_dir = state_dir
        domains = [FakeDomain(name, f"00000000-0000-4000-8000-{index:012d}", index + 1)
                   for index, name in enumerate(names)]
        for domain in domains:
            domain.xml = POLLED_BALLOON_XML
        self.connection = JobHeldConnection(clock, domains, job_held)

    @property
    def clocks(self) -> Clocks:
        return Clocks(self.clock.time, self.clock.monotonic, lambda: HOST_BOOT)

    def _inspector(self, uri: str) -> Inspector:
        clocks = self.clocks
        return Inspector(self.connection, uri, clock=clocks.wall, boot_time=clocks.boot_time,
                         boot=clocks.boot)

    def check(self, check: Any, domain: str, *options: str) -> tuple[int, list[str]]:
        """Run a check in this process against the fake host: its exit code and lines."""
        stream = io.StringIO()
        code = Run(check, stream=stream, open_inspector=self._inspector,
                   sleep=self.clock.sleep, clocks=self.clocks)(
            ["--connect", "fake:///system", "-d", domain, "--state-dir", str(self.state_dir),
             *options])
        return code, stream.getvalue().splitlines()


def refreshes_of_a_schedule(host: JobHeldHost, rounds: list[list[tuple[Any, str]]],
                            pause: float, options: Optional[list[str]] = None) -> int:
    """Run each round's (check, domain) pairs, `pause` seconds of the fake
    clock apart; every run must be OK.  The host refreshes it took."""
    for checks in rounds:
        for check, domain in checks:
            code, lines = host.check(check, domain, *(options or []))
            assert code == 0, lines
        host.clock.advance(pause)
    return host.connection.refreshes
