"""Micro-measurement of the state file: read + write of a VM with 8 disks and 8 NICs.

    PYTHONPATH=tests .venv/bin/python -B -m bench.profiling.statefile [RUNS]

Uses libcheck's own StateStore/StateSlot and Snapshot in this process. The
snapshots hold the counters the disk and NIC checks keep (their `counters`
functions, on a sample with 8 disks and 8 NICs), three of them: the most the
baseline policy retains. Timed per iteration, median of N (200):

- cycle: what one check run does with its state: open the directory, take
  the lock, load, save (temporary file, fsync, rename), the prune check;
- load, save: the two halves alone (save includes its fsync);
- save without fsync: os.fsync stubbed out in this process only, to show how
  much of the write is the disk's flush.
"""

from __future__ import annotations

import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Callable, Iterator, NamedTuple

from libcheck.disk import CHECK as DISK
from libcheck.nic import CHECK as NIC
from libcheck.rates import Snapshot
from libcheck.samples import (
    DiskSample,
    DomainIdentity,
    DomainSample,
    DomainState,
    NicSample,
)
from libcheck.state import StateStore, state_key

DEVICES = 8
RETAINED = 3


class Timing(NamedTuple):
    """The median of one operation, in milliseconds."""

    name: str
    median_ms: float


def _big(index: int, base: int) -> int:
    return base * 1_000_003 + index * 7919


def _sample(when: float, step: int) -> DomainSample:
    disks = tuple(DiskSample(
        f"vd{chr(97 + i)}", source=f"/var/lib/libvirt/images/vm-{i}.qcow2", device="disk",
        rd_bytes=_big(i, 9 + step), wr_bytes=_big(i, 8 + step), rd_reqs=_big(i, 7 + step),
        wr_reqs=_big(i, 6 + step), rd_total_ns=_big(i, 5 + step), wr_total_ns=_big(i, 4 + step),
        fl_reqs=_big(i, 3 + step), fl_total_ns=_big(i, 2 + step), errors=0,
        capacity=1 << 37, allocation=1 << 35, physical=1 << 35) for i in range(DEVICES))
    nics = tuple(NicSample(
        f"vnet{i}", mac=f"52:54:00:00:00:{i:02x}", source="br0",
        rx_bytes=_big(i, 9 + step), rx_packets=_big(i, 8 + step), rx_errors=0, rx_drops=1,
        tx_bytes=_big(i, 7 + step), tx_packets=_big(i, 6 + step), tx_errors=0, tx_drops=2)
        for i in range(DEVICES))
    identity = DomainIdentity("vm", "5f0c6f3e-8a52-4d0e-9c1e-3b8f3f6f2a10", 7,
                              DomainState.RUNNING)
    return DomainSample(identity, when, when, disks=disks, nics=nics)


VARIANTS = {
    "disk_io file (8 disks)": (DISK.counters,),
    "nic file (8 NICs)": (NIC.counters,),
    "both in one file (16 devices)": (DISK.counters, NIC.counters),
}


def snapshots(counters_of) -> list[Snapshot]:
    """The retained snapshots of an 8-disk, 8-NIC VM, with the counters of `counters_of`."""
    now = time.time()
    result = []
    for step, age in enumerate((600.0, 300.0, 0.0)[-RETAINED:]):
        sample = _sample(now - age, step)
        counters = {}
        for function in counters_of:
            counters.update(function(sample))
        result.append(Snapshot(sample.wall_time, 7, counters))
    return result


def _median_of(name: str, action: Callable[[], None], runs: int) -> Timing:
    times = []
    for _ in range(runs):
        started = time.perf_counter_ns()
        action()
        times.append((time.perf_counter_ns() - started) / 1e6)
    return Timing(name, statistics.median(times))


@contextlib.contextmanager
def _no_fsync() -> Iterator[None]:
    real = os.fsync
    os.fsync = lambda _fd: None
    try:
        yield
    finally:
        os.fsync = real


class VariantResult(NamedTuple):
    """The timings of one state file layout."""

    variant: str
    size: int
    timings: list[Timing]


def measure(runs: int = 200) -> list[VariantResult]:
    """Time every variant in a fresh temporary directory (on /tmp's filesystem)."""
    results = []
    for variant, counters_of in VARIANTS.items():
        with tempfile.TemporaryDirectory(prefix="check_vm-bench-state-") as where:
            results.append(_measure_variant(variant, snapshots(counters_of), Path(where), runs))
    return results


def _measure_variant(variant: str, data: list[Snapshot], where: Path,
                     runs: int) -> VariantResult:
    store = StateStore(str(where / "state"))
    stem = state_key("qemu:///system", "5f0c6f3e-8a52-4d0e-9c1e-3b8f3f6f2a10", "bench")

    def cycle() -> None:
        with store.slot(stem) as slot:
            slot.load()
            slot.save(data)

    cycle()
    timings = [_median_of("load + save, whole lock cycle", cycle, runs)]
    with store.slot(stem) as slot:
        timings += [_median_of("load alone", slot.load, runs),
                    _median_of("save alone (with fsync)", lambda: slot.save(data), runs)]
        with _no_fsync():
            timings.append(_median_of("save without fsync", lambda: slot.save(data), runs))
        if slot.load() != data:
            raise AssertionError("the state file did not round-trip")
    return VariantResult(variant, (where / "state" / f"{stem}.json").stat().st_size, timings)


def table(results: list[VariantResult]) -> list[str]:
    """The measurement as a table, one line per layout."""
    head = f"{'state file':<32} {'bytes':>6}  " + "  ".join(
        f"{t.name:>20}" for t in results[0].timings) if results else ""
    lines = [head, "-" * len(head)]
    for result in results:
        cells = "  ".join(f"{t.median_ms:>14.3f} ms   " for t in result.timings)
        lines.append(f"{result.variant:<32} {result.size:>6}  {cells}")
    return lines


if __name__ == "__main__":
    import sys

    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 200
    print(f"state file, median of {runs} (ms)")
    print("\n".join(table(measure(runs))))
