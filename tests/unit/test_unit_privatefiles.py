"""Private files: the state directory's walk, private reads, the one atomic
writer, locks and the pruning timer (libcheck.privatefiles).

The tier runs as root, which bypasses permission bits, so "cannot write" is
simulated by making os.replace fail; ownership checks use chown, which root
may do.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import os
import stat
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest
from harness.fakes import FakeClock

from libcheck.privatefiles import (
    OPEN_TO_OTHERS,
    PRUNE_EVERY,
    WRITABLE_BY_OTHERS,
    PrivateFileError,
    acquire_lock,
    create_private_file,
    modified_before,
    names_in,
    open_private_directory,
    open_private_subdirectory,
    open_regular_file,
    poll_delays,
    prune_due,
    read_json,
    read_private,
    reason,
    replace_private_file,
    require_private,
    unlink_unheld_lock,
)

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")
OTHER_USER = 4242


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    """A private directory (not created yet: the walk creates it)."""
    return tmp_path / "state"


@contextlib.contextmanager
def opened(path: Path) -> Iterator[int]:
    """The descriptor of the private directory at `path`, closed afterwards."""
    fd = open_private_directory(str(path))
    try:
        yield fd
    finally:
        os.close(fd)


def why_refused(call: Callable[..., object], *args, **kwargs) -> str:
    """Why `call` refuses what it is given (the PrivateFileError's message)."""
    with pytest.raises(PrivateFileError) as refused:
        call(*args, **kwargs)
    return str(refused.value)


def refusal(path: Path) -> str:
    """Why the walk refuses `path`."""
    return why_refused(open_private_directory, str(path))


# -- the walk to the state directory ----------------------------------------------------------

def test_missing_directories_are_created_0700_whatever_the_umask(tmp_path):
    directory = tmp_path / "home" / ".local" / "state" / "check_vm"
    umask = os.umask(0o007)  # Icinga's unit runs its daemon so
    try:
        with opened(directory):
            pass
    finally:
        os.umask(umask)
    created = [tmp_path / "home", tmp_path / "home" / ".local", directory.parent, directory]
    assert [stat.S_IMODE(path.stat().st_mode) for path in created] == [0o700] * 4
    assert os.umask(umask) == umask  # the process's umask is back


def test_an_existing_directory_readable_by_others_is_used_and_left_as_it_is(directory):
    # It may be a home directory: only "writable by others" is refused.
    directory.mkdir()
    directory.chmod(0o755)
    with opened(directory) as fd:
        assert os.fstat(fd).st_ino == directory.stat().st_ino
    assert stat.S_IMODE(directory.stat().st_mode) == 0o755


def test_a_relative_path_is_walked_from_the_working_directory(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with opened(Path("state")):
        pass
    assert (tmp_path / "state").is_dir()


@pytest.mark.parametrize("mode", [0o777, 0o720, 0o702])
def test_a_directory_writable_by_others_is_refused(directory, mode):
    directory.mkdir()
    directory.chmod(mode)
    assert refusal(directory) == f"{directory} is writable by other users"


@as_root
def test_a_directory_of_another_user_is_refused(directory):
    directory.mkdir(mode=0o700)
    os.chown(directory, OTHER_USER, -1)
    assert refusal(directory) == f"{directory} belongs to another user"


def test_a_symlinked_directory_is_refused(directory, tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    directory.symlink_to(real)
    assert refusal(directory) == (f"{directory} is a symlink (the state directory is never "
                                  "reached through one)")
    assert os.listdir(real) == []


def test_a_symlink_above_the_directory_is_not_followed(tmp_path):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    (tmp_path / "link").symlink_to(real)
    directory = tmp_path / "link" / "state"
    assert refusal(directory) == (f"{directory}: {tmp_path / 'link'} is a symlink (the state "
                                  "directory is never reached through one)")
    assert os.listdir(real) == []


def test_a_symlink_above_an_existing_directory_is_not_followed(tmp_path):
    real = tmp_path / "real"
    (real / "state").mkdir(mode=0o700, parents=True)
    (tmp_path / "link").symlink_to(real)
    refusal(tmp_path / "link" / "state")
    assert os.listdir(real / "state") == []


def test_a_directory_that_cannot_be_created_is_refused_with_the_systems_words(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert refusal(blocker / "state") == f"{blocker / 'state'}: {blocker}: Not a directory"


def test_a_file_where_the_directory_should_be_is_refused(directory):
    directory.write_text("")
    assert refusal(directory) == f"{directory}: Not a directory"


@pytest.mark.parametrize("mode", [0o777, 0o775, 0o757])
def test_a_directory_above_that_others_can_write_is_refused(tmp_path, mode):
    # Another user could rename the state directory away and put their own there.
    parent = tmp_path / "shared"
    parent.mkdir()
    parent.chmod(mode)
    assert refusal(parent / "state") == (
        f"{parent} is writable by other users, who could replace the state directory below "
        "it (give --state-dir)")
    assert os.listdir(parent) == []


def test_a_sticky_directory_above_that_all_can_write_is_used_like_tmp(tmp_path):
    parent = tmp_path / "tmp"
    parent.mkdir()
    parent.chmod(0o1777)
    with opened(parent / "state"):
        pass
    assert stat.S_IMODE((parent / "state").stat().st_mode) == 0o700


@as_root
def test_a_directory_above_of_another_user_is_refused(tmp_path):
    parent = tmp_path / "theirs"
    parent.mkdir(mode=0o755)
    os.chown(parent, OTHER_USER, -1)
    assert refusal(parent / "state") == (
        f"{parent} belongs to another user, who could replace the state directory below it "
        "(give --state-dir)")


# -- directories below it ---------------------------------------------------------------------

@pytest.fixture
def parent(directory: Path) -> Iterator[int]:
    """The descriptor of the private directory, made and opened."""
    with opened(directory) as fd:
        yield fd


def subdirectory_refusal(parent_fd: int, create: bool = False) -> str:
    """Why the subdirectory "sub" is refused."""
    return why_refused(open_private_subdirectory, parent_fd, "sub", create=create)


def test_a_subdirectory_is_created_0700_and_opened_again(directory, parent):
    umask = os.umask(0)
    try:
        os.close(open_private_subdirectory(parent, "sub", create=True))
    finally:
        os.umask(umask)
    assert stat.S_IMODE((directory / "sub").stat().st_mode) == 0o700
    fd = open_private_subdirectory(parent, "sub")
    try:
        assert os.fstat(fd).st_ino == (directory / "sub").stat().st_ino
    finally:
        os.close(fd)


def test_a_missing_subdirectory_is_not_found_unless_created(parent):
    with pytest.raises(FileNotFoundError):
        open_private_subdirectory(parent, "sub")


@pytest.mark.parametrize("planted", ["symlink", "file"])
def test_a_symlink_or_file_in_place_of_a_subdirectory_is_refused(directory, parent, tmp_path,
                                                                 planted):
    real = tmp_path / "real"
    real.mkdir(mode=0o700)
    if planted == "symlink":
        (directory / "sub").symlink_to(real)
    else:
        (directory / "sub").write_text("")
    assert subdirectory_refusal(parent, create=True) == "sub is a symlink or not a directory"
    assert os.listdir(real) == []


@pytest.mark.parametrize(("mode", "why"), [(0o755, "is open to other users"),
                                           (0o750, "is open to other users"),
                                           (0o730, "is writable by other users")])
def test_a_subdirectory_open_to_others_is_refused(directory, parent, mode, why):
    (directory / "sub").mkdir()
    (directory / "sub").chmod(mode)
    assert subdirectory_refusal(parent) == f"sub {why}"


@as_root
def test_a_subdirectory_of_another_user_is_refused(directory, parent):
    (directory / "sub").mkdir(mode=0o700)
    os.chown(directory / "sub", OTHER_USER, -1)
    assert subdirectory_refusal(parent, create=True) == "sub belongs to another user"


def test_names_in_lists_every_entry(directory, parent):
    for name in ("a", ".hidden"):
        (directory / name).write_text("")
    (directory / "sub").mkdir()
    assert sorted(names_in(parent)) == [".hidden", "a", "sub"]


# -- owners and modes -------------------------------------------------------------------------

def stat_of(mode: int, uid: int) -> os.stat_result:
    return os.stat_result((stat.S_IFDIR | mode, 0, 0, 1, uid, 0, 0, 0, 0, 0))


@pytest.mark.parametrize(("mode", "uid", "refused", "why"), [
    (0o700, OTHER_USER, 0, "belongs to another user"),
    (0o777, OTHER_USER, OPEN_TO_OTHERS, "belongs to another user"),
    (0o702, None, WRITABLE_BY_OTHERS, "is writable by other users"),
    (0o770, None, OPEN_TO_OTHERS, "is writable by other users"),
    (0o704, None, OPEN_TO_OTHERS, "is open to other users"),
])
def test_require_private_says_what_is_wrong(mode, uid, refused, why):
    info = stat_of(mode, os.geteuid() if uid is None else uid)
    assert why_refused(require_private, info, "the thing", refused) == f"the thing {why}"


@pytest.mark.parametrize(("mode", "refused"), [(0o700, OPEN_TO_OTHERS), (0o755, WRITABLE_BY_OTHERS),
                                               (0o777, 0)])
def test_require_private_passes_what_is_the_users_and_closed_enough(mode, refused):
    require_private(stat_of(mode, os.geteuid()), "the thing", refused)


# -- reading ----------------------------------------------------------------------------------

LIMIT = 64


def read_refusal(parent_fd: int) -> str:
    """Why the file "f" is not read."""
    return why_refused(read_private, parent_fd, "f", LIMIT, "the file")


def test_a_private_file_up_to_the_limit_is_read(directory, parent):
    (directory / "f").write_bytes(b"x" * LIMIT)
    assert read_private(parent, "f", LIMIT, "the file") == b"x" * LIMIT


def test_a_file_over_the_limit_is_refused(directory, parent):
    (directory / "f").write_bytes(b"x" * (LIMIT + 1))
    assert read_refusal(parent) == "the file is too large"


def test_a_missing_file_is_not_found(parent):
    with pytest.raises(FileNotFoundError):
        read_private(parent, "f", LIMIT, "the file")


def test_a_symlink_is_not_followed(directory, parent, tmp_path):
    (tmp_path / "elsewhere").write_bytes(b"{}")
    (directory / "f").symlink_to(tmp_path / "elsewhere")
    assert read_refusal(parent) == "the file is a symlink"


def test_a_fifo_is_refused_without_blocking(directory, parent):
    os.mkfifo(directory / "f")
    started = time.monotonic()
    assert read_refusal(parent) == "the file is not a regular file"
    assert time.monotonic() - started < 1


def plant(path: Path, kind: str) -> None:
    """A FIFO, a character device (root only) or a directory at `path`."""
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "device":
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))  # /dev/null's numbers
    else:
        path.mkdir(mode=0o700)


SPECIAL = ["fifo", pytest.param("device", marks=as_root), "directory"]


@pytest.mark.parametrize("kind", SPECIAL)
def test_only_a_regular_file_is_opened_and_nothing_blocks(directory, parent, kind):
    plant(directory / "f", kind)
    started = time.monotonic()
    for flags in (os.O_RDONLY, os.O_WRONLY, os.O_RDWR, os.O_RDWR | os.O_CREAT):
        assert why_refused(open_regular_file, parent, "f", flags, "the file") == (
            "the file is not a regular file")
    assert time.monotonic() - started < 1


def test_a_regular_file_is_opened_with_the_flags_given(directory, parent):
    (directory / "f").write_bytes(b"old")
    fd = open_regular_file(parent, "f", os.O_WRONLY, "the file")
    try:
        os.write(fd, b"new")
    finally:
        os.close(fd)
    assert (directory / "f").read_bytes() == b"new"


def test_open_regular_file_never_follows_a_symlink(directory, parent, tmp_path):
    (tmp_path / "elsewhere").write_bytes(b"keep")
    (directory / "f").symlink_to(tmp_path / "elsewhere")
    assert why_refused(open_regular_file, parent, "f", os.O_RDWR, "the file") == (
        "the file is a symlink")
    assert (tmp_path / "elsewhere").read_bytes() == b"keep"


@as_root
def test_a_file_of_another_user_is_refused(directory, parent):
    (directory / "f").write_bytes(b"{}")
    os.chown(directory / "f", OTHER_USER, -1)
    assert read_refusal(parent) == "the file belongs to another user"


@pytest.mark.parametrize(("content", "why"), [
    (b"", "is not valid JSON"), (b'{"half', "is not valid JSON"),
    (b"\xff\xfe\x00", "is not valid JSON"), (b"[" * 100_000, "is nested too deeply")])
def test_a_file_that_is_not_json_is_refused(directory, parent, content, why):
    (directory / "f").write_bytes(content)
    assert why_refused(read_json, parent, "f", len(content) + 1, "the file") == f"the file {why}"


def test_a_json_file_is_parsed(directory, parent):
    (directory / "f").write_bytes(b'{"a": [1, 2.5, "\\u00e9"]}')
    assert read_json(parent, "f", LIMIT, "the file") == {"a": [1, 2.5, "é"]}


# -- writing ----------------------------------------------------------------------------------

def test_a_replaced_file_holds_the_payload_and_is_0600_whatever_the_umask(directory, parent):
    (directory / "f").write_bytes(b"old")
    umask = os.umask(0)
    try:
        replace_private_file(parent, "f", b"new")
    finally:
        os.umask(umask)
    assert (directory / "f").read_bytes() == b"new"
    assert stat.S_IMODE((directory / "f").stat().st_mode) == 0o600
    assert sorted(os.listdir(directory)) == ["f"]


def test_replacing_a_planted_symlink_leaves_its_target_alone(directory, parent, tmp_path):
    target = tmp_path / "precious"
    target.write_bytes(b"do not touch\n")
    target.chmod(0o644)
    (directory / "f").symlink_to(target)
    replace_private_file(parent, "f", b"new")
    assert stat.S_ISREG((directory / "f").lstat().st_mode)
    assert (directory / "f").read_bytes() == b"new"
    assert target.read_bytes() == b"do not touch\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o644


def test_a_killed_writers_temporary_file_does_not_break_the_write(directory, parent):
    leftover = directory / ".f.tmp"
    leftover.write_bytes(b'{"half a file')
    leftover.chmod(0o644)
    replace_private_file(parent, "f", b"new")
    assert (directory / "f").read_bytes() == b"new"
    assert not leftover.exists()


def test_a_temporary_symlink_is_removed_not_written_through(directory, parent, tmp_path):
    target = tmp_path / "precious"
    target.write_bytes(b"keep me")
    (directory / ".f.tmp").symlink_to(target)
    replace_private_file(parent, "f", b"new")
    assert target.read_bytes() == b"keep me"
    assert (directory / "f").read_bytes() == b"new"


def test_a_failed_replace_keeps_the_old_file_and_leaves_no_temporary(directory, parent,
                                                                     monkeypatch):
    (directory / "f").write_bytes(b"old")

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", no_space)
    with pytest.raises(OSError) as failure:
        replace_private_file(parent, "f", b"new")
    monkeypatch.undo()
    assert failure.value.errno == errno.ENOSPC
    assert sorted(os.listdir(directory)) == ["f"]
    assert (directory / "f").read_bytes() == b"old"


def open_files_named(path: Path) -> list[str]:
    """What this process's descriptors name at `path` (a freed name ends in "(deleted)")."""
    named = []
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target.startswith(str(path)):
                named.append(target)
    return named


def test_the_replaced_file_is_freed_after_the_rename_not_during_it(directory, parent,
                                                                   monkeypatch):
    (directory / "f").write_bytes(b"old")
    rename = os.replace
    held_at_the_rename: list[list[str]] = []

    def observed_rename(*args, **kwargs):
        rename(*args, **kwargs)
        held_at_the_rename.append(open_files_named(directory / "f"))

    monkeypatch.setattr(os, "replace", observed_rename)
    replace_private_file(parent, "f", b"new")
    assert held_at_the_rename == [[f"{directory / 'f'} (deleted)"]]
    assert open_files_named(directory / "f") == []
    assert (directory / "f").read_bytes() == b"new"


def test_a_write_unlinks_nothing_when_no_temporary_file_is_left(directory, parent,
                                                                monkeypatch):
    (directory / "f").write_bytes(b"old")
    unlinked: list[str] = []
    unlink = os.unlink

    def counted_unlink(name, *args, **kwargs):
        unlinked.append(name)
        unlink(name, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", counted_unlink)
    replace_private_file(parent, "f", b"new")
    replace_private_file(parent, "g", b"first")
    assert unlinked == []
    assert sorted(os.listdir(directory)) == ["f", "g"]


def test_a_new_file_is_0600_and_never_replaces_anything(directory, parent, tmp_path):
    create_private_file(parent, "f", b"new")
    assert stat.S_IMODE((directory / "f").stat().st_mode) == 0o600
    (directory / "link").symlink_to(tmp_path / "absent")
    for name in ("f", "link"):
        with pytest.raises(FileExistsError):
            create_private_file(parent, name, b"other")
    assert (directory / "f").read_bytes() == b"new"
    assert not (tmp_path / "absent").exists()


# -- locks ------------------------------------------------------------------------------------

@contextlib.contextmanager
def held_elsewhere(path: Path) -> Iterator[None]:
    """The lock file at `path` locked by another open file, as by another process."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def test_a_free_lock_is_taken_at_once_and_its_file_is_0600(directory, parent):
    clock = FakeClock()
    lock_fd = acquire_lock(parent, "x.lock", 5.0, clock.monotonic, clock.sleep)
    try:
        assert lock_fd is not None
        assert clock.sleeps == []
        assert stat.S_IMODE((directory / "x.lock").stat().st_mode) == 0o600
    finally:
        os.close(lock_fd)


def test_an_existing_lock_file_is_opened_without_the_right_to_create(directory, parent,
                                                                       monkeypatch):
    (directory / "x.lock").write_bytes(b"")
    flags_used: list[int] = []
    open_file = os.open

    def observed_open(name, flags, *args, **kwargs):
        flags_used.append(flags)
        return open_file(name, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", observed_open)
    lock_fd = acquire_lock(parent, "x.lock", 5.0)
    monkeypatch.undo()
    try:
        assert lock_fd is not None
        assert flags_used and not any(flags & os.O_CREAT for flags in flags_used)
    finally:
        os.close(lock_fd)


def test_a_held_lock_is_given_up_at_the_timeout_after_pauses_that_grow(directory, parent):
    clock = FakeClock()
    started = clock.mono
    with held_elsewhere(directory / "x.lock"):
        assert acquire_lock(parent, "x.lock", 1.0, clock.monotonic, clock.sleep) is None
    assert clock.mono - started == pytest.approx(1.0)  # the last attempt at the deadline
    assert 0.01 <= clock.sleeps[0] < 0.0121
    assert max(clock.sleeps) < 0.121
    assert 9 <= len(clock.sleeps) <= 13


def test_the_pauses_between_attempts_double_to_a_tenth_of_a_second_with_jitter():
    bases = [0.01, 0.02, 0.04, 0.08] + [0.1] * 20
    for _ in range(20):
        pauses = list(itertools.islice(poll_delays(), len(bases)))
        assert all(base <= pause < base * 1.2 for base, pause in zip(bases, pauses)), pauses
    runs = {tuple(itertools.islice(poll_delays(), 8)) for _ in range(10)}
    assert len(runs) == 10  # waiters started together do not wake together


def test_a_lock_let_go_while_waiting_is_taken(directory, parent):
    clock = FakeClock()
    holder = os.open(directory / "x.lock", os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)

    def holder_lets_go(seconds: float) -> None:
        clock.sleep(seconds)
        os.close(holder)

    lock_fd = acquire_lock(parent, "x.lock", 5.0, clock.monotonic, holder_lets_go)
    assert lock_fd is not None
    os.close(lock_fd)
    assert len(clock.sleeps) == 1


def test_a_lock_file_unlinked_while_waiting_is_opened_again(directory, parent):
    # The inode we opened is no lock once unlinked: a third process would
    # open and lock the new file at the path.
    lock = directory / "x.lock"
    holder = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    fcntl.flock(holder, fcntl.LOCK_EX)

    def holder_unlinks_and_lets_go(_seconds: float) -> None:
        lock.unlink()
        os.close(holder)

    lock_fd = acquire_lock(parent, "x.lock", 5.0, sleep=holder_unlinks_and_lets_go)
    try:
        assert os.fstat(lock_fd).st_ino == lock.stat().st_ino
        assert acquire_lock(parent, "x.lock", 0.0) is None
    finally:
        os.close(lock_fd)


def test_a_symlink_at_the_lock_path_is_not_followed(directory, parent, tmp_path):
    target = tmp_path / "precious"
    target.write_bytes(b"keep me")
    (directory / "x.lock").symlink_to(target)
    with pytest.raises(OSError) as failure:
        acquire_lock(parent, "x.lock", 0.0)
    assert failure.value.errno == errno.ELOOP
    assert target.read_bytes() == b"keep me"


@pytest.mark.parametrize("kind", ["fifo", pytest.param("device", marks=as_root)])
def test_a_fifo_or_device_at_the_lock_path_is_replaced_by_a_lock_file(directory, parent, kind):
    plant(directory / "x.lock", kind)
    started = time.monotonic()
    lock_fd = acquire_lock(parent, "x.lock", 0.0)
    try:
        assert lock_fd is not None
        assert time.monotonic() - started < 1
        assert stat.S_ISREG(os.fstat(lock_fd).st_mode)
        assert os.fstat(lock_fd).st_ino == (directory / "x.lock").stat().st_ino
        assert stat.S_IMODE((directory / "x.lock").stat().st_mode) == 0o600
    finally:
        os.close(lock_fd)


def test_a_fifo_at_the_lock_path_that_another_run_holds_is_waited_for(directory, parent):
    # While another run removes it (holding it, as pruning does), ours must wait,
    # then lock the file that run left at the path: never a lock of its own beside it.
    os.mkfifo(directory / "x.lock", 0o600)
    clock = FakeClock()
    with held_elsewhere(directory / "x.lock"):
        assert acquire_lock(parent, "x.lock", 0.05, clock.monotonic, clock.sleep) is None
    assert stat.S_ISFIFO((directory / "x.lock").lstat().st_mode)


def test_a_directory_at_the_lock_path_is_an_os_error(directory, parent):
    (directory / "x.lock").mkdir()
    with pytest.raises(IsADirectoryError):
        acquire_lock(parent, "x.lock", 0.0)


def test_an_unheld_lock_file_is_unlinked_and_a_held_one_stays(directory, parent):
    (directory / "free.lock").write_text("")
    unlink_unheld_lock("free.lock", parent)
    assert not (directory / "free.lock").exists()
    with held_elsewhere(directory / "held.lock"):
        with pytest.raises(BlockingIOError):
            unlink_unheld_lock("held.lock", parent)
        assert (directory / "held.lock").exists()


# -- the pruning timer ------------------------------------------------------------------------

def age(path: Path, seconds: float) -> None:
    then = time.time() - seconds
    os.utime(path, (then, then), follow_symlinks=False)


def test_pruning_is_due_at_first_then_not_again_within_the_hour(directory, parent):
    assert prune_due(parent, ".pruned")
    assert stat.S_IMODE((directory / ".pruned").stat().st_mode) == 0o600
    assert not prune_due(parent, ".pruned")
    age(directory / ".pruned", PRUNE_EVERY - 60)
    assert not prune_due(parent, ".pruned")


def test_pruning_is_due_again_after_an_hour_and_the_marker_is_touched(directory, parent):
    (directory / ".pruned").write_text("")
    age(directory / ".pruned", PRUNE_EVERY + 1)
    assert prune_due(parent, ".pruned")
    assert time.time() - (directory / ".pruned").stat().st_mtime < 60


def test_a_symlink_as_the_marker_is_replaced_never_followed(directory, parent, tmp_path):
    (directory / ".pruned").symlink_to(tmp_path / "absent")
    assert prune_due(parent, ".pruned")
    assert not (tmp_path / "absent").exists()
    assert stat.S_ISREG((directory / ".pruned").lstat().st_mode)
    assert not prune_due(parent, ".pruned")


@pytest.mark.parametrize("kind", ["fifo", pytest.param("device", marks=as_root)])
@pytest.mark.parametrize("seconds", [0, PRUNE_EVERY + 1], ids=["new", "old"])
def test_a_fifo_or_device_as_the_marker_is_replaced_without_blocking(directory, parent, kind,
                                                                      seconds):
    plant(directory / ".pruned", kind)
    age(directory / ".pruned", seconds)
    started = time.monotonic()
    assert prune_due(parent, ".pruned")
    assert time.monotonic() - started < 1
    info = (directory / ".pruned").lstat()
    assert stat.S_ISREG(info.st_mode) and stat.S_IMODE(info.st_mode) == 0o600
    assert not prune_due(parent, ".pruned")


def test_a_directory_as_the_marker_makes_pruning_never_due(directory, parent):
    (directory / ".pruned").mkdir()
    age(directory / ".pruned", PRUNE_EVERY + 1)
    assert not prune_due(parent, ".pruned")
    assert (directory / ".pruned").is_dir()


def test_of_runs_that_find_no_marker_only_the_one_that_creates_it_prunes(directory, parent):
    assert prune_due(parent, ".pruned")
    (directory / ".pruned").unlink()
    create_private_file(parent, ".pruned", b"")  # another run got there first
    assert not prune_due(parent, ".pruned")


def test_modified_before_compares_the_files_own_time(directory, parent):
    (directory / "old").write_text("")
    age(directory / "old", 100)
    (directory / "new").write_text("")
    cutoff = time.time() - 50
    assert modified_before("old", parent, cutoff)
    assert not modified_before("new", parent, cutoff)
    assert not modified_before("absent", parent, cutoff)


# -- how a problem is worded ------------------------------------------------------------------

def test_an_os_error_is_worded_by_the_systems_message_alone():
    error = OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/var/lib/check_vm/x.json")
    assert reason(error) == "No space left on device"
    assert reason(OSError("no number")) == "no number"
    assert reason(PrivateFileError("it is too large")) == "it is too large"
