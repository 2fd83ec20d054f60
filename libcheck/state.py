"""On-disk store of the previous snapshots: locked, atomic, private.

One small JSON file per (libvirt URI, domain UUID, check), named by a hash
of those (a VM name may hold `/`, `..`, quotes or anything else).  A run
holds an exclusive lock file for the whole read-sample-write cycle so that
concurrent runs of one service serialise.  Writes go to a temporary file
that is renamed over the old one, so a reader (or a run after a kill -9)
only ever sees a whole file.  Nothing is ever opened through a symlink, at
any component of its path; the directory must belong to the running user and
be writable by no one else, and so must every directory above it (root may
own those, and a sticky one such as /tmp may be writable by all).

Problems with the store never fail a check: they become notes, and the check
measures within the run instead.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import pwd
import stat
import time
from typing import Callable, Iterator, Mapping, Optional

from libcheck.rates import Snapshot

STATE_FORMAT = "check_vm-state/1"
MAX_STATE_BYTES = 1024 * 1024
SYSTEM_STATE_DIR = "/var/lib/check_vm"
# Where a user without any home keeps its state (check_vm-UID below it).
TEMPORARY_BASE = "/tmp"
PRUNE_EVERY = 3600.0
PRUNE_AFTER = 7 * 86400.0
# The notes that mean the store does not work (StateStore.trouble).
TROUBLE = ("state not used: ", "state not saved: ")


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


_WALK_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_LAST_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def open_private_directory(path: str) -> int:
    """Open the state directory from / one component at a time, never through a
    symlink, creating what is missing with mode 0700 (whatever the umask).

    Every directory on the way must belong to root or to the running user and
    be writable by no one else (a sticky one such as /tmp excepted): anyone
    else could swap what lies below it.  The directory itself must belong to
    the running user.  Raises StateUnavailable with the reason.
    """
    umask = os.umask(0o077)
    try:
        return _walk(os.path.abspath(path))
    finally:
        os.umask(umask)


def _walk(path: str) -> int:
    names = [name for name in path.split("/") if name]
    fd, walked = os.open("/", _WALK_FLAGS if names else _LAST_FLAGS), "/"
    try:
        for position, name in enumerate(names):
            _require_safe_parent(os.fstat(fd), walked)
            walked = os.path.join(walked, name)
            last = position == len(names) - 1
            next_fd = _open_component(fd, name, _LAST_FLAGS if last else _WALK_FLAGS,
                                      path, walked)
            os.close(fd)
            fd = next_fd
        _require_private_directory(os.fstat(fd), path)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open_component(parent_fd: int, name: str, flags: int, path: str, walked: str) -> int:
    where = path if walked == path else f"{path}: {walked}"
    try:
        return _open_or_create(parent_fd, name, flags)
    except OSError as error:
        if error.errno in (errno.ENOTDIR, errno.ELOOP) and _is_symlink(parent_fd, name):
            raise StateUnavailable(f"{where} is a symlink (the state directory is never "
                                   "reached through one)") from None
        raise StateUnavailable(f"{where}: {error.strerror or error}") from None


def _open_or_create(parent_fd: int, name: str, flags: int) -> int:
    try:
        return os.open(name, flags, dir_fd=parent_fd)
    except FileNotFoundError:
        with contextlib.suppress(FileExistsError):
            os.mkdir(name, 0o700, dir_fd=parent_fd)
        return os.open(name, flags, dir_fd=parent_fd)


def _is_symlink(parent_fd: int, name: str) -> bool:
    try:
        return stat.S_ISLNK(os.stat(name, dir_fd=parent_fd, follow_symlinks=False).st_mode)
    except OSError:
        return False


def _owned_by(path: str, euid: int) -> bool:
    # Writable through a group is not enough: the store refuses what it does not own.
    try:
        return os.stat(path).st_uid == euid
    except OSError:
        return False


def state_key(uri: str, domain_uuid: str, check: str) -> str:
    """The file stem for one (URI, domain, check): a hash, never a raw name."""
    digest = hashlib.sha256(f"{uri}\0{domain_uuid}\0{check}".encode()).hexdigest()
    return f"{check}-{digest[:32]}"


class StateUnavailable(Exception):
    """The store cannot be used this run; the message says why."""


class StateSlot:
    """The locked state of one key: load the snapshots, save new ones."""

    def __init__(self, directory_fd: int, stem: str, notes: list[str]) -> None:
        self._dir_fd = directory_fd
        self._name = f"{stem}.json"
        self._notes = notes

    def load(self) -> list[Snapshot]:
        """The stored snapshots; an unreadable or foreign file counts as none."""
        try:
            data = self._read()
        except FileNotFoundError:
            return []
        except (OSError, ValueError, OverflowError, RecursionError) as problem:
            self._notes.append(f"previous state discarded: {_reason(problem)}")
            return []
        return data

    def _read(self) -> list[Snapshot]:
        return _parse_state(read_private(self._dir_fd, self._name, MAX_STATE_BYTES,
                                         "the state file"))

    def save(self, snapshots: list[Snapshot]) -> None:
        """Replace the stored snapshots atomically; a failure becomes a note."""
        payload = json.dumps({"format": STATE_FORMAT,
                              "snapshots": [s.to_json() for s in snapshots]},
                             separators=(",", ":")).encode()
        temporary = f".{self._name}.tmp"
        try:
            self._write_new(temporary, payload)
            os.replace(temporary, self._name, src_dir_fd=self._dir_fd, dst_dir_fd=self._dir_fd)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(temporary, dir_fd=self._dir_fd)
            self._notes.append(f"state not saved: {error.strerror or error}")

    def _write_new(self, name: str, payload: bytes) -> None:
        # We hold the lock, so a leftover temporary file is from a killed run.
        with contextlib.suppress(FileNotFoundError):
            os.unlink(name, dir_fd=self._dir_fd)
        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=self._dir_fd)
        # No fsync: the rename alone keeps readers from a torn file, and the
        # empty file a power loss might leave is discarded like any unreadable
        # one; 2000 runs a minute should not mean 2000 disk flushes.
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)


def _reason(problem: Exception) -> str:
    if isinstance(problem, RecursionError):
        return "the state file is nested too deeply"
    if isinstance(problem, OverflowError):
        return "the state file holds a number out of range"
    return str(problem)


def read_private(dir_fd: int, name: str, limit: int, what: str) -> bytes:
    """The bytes of `name` in the directory, if it is a regular file of the
    running user of at most `limit` bytes, reached without a symlink;
    ValueError (saying `what` is wrong) otherwise, OSError where it cannot be
    opened."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK,
                     dir_fd=dir_fd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise ValueError(f"{what} is a symlink") from None
        raise
    with os.fdopen(fd, "rb") as handle:
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{what} is not a regular file")
        if info.st_uid != os.geteuid():
            raise ValueError(f"{what} belongs to another user")
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise ValueError(f"{what} is too large")
    return raw


