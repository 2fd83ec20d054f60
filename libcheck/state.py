"""On-disk store of the previous snapshots: locked, atomic, private.

One small JSON file per (libvirt URI, domain UUID, check), named by a hash
of those (a VM name may hold `/`, `..`, quotes or anything else).  A run
holds an exclusive lock file for the whole read-sample-write cycle so that
concurrent runs of one service serialise.  The files are private files
(libcheck.privatefiles): never reached through a symlink, replaced whole.

Problems with the store never fail a check: they become notes, and the check
measures within the run instead.

Pruning removes only the names the store writes (a state file, its
temporary file, its lock) and the host snapshot's lock, each recognised by
its whole name: anything else an operator keeps in the directory stays.
"""

from __future__ import annotations

import contextlib
import json
import os
import pwd
import re
import time

from libcheck.digests import sha256_hex
from libcheck.privatefiles import (
    PRUNE_AFTER,
    PrivateFileError,
    acquire_lock,
    modified_before,
    names_in,
    open_private_directory,
    prune_due,
    read_json,
    reason,
    replace_private_file,
    unlink_unheld_lock,
)
from libcheck.rates import Snapshot, UnusableSnapshot
from libcheck.registry import CHECKS

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator, Mapping, Optional

STATE_FORMAT = "check_vm-state/1"
MAX_STATE_BYTES = 1024 * 1024
SYSTEM_STATE_DIR = "/var/lib/check_vm"
# Where a user without any home keeps its state (check_vm-UID below it).
TEMPORARY_BASE = "/tmp"
# The notes that mean the store does not work (StateStore.trouble).
TROUBLE = ("state not used: ", "state not saved: ")
_KEY_DIGITS = 32
_HASH = f"[0-9a-f]{{{_KEY_DIGITS}}}"
_STATE_STEM = f"(?:{'|'.join(re.escape(entry.name) for entry in CHECKS)})-{_HASH}"
# The host snapshot's lock (hostsnapshot.py), which guards the directory of its stem.
_SNAPSHOT_STEM = f"hostsnap-{_HASH}"
_PRUNABLE_FILE = rf"{_STATE_STEM}\.json|\.{_STATE_STEM}\.json\.tmp"
_PRUNABLE_LOCK = rf"(?:{_STATE_STEM}|{_SNAPSHOT_STEM})\.lock"


def _passwd_home(euid: int) -> Optional[str]:
    try:
        return pwd.getpwuid(euid).pw_dir
    except KeyError:
        return None


def default_state_dir(environ: Mapping[str, str] = os.environ, euid: Optional[int] = None,
                      passwd_home: Callable[[int], Optional[str]] = _passwd_home) -> str:
    """/var/lib/check_vm for root (or when writable), else a per-user directory."""
    euid = os.geteuid() if euid is None else euid
    if euid == 0 or _owned_by(SYSTEM_STATE_DIR, euid):
        return SYSTEM_STATE_DIR
    base = environ.get("XDG_STATE_HOME") or os.path.join(
        _home_of(euid, environ, passwd_home), ".local", "state")
    return os.path.join(base, "check_vm")


def _home_of(euid: int, environ: Mapping[str, str],
             passwd_home: Callable[[int], Optional[str]]) -> str:
    # A daemon started by root that drops to its own user (icinga2, nagios4)
    # may hand its plugins root's HOME: a HOME the user does not own is not its.
    home = environ.get("HOME")
    if home and _owned_by(home, euid):
        return home
    return passwd_home(euid) or os.path.join(TEMPORARY_BASE, f"check_vm-{euid}")


def _owned_by(path: str, euid: int) -> bool:
    # Writable through a group is not enough: the store refuses what it does not own.
    try:
        return os.stat(path).st_uid == euid
    except OSError:
        return False


def state_key(uri: str, domain_uuid: str, check: str,
              baseline_name: Optional[str] = None) -> str:
    """The file stem for one (URI, domain, check) and, when given, the baseline
    name of one schedule of that check: a hash, never a raw name."""
    named = "" if baseline_name is None else f"\0{baseline_name}"
    digest = sha256_hex(f"{uri}\0{domain_uuid}\0{check}{named}".encode())
    return f"{check}-{digest[:_KEY_DIGITS]}"


