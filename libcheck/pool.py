"""check_vm_pool: the storage pools of a hypervisor, how full and in what state.

Per pool: capacity, allocation, available, and usage in % of capacity, with
thresholds per pool by label (`-c vmimages_usage=95`) or for every pool
(`-w usage=80`, `-w 80`); the pool's state (inactive, building, degraded,
inaccessible) makes a state of its own; with --volumes, the sum of its
volumes' capacities against the pool's capacity (thin provisioning).

libvirt's pool sizes are those of its last refresh of the pool (its start,
libvirtd's start, a volume created or deleted), and a read-only connection
cannot refresh it: a guest filling its disk images never moves them.  So a
local pool of a file system (`dir`, `fs`, `netfs`) is measured at its
target path (statvfs), where a run on the hypervisor itself can see it; the
long output says which source every pool's numbers come from.  Pools are
not in the host snapshot: every run reads them, one connection a run.
"""

from __future__ import annotations

import argparse
import os
from urllib.parse import urlsplit

from libcheck.cli import add_state_option
from libcheck.evaluation import Reading
from libcheck.hostcheckbase import HostCheck, HostSource, Problem
from libcheck.metrics import (
    Declarations,
    Field,
    Inputs,
    Metric,
    RatioOf,
    Reported,
    Wording,
    readings_of,
)
from libcheck.policy import STATE_NAMES
from libcheck.records import NamedTuple
from libcheck.samples import PoolSample
from libcheck.thresholds import POOL_KIND, LabelSpec, Target, device_label
from libcheck.units import decimal, human_bytes, ratio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional

# virStoragePoolState, and the option that sets the state each makes.
_POOL_STATES = {0: "inactive", 1: "building", 2: "running", 3: "degraded", 4: "inaccessible"}
_RUNNING = 2
# Pool types whose target path is a mounted file system statvfs can measure.
_FILE_SYSTEM_TYPES = frozenset({"dir", "fs", "netfs"})
LIBVIRT_SOURCE = "libvirt (as of its last refresh of the pool)"


class PoolSpace(NamedTuple):
    """One pool's numbers of this run, in bytes, and where they come from."""

    name: str
    capacity: int
    allocation: int
    available: int
    used: int
    volumes_capacity: Optional[int]
    source: str


class Observed(NamedTuple):
    """One run's pools (the selected ones), their numbers, and the names
    asked for by --pool that no pool has."""

    pools: tuple[PoolSample, ...]
    spaces: tuple[PoolSpace, ...]
    missing: tuple[str, ...]
    notes: tuple[str, ...]


class PoolOptions(NamedTuple):
    """check_vm_pool's own options."""

    pool: list[str]
    exclude_pool: list[str]
    volumes: bool
    space_from: str
    state_if_inactive: str
    state_if_building: str
    state_if_degraded: str
    state_if_inaccessible: str
    state_if_missing: str


declare = Declarations()


def _per_pool(metric: str, uom: str, meaning: str, value, wording: Wording,
              headline: bool = False, maximum=None) -> Metric:
    return declare(Metric(LabelSpec(metric, uom, meaning, POOL_KIND, headline=headline),
                          value, wording, maximum))


USAGE = _per_pool("usage", "%", "space used, in % of the capacity (100: nothing left to write)",
                  Reported(Field("usage", "usage")),
                  Wording("{device} ", "% used"), headline=True, maximum=100)
CAPACITY = _per_pool("capacity", "B", "the pool's size", Reported(Field("capacity", "capacity")),
                     Wording("{device} capacity ", "", human_bytes))
ALLOCATION = _per_pool("allocation", "B", "space allocated (used)",
                       Reported(Field("allocation", "allocation")),
                       Wording("{device} allocation ", "", human_bytes))
AVAILABLE = _per_pool("available", "B", "space still available to write",
                      Reported(Field("available", "available space")),
                      Wording("{device} available ", "", human_bytes))