def _parse_state(raw: bytes) -> list[Snapshot]:
    try:
        data = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ValueError("the state file is not valid JSON") from None
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
            dir_fd = self._open_directory()
        except StateUnavailable as problem:
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

    def _open_directory(self) -> int:
        try:
            return open_private_directory(self.directory)
        except OSError as error:
            raise StateUnavailable(f"{self.directory}: {error.strerror or error}") from None

    @contextlib.contextmanager
    def _locked(self, dir_fd: int, stem: str) -> Iterator[bool]:
        try:
            lock_fd = acquire_lock(dir_fd, f"{stem}.lock", self._lock_timeout,
                                   self._clock, self._sleep)
        except OSError as error:
            self.notes.append(f"state not used: lock file: {error.strerror or error}")
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


def prune_due(dir_fd: int, marker: str) -> bool:
    """Whether the pruning that `marker` times is due (at most hourly); if so,
    the marker is touched, so that concurrent runs leave it to this one."""
    now = time.time()
    try:
        if now - os.stat(marker, dir_fd=dir_fd, follow_symlinks=False).st_mtime < PRUNE_EVERY:
            return False
    except FileNotFoundError:
        pass
    except OSError:
        return False
    try:
        os.close(os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600, dir_fd=dir_fd))
        os.utime(marker, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return True


def acquire_lock(dir_fd: int, name: str, timeout: float,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> Optional[int]:
    """Open and lock the lock file `name`: its descriptor, or None when another
    process held it for `timeout` seconds.  Closing the descriptor unlocks.

    Pruning may unlink a lock file between our open and our lock; that inode
    is then no lock at all, so the file is opened and locked again.
    """
    deadline = clock() + timeout
    while True:
        lock_fd = os.open(name, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                          0o600, dir_fd=dir_fd)
        if not _acquire(lock_fd, deadline, clock, sleep):
            os.close(lock_fd)
            return None
        if _still_linked(lock_fd, name, dir_fd):
            return lock_fd
        os.close(lock_fd)


def _acquire(lock_fd: int, deadline: float, clock: Callable[[], float],
             sleep: Callable[[float], None]) -> bool:
    while True:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if clock() >= deadline:
                return False
            sleep(0.01)


def _prune_older_than(dir_fd: int, cutoff: float) -> None:
    with os.scandir(dir_fd) as entries:
        names = [entry.name for entry in entries]
    for name in names:
        if name.endswith((".json", ".json.tmp")) and modified_before(name, dir_fd, cutoff):
            with contextlib.suppress(OSError):
                os.unlink(name, dir_fd=dir_fd)
    for name in names:
        if name.endswith(".lock") and _stale_lock(name, dir_fd, cutoff):
            with contextlib.suppress(OSError):
                _unlink_unheld_lock(name, dir_fd)


def modified_before(name: str, dir_fd: int, cutoff: float) -> bool:
    """Whether `name` in the directory was last modified before `cutoff`."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mtime < cutoff
    except OSError:
        return False


def _stale_lock(name: str, dir_fd: int, cutoff: float) -> bool:
    # A lock file is never written, so its time is its creation's: old, and
    # with no state file beside it (pruned, or never saved), no run uses it.
    state_file = name[:-len(".lock")] + ".json"
    try:
        os.stat(state_file, dir_fd=dir_fd, follow_symlinks=False)
        return False
    except FileNotFoundError:
        return modified_before(name, dir_fd, cutoff)
    except OSError:
        return False


def _unlink_unheld_lock(name: str, dir_fd: int) -> None:
    """Remove a lock file unless a run holds it, holding it while it goes.

    A run that opened it just before waits for our lock, then finds the file
    unlinked and takes a new one (StateStore._lock): the lock never splits.
    """
    fd = os.open(name, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, dir_fd=dir_fd)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        if _still_linked(fd, name, dir_fd):
            os.unlink(name, dir_fd=dir_fd)
    finally:
        os.close(fd)


def _still_linked(fd: int, name: str, dir_fd: int) -> bool:
    """Whether `name` in the directory is still the file open as `fd`."""
    try:
        linked = os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return (linked.st_dev, linked.st_ino) == (held.st_dev, held.st_ino)


def _require_private_directory(info: os.stat_result, path: str) -> None:
    # A directory we did not create keeps its mode: it may be a home directory.
    if info.st_uid != os.geteuid():
        raise StateUnavailable(f"{path} belongs to another user")
    if info.st_mode & 0o022:
        raise StateUnavailable(f"{path} is writable by other users")


def _require_safe_parent(info: os.stat_result, path: str) -> None:
    if info.st_uid not in (0, os.geteuid()):
        raise StateUnavailable(f"{path} belongs to another user, who could replace the "
                               "state directory below it (give --state-dir)")
    if info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX:
        raise StateUnavailable(f"{path} is writable by other users, who could replace "
                               "the state directory below it (give --state-dir)")
