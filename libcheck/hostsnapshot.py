"""The host snapshot store: every domain of one libvirt URI from one read,
kept beside the state so that all the checks of a host share that read.

In the state directory (opened as the state store opens it):

    hostsnap-<hash of URI>.lock   held by the one run that refreshes
    hostsnap-<hash of URI>/       0700
        current                   the newest generation, and whose URI it holds
        g-<n>/                    one refresh, never changed once published:
            u-<hash of UUID>      one domain's part (sample, description, gaps)
            n-<hash of name>      a hard link to it, for a lookup by name
            i-<ID>                a hard link to it, for a lookup by ID
            devices               every domain's device signature and
                                  description, for the next refresh only
            host                  the hypervisor's summary: every domain's
                                  state and autostart, the host's CPUs and
                                  memory (check_vm_host reads only this)

A refresh builds `.building-<pid>`, renames it to `g-<n>`, then replaces
`current` by a rename: a reader sees one whole generation or the other, and a
refresher killed midway leaves a `.building-` directory the next one removes.
The generation before the newest stays for readers still in it, and serves a
run without a baseline of its own as its domain's earlier sample.  A check
reads its one domain's part: the cost of a hit does not grow with the
number of domains.

One run refreshes at a time.  The runs waiting for its refresh look at the
store again, without the lock, each time `current` changes: a burst of runs
waits together for one refresh instead of taking the lock in turn.

Files are opened without following symlinks and must be regular files of the
running user under a size limit, and every value in them must be one a
refresh writes (a generation number `g-<n>` can hold, a start time and sample
times finite and not after now on their clocks, the codec's ranges); anything
else counts as absent, with a note, and the next refresh replaces it.
"""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import math
import os
import re
import time

from libcheck.clocks import SYSTEM_CLOCKS, Clocks
from libcheck.digests import sha256_hex
from libcheck.discovery import Description
from libcheck.domainref import Lookup, lookup_order, uuid_digits
from libcheck.privatefiles import (
    DIRECTORY_FLAGS,
    PRUNE_AFTER,
    PrivateFileError,
    create_private_file,
    modified_before,
    names_in,
    open_private_directory,
    open_private_subdirectory,
    poll_delays,
    prune_due,
    read_json,
    reason,
    replace_private_file,
    try_lock,
)
from libcheck.records import NamedTuple
from libcheck.samplecodec import decode_description, decode_sample, decode_summary, encode
from libcheck.samples import Group, HostPart, HostRead, HostSummary

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterable, Iterator, Mapping, Optional

    KnownDevices = Mapping[str, tuple[str, Description]]
    ReadHost = Callable[[KnownDevices], HostRead]

SNAPSHOT_FORMAT = "check_vm-host-snapshot/1"
MAX_PART_BYTES = 1024 * 1024
MAX_CURRENT_BYTES = 64 * 1024
# A domain's entry is about a kilobyte (a few disks and interfaces): room for
# tens of thousands of domains, and no more than a refresh can afford to parse.
MAX_DEVICES_BYTES = 32 * 1024 * 1024
# A domain's row in the summary is about 300 bytes: room for libvirt's 16384.
MAX_SUMMARY_BYTES = 16 * 1024 * 1024
# The names of the directory's entries, as patterns that `re` compiles on first
# use and caches: only a refresh and the pruning use them, never a hit.
_GENERATION = r"g-(\d{1,18})"
# The largest number `_GENERATION` holds; the next refresh starts again from 1.
MAX_GENERATION = 10**18 - 1
# Any generation's name, including one whose number the pattern cannot hold
# (left by an older version): a refresh removes those too.
_ANY_GENERATION = r"g-\d+"
_SNAPSHOT_DIRECTORY = r"hostsnap-[0-9a-f]{32}"
_BUILDING = r"\.building-\d+"
_SET_ASIDE = r"\.hostsnap-[0-9a-f]{32}\.discarded-\d+-\d+"
_PRUNED = ".pruned-snapshots"


class Generation(NamedTuple):
    """One published refresh: its directory's number, and when its read began
    (boot-time clock of the boot `boot_id`)."""

    number: int
    started: float
    boot_id: Optional[str]

    @property
    def name(self) -> str:
        return f"g-{self.number}"


class SnapshotUnavailable(Exception):
    """The snapshot cannot serve this run; the message says why."""


