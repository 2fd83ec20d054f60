"""Where a check's samples come from: the host snapshot, or libvirt directly.

The runtime asks a sampler for its domain and then for samples of it; it
cannot tell which kind it was handed.  `SnapshotSampler` serves a sample
from the host snapshot while that is fresh (`--snapshot-max-age`) and newer
than the check's own baseline, and refreshes the snapshot otherwise; to a
run without a baseline it also offers the domain's part in the previous
generation as an earlier sample.  `DirectSampler` reads libvirt every time
(`--snapshot-max-age 0`) and has no earlier sample.  Neither
imports libvirt: the inspector is opened through the factory handed in, and
only when a read needs it.
"""

from __future__ import annotations

from libcheck.clocks import Clocks
from libcheck.errors import CheckError, DomainNotFound, DomainVanished
from libcheck.hostsnapshot import (
    HostParts,
    HostSnapshotStore,
    SnapshotUnavailable,
    StateDirectoryUnavailable,
)
from libcheck.samples import (
    ALL_GROUPS,
    DomainSample,
    Group,
    HostPart,
    HostRead,
    HostSummary,
    NotBefore,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Optional, Protocol, Union

    from libcheck.hostsnapshot import KnownDevices
    from libcheck.inspector import Inspector
else:
    Protocol = object  # the protocols are documentation at run time, checked by mypy


class DomainReader(Protocol):
    """One domain, found: its UUID, and samples of it.

    `earlier_sample` is a sample of the domain older than the ones `sample`
    gives, with every group of `groups`, where the source keeps one (the
    host snapshot's previous generation): a baseline for a run that has
    none.  None where there is none.
    """

    uuid: str

    def sample(self, groups: frozenset[Group],
               not_before: Optional[NotBefore] = None) -> DomainSample: ...

    def earlier_sample(self, groups: frozenset[Group]) -> Optional[DomainSample]: ...


class Sampler(Protocol):
    """What the runtime is handed: domains of one URI, the hypervisor's summary,
    and notes for the long output."""

    uri: str
    notes: list[str]

    def domain(self, reference: str) -> DomainReader: ...

    def summary(self) -> HostSummary: ...

    def close(self) -> None: ...


def open_sampler(uri: str, state_dir: str, max_age: float, lock_timeout: float,
                 open_inspector: Callable[[str], Inspector], clocks: Clocks) -> Sampler:
    """The host snapshot's sampler for `uri`, or the direct one when `max_age` is 0."""
    if not max_age:
        return DirectSampler(open_inspector(uri))
    store = HostSnapshotStore(state_dir, uri, clocks, lock_timeout=lock_timeout)
    return SnapshotSampler(store, lambda: open_inspector(uri), max_age, clocks)


class DirectSampler:
    """Every sample straight from libvirt, through one inspector."""

    def __init__(self, inspector: Inspector) -> None:
        self._inspector = inspector
        self.uri = inspector.uri
        self.notes: list[str] = []

    def domain(self, reference: str) -> DomainReader:
        return _DirectDomain(self._inspector, reference)

    def summary(self) -> HostSummary:
        return self._inspector.host_summary()

    def close(self) -> None:
        self._inspector.close()


class _DirectDomain:
    """A domain the inspector looked up; `not_before` is moot for a fresh read."""

    def __init__(self, inspector: Inspector, reference: str) -> None:
        self._inspector = inspector
        self._domain = inspector.find(reference)
        self.uuid = self._domain.UUIDString()

    def sample(self, groups: frozenset[Group],
               not_before: Optional[NotBefore] = None) -> DomainSample:
        return self._inspector.sample(self._domain, groups)

    def earlier_sample(self, groups: frozenset[Group]) -> Optional[DomainSample]:
        return None  # libvirt keeps no earlier sample


# A part older than this share of --snapshot-max-age, still fresh, is
# refreshed ahead of need by the run that finds the refresh lock free.
REFRESH_AHEAD = 2 / 3


class SnapshotSampler:
    """Samples from the host snapshot of one URI, refreshed when too old.

    `open_inspector` opens libvirt for a refresh, or for a domain whose part
    the refresh could not complete; `max_age` is --snapshot-max-age.

    A run that finds its part fresh but past two thirds of that age refreshes
    ahead of need if no other run is refreshing (it does not wait for the
    lock), and the others go on serving the part they found: on a busy host
    the snapshot is renewed before it goes stale, and runs need not stop
    together behind a refresh that the load makes slow.
    """

    def __init__(self, store: HostSnapshotStore, open_inspector: Callable[[], Inspector],
                 max_age: float, clocks: Clocks) -> None:
        self._store = store
        self._open_inspector = open_inspector
        self._inspector: Optional[Inspector] = None
        self._max_age = max_age
        self._clocks = clocks
        self._boot_id = clocks.boot()
        self._unavailable = False
        self.uri = store.uri
        self.notes = store.notes

    def domain(self, reference: str) -> DomainReader:
        looked = self._clocks.boot_time()
        part = self._store.find(reference)
        if part is not None and self.usable(part, None):
            ahead = self._refreshed_ahead(reference) if self._due(part) else None
            if ahead is not None:
                return _SnapshotDomain(self, ahead, refreshed=True)
            return _SnapshotDomain(self, part, refreshed=False)
        if part is None:
            # Not there: maybe new since the last refresh.  A refresh that another
            # run made meanwhile serves if it has the domain, or if it began
            # after this look (then the domain is missing indeed).
            part = self._after_refresh(reference, lambda: self._usable_on_disk(
                reference, None) or self._refreshed_since(looked))
        else:
            part = self._after_refresh(reference, lambda: self._usable_on_disk(
                reference, None))
        if part is None:
            raise DomainNotFound.of(reference, self.uri)
        return _SnapshotDomain(self, part, refreshed=True)

    def summary(self) -> HostSummary:
        """The hypervisor's summary while it is fresh, else from a refresh
        (this run's, or one another run made meanwhile)."""
        summary = self._fresh_summary_on_disk()
        if summary is not None:
            return summary
        source = self._refreshed(lambda: self._fresh_summary_on_disk() is not None)
        summary = source.summary() if source is not None else None
        return summary if summary is not None else self._opened().host_summary()

    def _fresh_summary_on_disk(self) -> Optional[HostSummary]:
        summary = self._store.summary()
        if summary is not None and self._fresh(summary.boot_id, summary.boot_time):
            return summary
        return None

    def close(self) -> None:
        if self._inspector is not None:
            self._inspector.close()

    def usable(self, part: HostPart, not_before: Optional[NotBefore],
               any_age: bool = False) -> bool:
        """Whether `part` may serve: of this boot, no older than the maximum
        age (unless `any_age`), and no older than `not_before`.

        Whether it holds every group a check needs is not asked: a part whose
        read could not complete a group (another client held the domain's
        job) is completed by reading that domain alone, since a refresh
        within the same window would most likely find it the same.
        """
        sample = part.sample
        if not self._fresh(sample.boot_id, sample.boot_time, any_age):
            return False
        return (not_before is None or not_before.boot_id != sample.boot_id
                or sample.boot_time >= not_before.boot_time)

    def _fresh(self, boot_id: Optional[str], boot_time: float, any_age: bool = False) -> bool:
        """Whether a read of this boot at `boot_time` is no older than the
        maximum age (or of any age)."""
        if boot_id is None or boot_id != self._boot_id:
            return False
        age = self._clocks.boot_time() - boot_time
        return any_age or 0 <= age <= self._max_age

    def _due(self, part: HostPart) -> bool:
        """Whether a fresh part is old enough to refresh ahead of need."""
        return self._clocks.boot_time() - part.sample.boot_time >= self._max_age * REFRESH_AHEAD

    def _refreshed_ahead(self, reference: str) -> Optional[HostPart]:
        """The domain's part from a refresh ahead of need; None when another
        run holds the refresh lock or has refreshed meanwhile, or the refresh
        fails (the fresh part found serves, and the failure is a note)."""
        if self._unavailable:
            return None

        def renewed() -> bool:
            found = self._store.find(reference)
            return found is None or not self._due(found)

        try:
            parts = self._store.refresh(self._read_host, renewed, wait=False)
        except SnapshotUnavailable:
            return None  # the snapshot still serves; a stale one will say why
        except CheckError as problem:
            self._store.note(f"host snapshot not refreshed ahead of need: {problem}")
            return None
        return parts.find(reference) if parts is not None else None

    def fresh_part(self, uuid: str, not_before: Optional[NotBefore]) -> Optional[HostPart]:
        """The domain's part from a refresh, unless another run's refresh
        already made one usable."""
        return self._after_refresh(uuid, lambda: self._usable_on_disk(uuid, not_before))

    def earlier_part(self, uuid: str) -> Optional[HostPart]:
        """The domain's part in the generation before the newest, if it is
        of this boot."""
        part = self._store.find_earlier(uuid)
        return part if part is not None and self.usable(part, None, any_age=True) else None

    def read_directly(self, uuid: str, groups: frozenset[Group]) -> DomainSample:
        """A sample from libvirt, for a part the snapshot could not complete."""
        inspector = self._opened()
        return inspector.sample(inspector.find(uuid), groups)

    def _after_refresh(self, reference: str,
                       satisfied: Callable[[], bool]) -> Optional[HostPart]:
        source = self._refreshed(satisfied)
        return source.find(reference) if source is not None else self._direct_part(reference)

    def _refreshed(self, satisfied: Callable[[], bool]
                   ) -> Optional[Union[HostParts, HostSnapshotStore]]:
        """Where to look after a refresh: this run's read, or the store when
        another run's refresh satisfied it; None when the snapshot cannot be
        used, and the rest of the run reads libvirt directly."""
        if self._unavailable:
            return None
        try:
            parts = self._store.refresh(self._read_host, satisfied)
        except SnapshotUnavailable as problem:
            # The state store already reports a state directory it cannot use.
            self._unavailable = True
            if not isinstance(problem, StateDirectoryUnavailable):
                self._store.note(f"host snapshot not used: {problem}")
            return None
        return parts or self._store

    def _direct_part(self, reference: str) -> HostPart:
        """The domain read on its own, for a run that cannot use the snapshot."""
        inspector = self._opened()
        return HostPart(inspector.sample(inspector.find(reference), ALL_GROUPS))

    def _refreshed_since(self, moment: float) -> bool:
        latest = self._store.latest()
        return (latest is not None and latest.boot_id == self._boot_id
                and latest.started >= moment)

    def _usable_on_disk(self, reference: str, not_before: Optional[NotBefore]) -> bool:
        part = self._store.find(reference)
        return part is not None and self.usable(part, not_before)

    def _read_host(self, known: KnownDevices) -> HostRead:
        return self._opened().sample_host(known)

    def _opened(self) -> Inspector:
        if self._inspector is None:
            self._inspector = self._open_inspector()
        return self._inspector


class _SnapshotDomain:
    """A domain found in the host snapshot.

    `refreshed`: its part comes from a refresh this run made or waited for,
    the newest there can be: it serves the first sample however long the
    refresh took (another at once would read the same moment again), if it
    is no older than the baseline the run then holds.  Once a part lacks a
    group a sample needs (another client holds the domain's job), every
    sample needing it is read from the domain alone: a refresh would most
    likely find it the same.
    """

    def __init__(self, sampler: SnapshotSampler, part: HostPart, refreshed: bool) -> None:
        self._sampler = sampler
        self._part: Optional[HostPart] = part
        self._refreshed = refreshed
        self._incomplete = part.missing
        self.uuid = part.sample.identity.uuid

    def sample(self, groups: frozenset[Group],
               not_before: Optional[NotBefore] = None) -> DomainSample:
        part, self._part = self._part, None
        if groups & self._incomplete:
            return self._sampler.read_directly(self.uuid, groups)
        if part is None or not self._sampler.usable(part, not_before, any_age=self._refreshed):
            part = self._sampler.fresh_part(self.uuid, not_before)
        if part is None:
            raise DomainVanished("the domain vanished from the host between two reads")
        self._incomplete = part.missing
        if groups & part.missing:
            return self._sampler.read_directly(self.uuid, groups)
        return part.sample

    def earlier_sample(self, groups: frozenset[Group]) -> Optional[DomainSample]:
        part = self._sampler.earlier_part(self.uuid)
        if part is None or groups & part.missing:
            return None
        return part.sample
