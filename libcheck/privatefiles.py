"""Private files: what the state store and the host snapshot keep on disk
goes through here.

Nothing is ever opened through a symlink, at any component of its path.  The
state directory is opened from / one directory at a time; it must belong to
the running user and be writable by no one else, and so must every directory
above it (root may own those, and a sticky one such as /tmp may be writable by
all).  Below it, files and directories are opened relative to their parent's
descriptor, must be the running user's, and are created 0600 (files) or 0700
(directories).  A file is replaced by writing a temporary file and renaming it
over the old one, so a reader only ever sees a whole file.  Lock files
serialise writers (a waiter tries again after pauses that grow from 10 to
100 ms); a marker file times an hourly pruning.

An existing file is only ever opened non-blocking and used only once fstat
says it is a regular file: a FIFO or a device planted at one of our names
can neither hang a run nor be read, written or locked.  A FIFO or device
at a lock file's name, or anything but a regular file at a marker's, is
replaced by a regular file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import stat
import time

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, Iterator, Optional

PRUNE_EVERY = 3600.0
PRUNE_AFTER = 7 * 86400.0
# Mode bits of other users (group or world) that make a file or directory not private.
WRITABLE_BY_OTHERS = 0o022
OPEN_TO_OTHERS = 0o077
# The first and the longest pause between attempts at a lock another process holds.
FIRST_POLL = 0.01
LONGEST_POLL = 0.1

DIRECTORY_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_WALK_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_NEW_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
# O_NONBLOCK: opening a FIFO (or some devices) would otherwise wait for a peer.
_EXISTING_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK
_LOCK_FLAGS = os.O_RDWR | os.O_CREAT | _EXISTING_FLAGS
# What open says of a name that is no file to open: a socket, a device without a driver.
_UNOPENABLE = frozenset({errno.ENXIO, errno.ENODEV, errno.EOPNOTSUPP})


class PrivateFileError(ValueError):
    """A file or directory that cannot be used as a private one; the message
    says why, in words fit for a note."""


def reason(problem: Exception) -> str:
    """How a problem with a private file reads in a note: an OSError by the
    system's message alone (its number and file name say nothing more)."""
    if isinstance(problem, OSError):
        return problem.strerror or str(problem)
    return str(problem)


# -- directories -----------------------------------------------------------------------

def open_private_directory(path: str) -> int:
    """Open the state directory from / one component at a time, never through a
    symlink, creating what is missing with mode 0700 (whatever the umask).

    Every directory on the way must belong to root or to the running user and
    be writable by no one else (a sticky one such as /tmp excepted): anyone
    else could swap what lies below it.  The directory itself must belong to
    the running user.  Raises PrivateFileError with the reason.
    """
    umask = os.umask(0o077)
    try:
        return _walk(os.path.abspath(path))
    except OSError as error:
        raise PrivateFileError(f"{path}: {reason(error)}") from None
    finally:
        os.umask(umask)


def _walk(path: str) -> int:
    names = [name for name in path.split("/") if name]
    fd, walked = os.open("/", _WALK_FLAGS if names else DIRECTORY_FLAGS), "/"
    try:
        for position, name in enumerate(names):
            _require_safe_parent(os.fstat(fd), walked)
            walked = os.path.join(walked, name)
            last = position == len(names) - 1
            next_fd = _open_component(fd, name, DIRECTORY_FLAGS if last else _WALK_FLAGS,
                                      path, walked)
            os.close(fd)
            fd = next_fd
        # A directory we did not create keeps its mode: it may be a home directory.
        require_private(os.fstat(fd), path, WRITABLE_BY_OTHERS)
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
            raise PrivateFileError(f"{where} is a symlink (the state directory is never "
                                   "reached through one)") from None
        raise PrivateFileError(f"{where}: {reason(error)}") from None


def open_private_subdirectory(parent_fd: int, name: str, create: bool = False) -> int:
    """The directory `name` below `parent_fd`, opened without following a
    symlink; it must be the running user's and closed to others (0700).
    With `create`, a missing one is made.  PrivateFileError otherwise, OSError
    where it cannot be opened."""
    try:
        fd = (_open_or_create(parent_fd, name, DIRECTORY_FLAGS) if create
              else os.open(name, DIRECTORY_FLAGS, dir_fd=parent_fd))
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.ENOTDIR):
            raise PrivateFileError(f"{name} is a symlink or not a directory") from None
        raise
    try:
        require_private(os.fstat(fd), name, OPEN_TO_OTHERS)
    except PrivateFileError:
        os.close(fd)
        raise
    return fd


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


def names_in(dir_fd: int) -> list[str]:
    """The names of the entries of an open directory."""
    with os.scandir(dir_fd) as entries:
        return [entry.name for entry in entries]


# -- owners and modes ------------------------------------------------------------------