VOLUMES_CAPACITY = _per_pool("volumes_capacity", "B",
                             "sum of the volumes' capacities (with --volumes)",
                             Reported(Field("volumes_capacity", "volume capacities")),
                             Wording("{device} volumes ", "", human_bytes))
OVERCOMMIT = _per_pool("overcommit", "",
                       "sum of the volumes' capacities per pool capacity (with --volumes)",
                       RatioOf(Field("volumes_capacity", "volume capacities"),
                               Field("capacity", "capacity")),
                       Wording("{device} provisioned ", "x", ratio))

_POLICY_OPTIONS = (
    ("inactive", "a pool is defined but not started", "critical"),
    ("building", "a pool is being built", "warning"),
    ("degraded", "a pool is degraded (one of its devices failed)", "critical"),
    ("inaccessible", "a pool is running but cannot be reached", "critical"),
    ("missing", "a pool named by --pool does not exist", "critical"),
)


class PoolCheck(HostCheck):
    """check_vm_pool: every storage pool's space and state."""

    name = "pool"
    description = ("Check the storage pools of a KVM/QEMU hypervisor through libvirt: "
                   "space used per pool, the pool's state, and with --volumes the "
                   "volumes' capacities against the pool's (thin provisioning).")
    metrics = declare.all()
    Options = PoolOptions
    label_aliases = {metric.spec.metric: metric.spec.generic_label for metric in metrics}

    def __init__(self, statvfs: Callable[[str], os.statvfs_result] = os.statvfs) -> None:
        self._statvfs = statvfs

    def add_options(self, parser: argparse.ArgumentParser) -> None:
        parser.add_argument("--pool", metavar="NAME", action="append", default=[],
                            help="check this pool (repeatable; default: every pool)")
        parser.add_argument("--exclude-pool", metavar="NAME", action="append", default=[],
                            help="leave this pool out (repeatable)")
        parser.add_argument("--volumes", action="store_true",
                            help="also sum each pool's volume capacities against its own "
                                 "(one more call per volume)")
        parser.add_argument("--space-from", choices=("auto", "libvirt"), default="auto",
                            help="auto: measure a local dir/fs/netfs pool at its target "
                                 "path (statvfs), libvirt's cached numbers for the others; "
                                 "libvirt: libvirt's numbers always (default: auto)")
        for case, when, default in _POLICY_OPTIONS:
            add_state_option(parser, f"--state-if-{case}", when, default)

    def observe(self, source: HostSource, options: PoolOptions) -> Observed:
        every = source.inspector().pools(options.volumes)
        names = {pool.name for pool in every}
        chosen = tuple(pool for pool in every
                       if (not options.pool or pool.name in options.pool)
                       and pool.name not in options.exclude_pool)
        measure_locally = options.space_from == "auto" and is_local(source.uri)
        spaces, notes = [], []
        for pool in chosen:
            if pool.state == _RUNNING:
                space, note = self._space(pool, measure_locally)
                spaces.append(space)
                notes.extend([note] if note else [])
        missing = tuple(name for name in options.pool if name not in names)
        return Observed(chosen, tuple(spaces), missing, tuple(notes))

    def _space(self, pool: PoolSample, measure_locally: bool) -> tuple[PoolSpace, Optional[str]]:
        """The pool's numbers: its file system's where it can be measured here."""
        if not (measure_locally and pool.pool_type in _FILE_SYSTEM_TYPES and pool.target):
            return libvirt_space(pool), None
        try:
            return file_system_space(pool, self._statvfs(pool.target)), None
        except OSError as error:
            return libvirt_space(pool), (
                f"{pool.name}: cannot measure {pool.target} ({error.strerror or error}): "
                f"numbers from {LIBVIRT_SOURCE}")

    def devices(self, observed: Observed) -> dict[str, list[str]]:
        return {POOL_KIND: [pool.name for pool in observed.pools]}

    def readings(self, observed: Observed, options: PoolOptions) -> list[Reading]:
        readings = []
        for space in observed.spaces:
            readings += readings_of(self.metrics, Inputs(_figures(space), {}), space.name)
        return readings

    def problems(self, observed: Observed, options: PoolOptions) -> list[Problem]:
        found = [Problem(STATE_NAMES[options.state_if_missing],
                         f"{name}: no such storage pool") for name in observed.missing]
        for pool in observed.pools:
            words = _POOL_STATES.get(pool.state)
            if words is None:
                found.append(Problem(STATE_NAMES["unknown"],
                                     f"{pool.name}: in unknown state {pool.state}"))
            elif pool.state != _RUNNING:
                found.append(Problem(STATE_NAMES[getattr(options, f"state_if_{words}")],
                                     f"{pool.name}: {words}"))
        return found

    def ok_text(self, observed: Observed, readings: list[Reading]) -> str:
        if not observed.pools:
            return "no storage pool" + (" selected" if observed.missing else "")
        return ", ".join(_pool_text(space) for space in observed.spaces) or \
            "no storage pool is running"

    def notes(self, observed: Observed, options: PoolOptions) -> list[str]:
        return list(observed.notes)

    def details(self, observed: Observed, options: PoolOptions) -> list[str]:
        return [f"{space.name}: numbers from {space.source}" for space in observed.spaces]

    def unmeasured_reason(self, observed: Observed, options: PoolOptions,
                          target: Target) -> Optional[str]:
        if target.spec.metric in (VOLUMES_CAPACITY.spec.metric, OVERCOMMIT.spec.metric) \
                and not options.volumes:
            return "volumes are summed only with --volumes"
        pools = {device_label(pool.name): pool for pool in observed.pools}
        pool = pools.get(target.device) if target.device else None
        if pool is not None and pool.state != _RUNNING:
            return f"pool {pool.name} is {_POOL_STATES.get(pool.state, 'in an unknown state')}"
        return None


