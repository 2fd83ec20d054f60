"""On-disk store of the previous snapshots: locked, atomic, private.

One small JSON file per (libvirt URI, domain UUID, check), named by a hash
of those (a VM name may hold `/`, `..`, quotes or anything else).  A run
holds an exclusive lock file for the whole read-sample-write cycle so that
concurrent runs of one service serialise.  Writes go to a temporary file
that is renamed over the old one, so a reader (or a run after a kill -9)
only ever sees a whole file.  Nothing is ever opened through a symlink; the
directory must belong to the running user and be writable by no one else.

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
PRUNE_EVERY = 3600.0
PRUNE_AFTER = 7 * 86400.0


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
    return passwd_home(euid) or f"/tmp/check_vm-{euid}"


def _make_private_directories(path: str) -> None:
    # makedirs gives missing parents (~/.local/state) the umask's mode, not
    # `mode`: under a daemon's umask of 0007 they would be group-writable.
    umask = os.umask(0o077)
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    finally:
        os.umask(umask)


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
        try:
            fd = os.open(self._name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC |
                         os.O_NONBLOCK, dir_fd=self._dir_fd)
        except OSError as error:
            if error.errno == errno.ELOOP:
                raise ValueError("the state file is a symlink") from None
            raise
        with os.fdopen(fd, "rb") as handle:
            info = os.fstat(handle.fileno())
            _require_private_file(info)
            raw = handle.read(MAX_STATE_BYTES + 1)
        if len(raw) > MAX_STATE_BYTES:
            raise ValueError("the state file is too large")
        return _parse_state(raw)

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


def _require_private_file(info: os.stat_result) -> None:
    if not stat.S_ISREG(info.st_mode):
        raise ValueError("the state file is not a regular file")
    if info.st_uid != os.geteuid():
        raise ValueError("the state file belongs to another user")


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
            _make_private_directories(self.directory)
            dir_fd = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW |
                             os.O_CLOEXEC)
        except OSError as error:
            raise StateUnavailable(f"{self.directory}: {error.strerror or error}") from None
        try:
            _require_private_directory(os.fstat(dir_fd), self.directory)
        except StateUnavailable:
            os.close(dir_fd)
            raise
        return dir_fd

    @contextlib.contextmanager
    def _locked(self, dir_fd: int, stem: str) -> Iterator[bool]:
        try:
            lock_fd = os.open(f"{stem}.lock", os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW |
                              os.O_CLOEXEC, 0o600, dir_fd=dir_fd)
        except OSError as error:
            self.notes.append(f"state not used: lock file: {error.strerror or error}")
            yield False
            return
        try:
            acquired = self._acquire(lock_fd)
            if not acquired:
                self.notes.append("state not used: another run held its lock too long")
            yield acquired
        finally:
            os.close(lock_fd)

    def _acquire(self, lock_fd: int) -> bool:
        deadline = self._clock() + self._lock_timeout
        while True:
            try:
                fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except BlockingIOError:
                if self._clock() >= deadline:
                    return False
                self._sleep(0.01)

    def _maybe_prune(self, dir_fd: int) -> None:
        """Now and then, drop the files of domains not checked for a week."""
        now = time.time()
        try:
            marker = os.stat(".pruned", dir_fd=dir_fd, follow_symlinks=False)
            if now - marker.st_mtime < PRUNE_EVERY:
                return
        except FileNotFoundError:
            pass
        except OSError:
            return
        with contextlib.suppress(OSError):
            os.close(os.open(".pruned", os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW |
                             os.O_CLOEXEC, 0o600, dir_fd=dir_fd))
            os.utime(".pruned", dir_fd=dir_fd, follow_symlinks=False)
            _prune_older_than(dir_fd, now - PRUNE_AFTER)


def _prune_older_than(dir_fd: int, cutoff: float) -> None:
    # Lock files stay: a run may hold one, and a new inode would split the lock.
    with os.scandir(dir_fd) as entries:
        for entry in entries:
            if not entry.name.endswith((".json", ".json.tmp")):
                continue
            with contextlib.suppress(OSError):
                if entry.stat(follow_symlinks=False).st_mtime < cutoff:
                    os.unlink(entry.name, dir_fd=dir_fd)


def _require_private_directory(info: os.stat_result, path: str) -> None:
    # A directory we did not create keeps its mode: it may be a home directory.
    if info.st_uid != os.geteuid():
        raise StateUnavailable(f"{path} belongs to another user")
    if info.st_mode & 0o022:
        raise StateUnavailable(f"{path} is writable by other users")