class StateSlot:
    """The locked state of one key: load the snapshots, save new ones."""

    def __init__(self, directory_fd: int, stem: str, notes: list[str]) -> None:
        self._dir_fd = directory_fd
        self._name = f"{stem}.json"
        self._notes = notes

    def load(self) -> list[Snapshot]:
        """The stored snapshots; an unreadable or foreign file counts as none."""
        try:
            return _parse_state(read_json(self._dir_fd, self._name, MAX_STATE_BYTES,
                                          "the state file"))
        except FileNotFoundError:
            return []
        except OverflowError:
            self._notes.append("previous state discarded: the state file holds a number "
                               "out of range")
        except UnusableSnapshot as problem:
            self._notes.append(f"previous sample unusable: {problem} (this run does "
                               "without it)")
        except (OSError, ValueError) as problem:
            self._notes.append(f"previous state discarded: {reason(problem)}")
        return []

    def save(self, snapshots: list[Snapshot]) -> None:
        """Replace the stored snapshots atomically; a failure becomes a note."""
        payload = json.dumps({"format": STATE_FORMAT,
                              "snapshots": [s.to_json() for s in snapshots]},
                             separators=(",", ":")).encode()
        try:
            replace_private_file(self._dir_fd, self._name, payload)
        except OSError as error:
            self._notes.append(f"state not saved: {reason(error)}")


def _parse_state(data: Any) -> list[Snapshot]:
    if not isinstance(data, dict) or data.get("format") != STATE_FORMAT:
        raise ValueError("the state file is not in this version's format")
    snapshots = data.get("snapshots")
    if not isinstance(snapshots, list):
        raise ValueError("the state file holds no snapshot list")
    return [Snapshot.from_json(item) for item in snapshots]


class StateStore:
    """The state directory: hands out locked slots, one per key."""

    def __init__(self, directory: str, lock_timeout: float = 5.0,
                 clock=time.monotonic, sleep=time.sleep) -> None:
        self.directory = directory
        self._lock_timeout = lock_timeout
        self._clock = clock
        self._sleep = sleep
        self.notes: list[str] = []

    @property
    def trouble(self) -> Optional[str]:
        """The note saying that the state was not used or not saved, if any.

        It belongs in the status line: such runs measure within themselves,
        or against an ever older sample, until someone fixes the store.
        """
        return next((note for note in self.notes if note.startswith(TROUBLE)), None)

    @contextlib.contextmanager
    def slot(self, stem: str) -> Iterator[Optional[StateSlot]]:
        """The locked slot for `stem`, or None (with a note) when unusable."""
        try:
            dir_fd = open_private_directory(self.directory)
        except PrivateFileError as problem:
            self.notes.append(f"state not used: {problem}")
            yield None
            return
        try:
            with self._locked(dir_fd, stem) as locked:
                yield StateSlot(dir_fd, stem, self.notes) if locked else None
                if locked:
                    self._maybe_prune(dir_fd)
        finally:
            os.close(dir_fd)

    @contextlib.contextmanager
    def _locked(self, dir_fd: int, stem: str) -> Iterator[bool]:
        try:
            lock_fd = acquire_lock(dir_fd, f"{stem}.lock", self._lock_timeout,
                                   self._clock, self._sleep)
        except OSError as error:
            self.notes.append(f"state not used: lock file: {reason(error)}")
            yield False
            return
        if lock_fd is None:
            self.notes.append("state not used: another run held its lock too long")
            yield False
            return
        try:
            yield True
        finally:
            os.close(lock_fd)

    def _maybe_prune(self, dir_fd: int) -> None:
        """Now and then, drop the files of domains not checked for a week."""
        if prune_due(dir_fd, ".pruned"):
            _prune_older_than(dir_fd, time.time() - PRUNE_AFTER)


def _prune_older_than(dir_fd: int, cutoff: float) -> None:
    names = names_in(dir_fd)
    for name in names:
        if re.fullmatch(_PRUNABLE_FILE, name) and modified_before(name, dir_fd, cutoff):
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=dir_fd)
    for name in names:
        if re.fullmatch(_PRUNABLE_LOCK, name) and _stale_lock(name, dir_fd, cutoff):
            with contextlib.suppress(OSError):
                unlink_unheld_lock(name, dir_fd)


def _stale_lock(name: str, dir_fd: int, cutoff: float) -> bool:
    # A lock file is never written, so its time is its creation's: old, and
    # with what it guards gone from beside it (a state file, a snapshot
    # directory: pruned, or never saved), no run uses it.
    stem = name[:-len(".lock")]
    guarded = stem if re.fullmatch(_SNAPSHOT_STEM, stem) else f"{stem}.json"
    try:
        os.stat(guarded, dir_fd=dir_fd, follow_symlinks=False)
        return False
    except FileNotFoundError:
        return modified_before(name, dir_fd, cutoff)
    except OSError:
        return False