class StateDirectoryUnavailable(SnapshotUnavailable):
    """The state directory itself is unusable (the state store says so too)."""


def _digest(kind: str, value: str) -> str:
    return sha256_hex(f"{kind}\0{value}".encode("utf-8", "surrogatepass"))[:32]


def _uuid_key(uuid: str) -> str:
    return "u-" + _digest("uuid", uuid_digits(uuid))


def _name_key(name: str) -> str:
    return "n-" + _digest("name", name)


def _id_key(domain_id: int) -> str:
    return f"i-{domain_id}"


_KEY_OF_LOOKUP: dict[Lookup, Callable[[str], str]] = {
    Lookup.UUID: _uuid_key,
    Lookup.NAME: _name_key,
    Lookup.ID: lambda reference: _id_key(int(reference)),
}


def lookup_keys(reference: str) -> list[str]:
    """The file names a reference may be found under, in the order the
    inspector tries its lookups (libcheck.domainref)."""
    return [_KEY_OF_LOOKUP[kind](reference) for kind in lookup_order(reference)]


class HostParts:
    """The parts and the summary of one read, in memory: what a refresh hands
    its own run, whether or not it could be saved."""

    def __init__(self, parts: Iterable[HostPart],
                 summary: Optional[HostSummary] = None) -> None:
        self._summary = summary
        self._by_key: dict[str, HostPart] = {}
        for part in parts:
            for key in _keys_of(part):
                self._by_key.setdefault(key, part)

    def find(self, reference: str) -> Optional[HostPart]:
        """The part a name, UUID or ID refers to, or None."""
        return next((self._by_key[key] for key in lookup_keys(reference)
                     if key in self._by_key), None)

    def summary(self) -> Optional[HostSummary]:
        """The read's summary of the hypervisor, or None where it could not be read."""
        return self._summary


def _keys_of(part: HostPart) -> list[str]:
    identity = part.sample.identity
    keys = [_uuid_key(identity.uuid), _name_key(identity.name)]
    if identity.domain_id is not None:
        keys.append(_id_key(identity.domain_id))
    return keys