def require_private(info: os.stat_result, what: str, refused_mode: int = 0) -> None:
    """Raise PrivateFileError unless `what` (described by `info`) belongs to the
    running user and grants other users none of the bits of `refused_mode`."""
    if info.st_uid != os.geteuid():
        raise PrivateFileError(f"{what} belongs to another user")
    if info.st_mode & refused_mode & WRITABLE_BY_OTHERS:
        raise PrivateFileError(f"{what} is writable by other users")
    if info.st_mode & refused_mode:
        raise PrivateFileError(f"{what} is open to other users")


def _require_safe_parent(info: os.stat_result, path: str) -> None:
    if info.st_uid not in (0, os.geteuid()):
        raise PrivateFileError(f"{path} belongs to another user, who could replace the "
                               "state directory below it (give --state-dir)")
    if info.st_mode & WRITABLE_BY_OTHERS and not info.st_mode & stat.S_ISVTX:
        raise PrivateFileError(f"{path} is writable by other users, who could replace "
                               "the state directory below it (give --state-dir)")


# -- reading and writing ---------------------------------------------------------------

def read_private(dir_fd: int, name: str, limit: int, what: str) -> bytes:
    """The bytes of `name` in the directory, if it is a regular file of the
    running user of at most `limit` bytes, reached without a symlink;
    PrivateFileError (saying `what` is wrong) otherwise, OSError where it
    cannot be opened.  A FIFO planted there does not block the read."""
    fd = open_regular_file(dir_fd, name, os.O_RDONLY, what)
    with os.fdopen(fd, "rb") as handle:
        require_private(os.fstat(handle.fileno()), what)
        raw = handle.read(limit + 1)
    if len(raw) > limit:
        raise PrivateFileError(f"{what} is too large")
    return raw


def read_json(dir_fd: int, name: str, limit: int, what: str) -> Any:
    """The JSON document in the private file `name` (see read_private);
    ValueError, saying `what` is wrong, for a file that is not JSON."""
    raw = read_private(dir_fd, name, limit, what)
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise PrivateFileError(f"{what} is not valid JSON") from None
    except ValueError:  # an integer past the interpreter's limit on digits
        raise PrivateFileError(f"{what} holds a number of too many digits") from None
    except RecursionError:
        raise PrivateFileError(f"{what} is nested too deeply") from None


def open_regular_file(dir_fd: int, name: str, flags: int, what: str) -> int:
    """Open `name` in the directory with `flags`, never through a symlink and
    never blocking; its descriptor if it is a regular file.  PrivateFileError
    (saying `what` is wrong) for a symlink, a FIFO, a device or a directory;
    OSError where it cannot be opened."""
    try:
        fd = os.open(name, flags | _EXISTING_FLAGS, 0o600, dir_fd=dir_fd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise PrivateFileError(f"{what} is a symlink") from None
        # A directory opened for writing; a FIFO without a reader, a device without one.
        if error.errno in (errno.EISDIR, errno.ENXIO, errno.ENODEV):
            raise PrivateFileError(f"{what} is not a regular file") from None
        raise
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise PrivateFileError(f"{what} is not a regular file")
    return fd


def create_private_file(dir_fd: int, name: str, payload: bytes) -> None:
    """Write `payload` to the new file `name`, mode 0600; FileExistsError when
    anything, a symlink too, stands there already."""
    fd = os.open(name, _NEW_FILE_FLAGS, 0o600, dir_fd=dir_fd)
    # No fsync: the rename alone keeps readers from a torn file, and the empty
    # file a power loss might leave is discarded like any unreadable one;
    # 2000 runs a minute should not mean 2000 disk flushes.
    with os.fdopen(fd, "wb") as handle:
        handle.write(payload)


def replace_private_file(dir_fd: int, name: str, payload: bytes) -> None:
    """Replace `name` by a file of `payload`, mode 0600, atomically: a reader
    sees the old file or the new one, whole.  The caller holds the lock of
    `name`, so a temporary file left there is a killed writer's.  A symlink at
    `name` is replaced, never written through.  OSError when it fails, and
    then nothing is left behind."""
    temporary = f".{name}.tmp"
    try:
        _create_temporary(dir_fd, temporary, payload)
        replaced = _held_for_the_rename(dir_fd, name)
        try:
            os.replace(temporary, name, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        finally:
            if replaced is not None:
                os.close(replaced)
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=dir_fd)
        raise


def _create_temporary(dir_fd: int, temporary: str, payload: bytes) -> None:
    """Create the temporary file, removing a killed writer's first.  Removed
    only when it is there: every unlink locks the directory, and every run
    writes in it."""
    try:
        create_private_file(dir_fd, temporary, payload)
    except FileExistsError:
        os.unlink(temporary, dir_fd=dir_fd)
        create_private_file(dir_fd, temporary, payload)


def _held_for_the_rename(dir_fd: int, name: str) -> Optional[int]:
    """A path descriptor of what `name` holds now (never opening the file
    itself), or None.

    A rename frees the file it replaces while it holds the directory's lock;
    freeing a file can be slow (on ext4 without a journal mounted with
    `discard`, a synchronous discard of its blocks), and every other run's
    create, rename or unlink in the directory waits for it.  Held open across
    the rename, the file is freed when this descriptor closes, outside the
    lock.
    """
    try:
        return os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd)
    except OSError:
        return None