def is_local(uri: str) -> bool:
    """Whether the URI reaches a hypervisor on this machine, whose pools' paths
    are this machine's (not a remote host, not the test driver's fiction)."""
    parts = urlsplit(uri)
    driver, _, transport = parts.scheme.partition("+")
    return driver not in ("test", "") and not parts.hostname and transport in ("", "unix")


def libvirt_space(pool: PoolSample) -> PoolSpace:
    """The numbers libvirt keeps for the pool."""
    used = max(pool.capacity - pool.available, 0)
    return PoolSpace(pool.name, pool.capacity, pool.allocation, pool.available, used,
                     pool.volumes_capacity, LIBVIRT_SOURCE)


def file_system_space(pool: PoolSample, stats: os.statvfs_result) -> PoolSpace:
    """The numbers of the file system at the pool's target path: available is
    what an unprivileged writer (QEMU runs as one) may still write, so the
    blocks reserved for root count as used, and 100% is a full disk for the
    guests."""
    capacity = stats.f_blocks * stats.f_frsize
    available = stats.f_bavail * stats.f_frsize
    allocation = (stats.f_blocks - stats.f_bfree) * stats.f_frsize
    return PoolSpace(pool.name, capacity, allocation, available, capacity - available,
                     pool.volumes_capacity, f"statvfs of {pool.target}")


class _PoolFigures(NamedTuple):
    capacity: int
    allocation: int
    available: int
    usage: Optional[float]
    volumes_capacity: Optional[int]


def _figures(space: PoolSpace) -> _PoolFigures:
    usage = space.used / space.capacity * 100 if space.capacity else None
    return _PoolFigures(space.capacity, space.allocation, space.available, usage,
                        space.volumes_capacity)


def _pool_text(space: PoolSpace) -> str:
    if not space.capacity:
        return f"{space.name} has no capacity"
    return (f"{space.name} {decimal(space.used / space.capacity * 100)}% of "
            f"{human_bytes(space.capacity)} used")


CHECK = PoolCheck()