class HostSnapshotStore:
    """The snapshot of one URI in a state directory: find parts, refresh it.

    `clocks` time the refresh; `lock_timeout` bounds the wait for another
    run's refresh.  Problems become `notes`, never a failed check.
    """

    def __init__(self, state_dir: str, uri: str, clocks: Clocks = SYSTEM_CLOCKS,
                 lock_timeout: float = 5.0,
                 monotonic: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.uri = uri
        self._state_dir = state_dir
        self._clocks = clocks
        self._lock_timeout = lock_timeout
        self._monotonic = monotonic
        self._sleep = sleep
        self._stem = "hostsnap-" + _digest("uri", uri)
        self.notes: list[str] = []

    def note(self, text: str) -> None:
        """Say something in the long output, once however often it happens."""
        if text not in self.notes:
            self.notes.append(text)

    # -- reading ---------------------------------------------------------------

    def find(self, reference: str) -> Optional[HostPart]:
        """The newest generation's part for a name, UUID or ID, or None."""
        with self._directory() as top_fd:
            if top_fd is None:
                return None
            generation = self._current(top_fd)
            if generation is None:
                return None
            return self._find_in(top_fd, generation.name, lookup_keys(reference))

    def find_earlier(self, uuid: str) -> Optional[HostPart]:
        """The part of the domain of `uuid` in the generation before the
        newest (the one a refresh keeps for readers still in it), or None."""
        with self._directory() as top_fd:
            if top_fd is None:
                return None
            newest = self._current(top_fd)
            earlier = _generation_before(top_fd, newest.number) if newest else None
            if earlier is None:
                return None
            return self._find_in(top_fd, earlier, [_uuid_key(uuid)], "previous")

    def summary(self) -> Optional[HostSummary]:
        """The newest generation's summary of the hypervisor, or None."""
        with self._directory() as top_fd:
            if top_fd is None:
                return None
            generation = self._current(top_fd)
            return self._summary_in(top_fd, generation) if generation else None

    def latest(self) -> Optional[Generation]:
        """The newest published generation, or None."""
        with self._directory() as top_fd:
            return self._current(top_fd) if top_fd is not None else None

    @contextlib.contextmanager
    def _directory(self) -> Iterator[Optional[int]]:
        """The snapshot's directory, or None when there is none usable."""
        try:
            state_fd = open_private_directory(self._state_dir)
        except PrivateFileError:
            yield None
            return
        try:
            top_fd = open_private_subdirectory(state_fd, self._stem)
        except (OSError, ValueError):
            top_fd = None
        finally:
            os.close(state_fd)
        try:
            yield top_fd
        finally:
            if top_fd is not None:
                os.close(top_fd)

    @functools.cached_property
    def _this_boot(self) -> Optional[str]:
        return self._clocks.boot()

    def _current(self, top_fd: int) -> Optional[Generation]:
        data = self._read_json(top_fd, "current", MAX_CURRENT_BYTES, "the snapshot's index")
        if data is None:
            return None
        try:
            generation = Generation(_checked_generation(data.get("generation")),
                                    _checked_start(data.get("started")),
                                    _checked_boot_id(data.get("boot_id")))
            if self._after_now(generation.started, generation.boot_id):
                raise ValueError(_NO_START_TIME)
        except ValueError as problem:
            self.note(f"host snapshot discarded: the index: {problem}")
            return None
        return generation

    def _after_now(self, boot_time: float, boot_id: Optional[str]) -> bool:
        """Whether a time on the boot-time clock of `boot_id` lies ahead of
        now: no refresh of this boot wrote it.  (Another boot's clock cannot
        be compared.)"""
        return (boot_id is not None and boot_id == self._this_boot
                and boot_time > self._clocks.boot_time())

    @contextlib.contextmanager
    def _generation_directory(self, top_fd: int, name: str,
                              which: str = "newest") -> Iterator[Optional[int]]:
        """The generation's directory, or None where it is gone or unusable (a
        note names it by `which`)."""
        try:
            gen_fd = open_private_subdirectory(top_fd, name)
        except FileNotFoundError:
            yield None
            return
        except (OSError, ValueError) as problem:
            self.note(f"host snapshot discarded: its {which} generation: {reason(problem)}")
            yield None
            return
        try:
            yield gen_fd
        finally:
            os.close(gen_fd)

    def _find_in(self, top_fd: int, name: str, keys: Iterable[str],
                 which: str = "newest") -> Optional[HostPart]:
        """The part under the first of `keys` in the generation `name`, or None."""
        with self._generation_directory(top_fd, name, which) as gen_fd:
            if gen_fd is None:
                return None
            for key in keys:
                data = self._read_json(gen_fd, key, MAX_PART_BYTES, "a domain's part")
                if data is not None:
                    return self._decoded_part(data)
            return None

    def _summary_in(self, top_fd: int, generation: Generation) -> Optional[HostSummary]:
        with self._generation_directory(top_fd, generation.name) as gen_fd:
            if gen_fd is None:
                return None
            data = self._read_json(gen_fd, "host", MAX_SUMMARY_BYTES, "the host's summary")
        if data is None:
            return None
        try:
            summary = decode_summary(data.get("summary"))
            self._check_times(summary.boot_time, summary.boot_id, summary.wall_time)
        except (ValueError, TypeError) as problem:
            self.note(f"host snapshot discarded: the host's summary: {problem}")
            return None
        return summary

    def _decoded_part(self, data: dict) -> Optional[HostPart]:
        try:
            description = data.get("description")
            part = HostPart(decode_sample(data.get("sample")),
                            None if description is None else decode_description(description),
                            None, _checked_groups(data.get("missing", [])))
            self._check_times(part.sample.boot_time, part.sample.boot_id, part.sample.wall_time)
        except (ValueError, TypeError) as problem:
            self.note(f"host snapshot discarded: a domain's part: {problem}")
            return None
        return part

    def _check_times(self, boot_time: float, boot_id: Optional[str], wall_time: float) -> None:
        """ValueError for a sample timed after now on either clock."""
        if self._after_now(boot_time, boot_id):
            raise ValueError("its sample is timed after now")
        if wall_time > self._clocks.wall():
            raise ValueError("its sample is dated after now")

    def _read_json(self, dir_fd: int, name: str, limit: int, what: str) -> Optional[dict]:
        """A file of this snapshot's format and URI, or None (a note says why)."""
        try:
            data = _load(dir_fd, name, limit)
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as problem:
            self.note(f"host snapshot discarded: {what}: {reason(problem)}")
            return None
        if data.get("format") != SNAPSHOT_FORMAT or data.get("uri") != self.uri:
            self.note(f"host snapshot discarded: {what} is not this version's "
                              "snapshot of this URI")
            return None
        return data

    # -- refreshing ------------------------------------------------------------

    def refresh(self, read_host: ReadHost, satisfied: Callable[[], bool],
                wait: bool = True) -> Optional[HostParts]:
        """Read the host with `read_host` and publish it as the newest generation.

        Runs one at a time.  `satisfied` says whether the store, as it stands,
        serves the caller: while another run refreshes it is asked each time
        a generation is published, and once more by the run that gets the
        lock.  When it says so, nothing is read and None is returned (read the
        store).  Otherwise it returns the parts it read, saved or not.  Without
        `wait`, None is returned at once while another run holds the lock.
        Raises SnapshotUnavailable when the directory or the lock cannot be had.
        """
        try:
            state_fd = open_private_directory(self._state_dir)
        except PrivateFileError as problem:
            raise StateDirectoryUnavailable(str(problem)) from None
        try:
            lock_fd = (self._lock_unless_served(state_fd, satisfied) if wait
                       else self._try_lock(state_fd))
            if lock_fd is None:
                return None
            try:
                if satisfied():
                    return None
                return self._refresh_locked(state_fd, read_host)
            finally:
                os.close(lock_fd)
        finally:
            os.close(state_fd)

    def _lock_unless_served(self, state_fd: int, satisfied: Callable[[], bool]) -> Optional[int]:
        """The refresh lock; or None as soon as a generation published while
        another run held it satisfies this run.

        Waiters do not queue on the lock: each asks `satisfied` without it
        (a generation is whole before `current` names it), only when
        `current` changed, and takes the lock only to refresh.
        """
        deadline = self._monotonic() + self._lock_timeout
        delays = poll_delays()
        seen = self._published(state_fd)
        while True:
            lock_fd = self._try_lock(state_fd)
            if lock_fd is not None:
                return lock_fd
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                raise SnapshotUnavailable("another run held the refresh lock too long")
            self._sleep(min(next(delays), remaining))
            published = self._published(state_fd)
            if published != seen:
                seen = published
                if satisfied():
                    return None

    def _try_lock(self, state_fd: int) -> Optional[int]:
        try:
            return try_lock(state_fd, f"{self._stem}.lock")
        except OSError as error:
            raise SnapshotUnavailable(f"lock file: {reason(error)}") from None

    def _published(self, state_fd: int) -> Optional[tuple[int, int, int]]:
        """What tells one `current` from the next (a publish puts a new file
        in its place), read without opening it; None where there is none."""
        try:
            top_fd = open_private_subdirectory(state_fd, self._stem)
        except (OSError, ValueError):
            return None
        try:
            info = os.stat("current", dir_fd=top_fd, follow_symlinks=False)
        except OSError:
            return None
        finally:
            os.close(top_fd)
        return info.st_ino, info.st_mtime_ns, info.st_size

    def _refresh_locked(self, state_fd: int, read_host: ReadHost) -> HostParts:
        top_fd = self._private_top(state_fd)
        try:
            previous = self._current(top_fd) if top_fd is not None else None
            known = self._known_devices(top_fd, previous) if top_fd is not None and previous else {}
            started, boot = self._clocks.boot_time(), self._clocks.boot()
            read = read_host(known)
            if top_fd is not None:
                self._publish(top_fd, read, Generation(
                    _next_number(top_fd, previous), started, boot), previous)
                _maybe_prune_snapshots(state_fd, self._stem)
            return HostParts(read.parts, read.summary)
        finally:
            if top_fd is not None:
                os.close(top_fd)

    def _private_top(self, state_fd: int) -> Optional[int]:
        """The snapshot's directory, replacing whatever usurps its name."""
        try:
            return open_private_subdirectory(state_fd, self._stem, create=True)
        except (OSError, ValueError) as problem:
            self.note(f"host snapshot replaced: {reason(problem)}")
        try:
            _set_aside(state_fd, self._stem)
            return open_private_subdirectory(state_fd, self._stem, create=True)
        except (OSError, ValueError) as problem:
            self.note(f"host snapshot not saved: {reason(problem)}")
            return None

    def _known_devices(self, top_fd: int, generation: Generation) -> dict[str, tuple]:
        try:
            gen_fd = open_private_subdirectory(top_fd, generation.name)
        except (OSError, ValueError):
            return {}
        try:
            data = self._read_json(gen_fd, "devices", MAX_DEVICES_BYTES, "the device list")
        finally:
            os.close(gen_fd)
        try:
            return _decoded_devices(data.get("devices") if data else None)
        except (ValueError, TypeError) as problem:
            self.note(f"host snapshot discarded: the device list: {problem}")
            return {}

    def _publish(self, top_fd: int, read: HostRead, generation: Generation,
                 previous: Optional[Generation]) -> None:
        """Write the generation, then point `current` at it; a failure is a note."""
        building = f".building-{os.getpid()}"
        try:
            _remove_leftovers(top_fd, keep=previous)
            self._write_generation(top_fd, building, read)
            os.rename(building, generation.name, src_dir_fd=top_fd, dst_dir_fd=top_fd)
            replace_private_file(top_fd, "current", _json_bytes(self._index(generation)))
        except OSError as error:
            _remove_tree(top_fd, building)
            self.note(f"host snapshot not saved: {reason(error)}")
            return
        _remove_leftovers(top_fd, keep=previous, newest=generation)

    def _index(self, generation: Generation) -> dict[str, Any]:
        return self._framed(generation=generation.number, started=generation.started,
                            boot_id=generation.boot_id)

    def _framed(self, **fields) -> dict[str, Any]:
        return {"format": SNAPSHOT_FORMAT, "uri": self.uri, **fields}

    def _write_generation(self, top_fd: int, name: str, read: HostRead) -> None:
        os.mkdir(name, 0o700, dir_fd=top_fd)
        gen_fd = os.open(name, DIRECTORY_FLAGS, dir_fd=top_fd)
        try:
            for part in read.parts:
                self._write_part(gen_fd, part)
            create_private_file(gen_fd, "devices", _json_bytes(self._framed(devices={
                part.sample.identity.uuid: [part.signature, encode(part.description)]
                for part in read.parts if part.description is not None})))
            if read.summary is not None:
                create_private_file(gen_fd, "host", _json_bytes(self._framed(
                    summary=encode(read.summary))))
        finally:
            os.close(gen_fd)

    def _write_part(self, gen_fd: int, part: HostPart) -> None:
        keys = _keys_of(part)
        create_private_file(gen_fd, keys[0], _json_bytes(self._framed(
            sample=encode(part.sample), description=encode(part.description),
            missing=sorted(group.value for group in part.missing))))
        for alias in keys[1:]:
            os.link(keys[0], alias, src_dir_fd=gen_fd, dst_dir_fd=gen_fd,
                    follow_symlinks=False)


def _shown_key(key: str) -> str:
    """A device list's key as a note shows it: a UUID as it is, anything else
    (it could be huge, or hold a newline) not at all."""
    return key if Lookup.UUID in lookup_order(key) else "a domain"


# -- files and directories ------------------------------------------------------

def _load(dir_fd: int, name: str, limit: int) -> dict:
    data = read_json(dir_fd, name, limit, "it")
    if not isinstance(data, dict):
        raise ValueError("it is not a JSON object")
    return data


def _json_bytes(data: dict) -> bytes:
    return json.dumps(data, separators=(",", ":")).encode("utf-8", "surrogatepass")


def _generation_before(top_fd: int, number: int) -> Optional[str]:
    """The name of the highest-numbered generation below `number`, or None."""
    older = [(int(match.group(1)), match.group(0))
             for match in _generations_in(top_fd)
             if int(match.group(1)) < number]
    return max(older)[1] if older else None


def _generations_in(top_fd: int) -> list[re.Match]:
    """The matches of the generations' names in the snapshot's directory."""
    return [match for match in (re.fullmatch(_GENERATION, name) for name in names_in(top_fd))
            if match]


def _next_number(top_fd: int, previous: Optional[Generation]) -> int:
    """One more than the highest generation, or past MAX_GENERATION the
    lowest number no generation holds."""
    taken = {int(match.group(1)) for match in _generations_in(top_fd)}
    if previous is not None:
        taken.add(previous.number)
    number = max(taken, default=0) + 1
    if number > MAX_GENERATION:
        number = 1
        while number in taken:
            number += 1
    return number


def _remove_leftovers(top_fd: int, keep: Optional[Generation],
                      newest: Optional[Generation] = None) -> None:
    """Remove killed refreshers' work and every generation but `keep` and `newest`."""
    kept = {generation.name for generation in (keep, newest) if generation}
    for name in names_in(top_fd):
        if re.fullmatch(_BUILDING, name) or (re.fullmatch(_ANY_GENERATION, name)
                                             and name not in kept):
            _remove_tree(top_fd, name)


def _remove_tree(parent_fd: int, name: str) -> None:
    """Remove a generation directory and its files; whatever resists stays."""
    try:
        fd = os.open(name, DIRECTORY_FLAGS, dir_fd=parent_fd)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(name, dir_fd=parent_fd)
        return
    try:
        for entry in names_in(fd):
            with contextlib.suppress(OSError):
                os.unlink(entry, dir_fd=fd)
    finally:
        os.close(fd)
    with contextlib.suppress(OSError):
        os.rmdir(name, dir_fd=parent_fd)


def _set_aside(parent_fd: int, name: str) -> None:
    """Move what holds the snapshot directory's name out of the way: a symlink
    or file goes; a directory we cannot empty is renamed."""
    try:
        os.unlink(name, dir_fd=parent_fd)
        return
    except FileNotFoundError:
        return
    except OSError as error:
        if error.errno not in (errno.EISDIR, errno.EPERM):
            raise
    os.rename(name, f".{name}.discarded-{os.getpid()}-{time.time_ns()}",
              src_dir_fd=parent_fd, dst_dir_fd=parent_fd)


def _maybe_prune_snapshots(state_fd: int, own: str) -> None:
    """Now and then, remove the snapshots of URIs no longer checked for a week
    (a refresh adds and removes generations: a directory in use is never
    old), and the directories set aside in place of broken ones."""
    if not prune_due(state_fd, _PRUNED):
        return
    cutoff = time.time() - PRUNE_AFTER
    with contextlib.suppress(OSError):
        for name in names_in(state_fd):
            if re.fullmatch(_SET_ASIDE, name) or (
                    re.fullmatch(_SNAPSHOT_DIRECTORY, name) and name != own
                    and modified_before(name, state_fd, cutoff)):
                _remove_snapshot(state_fd, name)


def _remove_snapshot(state_fd: int, name: str) -> None:
    """Remove a snapshot directory, unless a run holds its lock (a refresh that
    has not published for a week)."""
    if not re.fullmatch(_SNAPSHOT_DIRECTORY, name):
        _remove_generations(state_fd, name)
        return
    lock_fd = try_lock(state_fd, f"{name}.lock")
    if lock_fd is None:
        return
    try:
        _remove_generations(state_fd, name)
    finally:
        os.close(lock_fd)


def _remove_generations(state_fd: int, name: str) -> None:
    """Remove a snapshot directory with its index, generations and their files."""
    try:
        top_fd = os.open(name, DIRECTORY_FLAGS, dir_fd=state_fd)
    except OSError:
        return
    try:
        for entry in names_in(top_fd):
            _remove_tree(top_fd, entry)
    finally:
        os.close(top_fd)
    with contextlib.suppress(OSError):
        os.rmdir(name, dir_fd=state_fd)


def _decoded_devices(data: Any) -> dict[str, tuple[str, Description]]:
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError("it is not an object")
    known = {}
    for uuid, entry in data.items():
        if not isinstance(entry, list) or len(entry) != 2 or not isinstance(entry[0], str):
            raise ValueError(f"the entry of {_shown_key(uuid)} is malformed")
        known[uuid] = (entry[0], decode_description(entry[1]))
    return known


_NO_START_TIME = "no valid start time"


def _checked_generation(value: Any) -> int:
    if (not isinstance(value, int) or isinstance(value, bool)
            or not 0 <= value <= MAX_GENERATION):
        raise ValueError("no valid generation number")
    return value


def _checked_start(value: Any) -> float:
    """A time on the boot-time clock: finite and not negative."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ValueError(_NO_START_TIME)
    try:
        started = float(value)
    except OverflowError:
        raise ValueError(_NO_START_TIME) from None
    if not math.isfinite(started) or started < 0:
        raise ValueError(_NO_START_TIME)
    return started


def _checked_groups(value: Any) -> frozenset[Group]:
    """The groups a part says its read could not complete."""
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValueError("its missing groups are not a list of names")
    return frozenset(Group(name) for name in value)


def _checked_boot_id(value: Any) -> Optional[str]:
    if value is not None and (not isinstance(value, str) or len(value) > 64):
        raise ValueError("no valid boot ID")
    return value