# -- locks -----------------------------------------------------------------------------

def acquire_lock(dir_fd: int, name: str, timeout: float,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> Optional[int]:
    """Open and lock the lock file `name`: its descriptor, or None when another
    process held it for `timeout` seconds.  Closing the descriptor unlocks.
    The last attempt is made at the deadline, between them the pauses of
    `poll_delays`."""
    deadline = clock() + timeout
    delays = poll_delays()
    while True:
        lock_fd = try_lock(dir_fd, name)
        if lock_fd is not None:
            return lock_fd
        remaining = deadline - clock()
        if remaining <= 0:
            return None
        sleep(min(next(delays), remaining))


def poll_delays() -> Iterator[float]:
    """The pauses between attempts at something another process holds: 10 ms,
    doubling up to 100 ms, each stretched by up to a fifth at random.  Many
    waiters then cost little CPU and do not wake in step."""
    delay = FIRST_POLL
    while True:
        yield delay * (1 + _jitter() / 5)
        delay = min(2 * delay, LONGEST_POLL)


def _jitter() -> float:
    """A fraction in [0, 1) from the kernel's random bytes."""
    return int.from_bytes(os.urandom(2), "little") / 65536


def try_lock(dir_fd: int, name: str) -> Optional[int]:
    """One attempt at the lock file `name`: its descriptor, locked, or None
    while another process holds it.  Closing the descriptor unlocks.

    Pruning may unlink a lock file between our open and our lock; that inode
    is then no lock at all, so the file is opened and locked again.  A FIFO or
    device at the name is no lock either: it is locked, removed while held
    (as pruning removes a lock file) and a lock file made in its place.
    """
    while True:
        lock_fd = _open_lock(dir_fd, name)
        if lock_fd is None:
            continue
        try:
            if not _locked_at_once(lock_fd):
                os.close(lock_fd)
                return None
            if _still_linked(lock_fd, name, dir_fd):
                if stat.S_ISREG(os.fstat(lock_fd).st_mode):
                    return lock_fd
                os.unlink(name, dir_fd=dir_fd)
        except BaseException:
            os.close(lock_fd)
            raise
        os.close(lock_fd)


def _open_lock(dir_fd: int, name: str) -> Optional[int]:
    """The lock file's descriptor; None after removing what stood at its name
    and cannot be opened at all (a socket, a device without a driver)."""
    try:
        return _open_lock_file(dir_fd, name)
    except OSError as error:
        if error.errno not in _UNOPENABLE:
            raise
        with contextlib.suppress(FileNotFoundError):
            if stat.S_ISREG(os.lstat(name, dir_fd=dir_fd).st_mode):
                raise
            os.unlink(name, dir_fd=dir_fd)
        return None


def _open_lock_file(dir_fd: int, name: str) -> int:
    """The lock file opened, created only when it is missing: an open that
    may create locks the directory even when the file exists (Linux before
    6.12, as in Debian 12), and every run opens its lock."""
    try:
        return os.open(name, _LOCK_FLAGS & ~os.O_CREAT, dir_fd=dir_fd)
    except FileNotFoundError:
        return os.open(name, _LOCK_FLAGS, 0o600, dir_fd=dir_fd)


def _locked_at_once(lock_fd: int) -> bool:
    try:
        fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def unlink_unheld_lock(name: str, dir_fd: int) -> None:
    """Remove a lock file unless a run holds it, holding it while it goes.

    A run that opened it just before waits for our lock, then finds the file
    unlinked and takes a new one (acquire_lock): the lock never splits.
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


# -- pruning ---------------------------------------------------------------------------

def prune_due(dir_fd: int, marker: str) -> bool:
    """Whether the pruning that `marker` times is due (at most hourly); if so,
    the marker is touched, so that concurrent runs leave it to this one.

    The marker is never opened: it is created new, or its time is set.  What
    is not a regular file at its name (a symlink, a FIFO, a device) counts as
    no marker and is replaced by one.
    """
    try:
        info = os.stat(marker, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return _create_marker(dir_fd, marker)
    except OSError:
        return False
    if not stat.S_ISREG(info.st_mode):
        try:
            os.unlink(marker, dir_fd=dir_fd)
        except FileNotFoundError:
            pass
        except OSError:
            return False
        return _create_marker(dir_fd, marker)
    if time.time() - info.st_mtime < PRUNE_EVERY:
        return False
    try:
        os.utime(marker, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        return False
    return True


def _create_marker(dir_fd: int, marker: str) -> bool:
    """Create the marker: True for the one run that does, pruning is then its job."""
    try:
        create_private_file(dir_fd, marker, b"")
    except OSError:
        return False
    return True


def modified_before(name: str, dir_fd: int, cutoff: float) -> bool:
    """Whether `name` in the directory was last modified before `cutoff`."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mtime < cutoff
    except OSError:
        return False
