"""The on-disk state store: private, atomic, locked, and never fatal (libcheck.state).

What a private file or directory must be, and how it is written, is tested
with the layer that decides it (test_unit_privatefiles.py); here, what the
store makes of it.  The tier runs as root, which bypasses permission bits, so
"cannot write" is simulated by making os.replace fail; ownership checks use
chown, which root may do.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import re
import stat
import threading
import time
from pathlib import Path

import pytest
from harness.fakes import FakeClock

from libcheck import state as state_module
from libcheck.privatefiles import PRUNE_AFTER
from libcheck.rates import Snapshot
from libcheck.state import (
    MAX_STATE_BYTES,
    STATE_FORMAT,
    SYSTEM_STATE_DIR,
    StateStore,
    default_state_dir,
    state_key,
)

STEM = "cpu-0123456789abcdef0123456789abcdef"
FIRST = Snapshot(1000.0, 4, {"": {"time": 1e9}, "vcpu0": {"time": 5e8}})
SECOND = Snapshot(1010.0, 4, {"": {"time": 2e9}, "vcpu0": {"time": 9e8}})

as_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


@pytest.fixture
def directory(tmp_path: Path) -> Path:
    """The state directory (not created yet: the store creates it)."""
    return tmp_path / "state"


def save(directory: Path, snapshots, **kwargs) -> list[str]:
    """Save through a fresh store; return its notes."""
    store = StateStore(str(directory), **kwargs)
    with store.slot(STEM) as slot:
        assert slot is not None, store.notes
        slot.save(snapshots)
    return store.notes


def load(directory: Path) -> tuple[list[Snapshot], list[str]]:
    """Load through a fresh store; return the snapshots and its notes."""
    store = StateStore(str(directory))
    with store.slot(STEM) as slot:
        assert slot is not None, store.notes
        return slot.load(), store.notes


def plant(directory: Path, content: bytes) -> Path:
    """Put `content` where the state file goes, in a private directory."""
    directory.mkdir(mode=0o700, exist_ok=True)
    path = directory / f"{STEM}.json"
    path.write_bytes(content)
    return path


def valid_state(*snapshots: Snapshot) -> bytes:
    return json.dumps({"format": STATE_FORMAT,
                       "snapshots": [item.to_json() for item in snapshots]}).encode()


# -- the ordinary cycle -------------------------------------------------------------

def test_saved_snapshots_load_back_equal(directory):
    assert save(directory, [FIRST, SECOND]) == []
    assert load(directory) == ([FIRST, SECOND], [])


def test_the_boot_time_and_boot_id_are_stored_and_load_back(directory):
    timed = FIRST._replace(boot_time=512.25, boot_id="b76ed0a8-8958-4e8f-8872-e0a1d3221b68")
    save(directory, [timed])
    stored = json.loads((directory / f"{STEM}.json").read_bytes())["snapshots"][0]
    assert (stored["boot_time"], stored["boot_id"]) == (512.25, timed.boot_id)
    assert load(directory) == ([timed], [])


def test_a_file_of_an_earlier_version_loads_without_a_note_and_without_boot_times(directory):
    # Same format string: the boot-time fields are optional, not a new format.
    plant(directory, json.dumps({"format": STATE_FORMAT, "snapshots": [
        {"wall_time": 1000.0, "domain_id": 4, "counters": {"": {"time": 1e9}}}]}).encode())
    snapshots, notes = load(directory)
    assert notes == []
    assert [(item.boot_time, item.boot_id) for item in snapshots] == [(None, None)]


def test_a_missing_state_file_is_no_state_and_no_note(directory):
    assert load(directory) == ([], [])


def test_a_new_save_replaces_the_old_snapshots(directory):
    save(directory, [FIRST])
    save(directory, [SECOND])
    assert load(directory)[0] == [SECOND]


def test_the_state_file_and_lock_are_0600_and_the_directory_0700(directory):
    save(directory, [FIRST])
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    assert stat.S_IMODE((directory / f"{STEM}.json").stat().st_mode) == 0o600
    assert stat.S_IMODE((directory / f"{STEM}.lock").stat().st_mode) == 0o600


def test_nothing_but_the_state_lock_and_prune_marker_is_left_behind(directory):
    save(directory, [FIRST])
    assert sorted(os.listdir(directory)) == [".pruned", f"{STEM}.json", f"{STEM}.lock"]


# -- corrupt or foreign files ----------------------------------------------------------

@pytest.mark.parametrize(("content", "reason"), [
    (b"", "not valid JSON"),
    (valid_state(FIRST)[:-7], "not valid JSON"),
    (b"\xff\xfe\x00garbage", "not valid JSON"),
    (b'{"format": "check_vm-state/0", "snapshots": []}', "not in this version's format"),
    (b"[1, 2, 3]", "not in this version's format"),
    (b'{"format": "check_vm-state/1", "snapshots": {}}', "holds no snapshot list"),
    (b'{"format": "check_vm-state/1", "snapshots": [{"wall_time": "x"}]}',
     "no valid time"),
    (b'{"format": "check_vm-state/1", "snapshots": [{"wall_time": 1, "domain_id": 1, '
     b'"counters": {"": {"time": NaN}}}]}', "not numbers"),
    (b'{"format": "check_vm-state/1", "snapshots": [{"wall_time": 1, "domain_id": 1, '
     b'"counters": {}, "boot_time": "late"}]}', "invalid boot time"),
    (b" " * (MAX_STATE_BYTES + 1), "too large"),
], ids=["empty", "truncated", "binary", "other-format", "a-list", "no-list",
        "bad-snapshot", "nan-counter", "bad-boot-time", "over-1MiB"])
def test_a_corrupt_state_file_is_discarded_with_a_note_and_the_run_goes_on(
        directory, content, reason):
    plant(directory, content)
    snapshots, notes = load(directory)
    assert snapshots == []
    assert len(notes) == 1
    assert notes[0].startswith("previous state discarded: ")
    assert reason in notes[0]
    assert save(directory, [SECOND]) == []
    assert load(directory) == ([SECOND], [])


def with_counter(value) -> bytes:
    """A state file of the right shape whose newest snapshot holds `value` as a counter."""
    document = json.loads(valid_state(FIRST, SECOND))
    document["snapshots"][-1]["counters"]["vcpu0"]["time"] = value
    return json.dumps(document).encode()


@pytest.mark.parametrize(("value", "why"), [
    (-10**17, "a counter is negative"), (2**64, "a counter is beyond 64 bits"),
    (10**400, "a counter is beyond 64 bits"), (1.5, "a counter is not a whole number")],
    ids=["negative", "2**64", "10**400", "fractional"])
def test_a_state_file_with_a_counter_out_of_range_counts_as_absent_and_is_replaced(
        directory, value, why):
    plant(directory, with_counter(value))
    assert load(directory) == ([], [f"previous sample unusable: {why} (this run does "
                                    "without it)"])
    assert save(directory, [SECOND]) == []
    assert load(directory) == ([SECOND], [])


@pytest.mark.parametrize("kind", ["fifo", pytest.param("device", marks=as_root)])
def test_a_fifo_or_device_as_the_state_file_counts_as_absent(directory, kind):
    directory.mkdir(mode=0o700)
    path = directory / f"{STEM}.json"
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    else:
        os.mknod(path, 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    assert load(directory) == ([], ["previous state discarded: the state file is not a "
                                    "regular file"])
    assert save(directory, [SECOND]) == []
    assert load(directory) == ([SECOND], [])


def test_a_fifo_at_the_lock_path_is_replaced_and_the_slot_used(directory):
    directory.mkdir(mode=0o700)
    os.mkfifo(directory / f"{STEM}.lock", 0o600)
    assert save(directory, [FIRST]) == []
    assert stat.S_ISREG((directory / f"{STEM}.lock").lstat().st_mode)
    assert load(directory) == ([FIRST], [])


@pytest.mark.parametrize("marker_age", [0, PRUNE_AFTER])
def test_a_fifo_as_the_pruning_marker_is_replaced_without_blocking(directory, marker_age):
    directory.mkdir(mode=0o700)
    os.mkfifo(directory / ".pruned", 0o600)
    age(directory / ".pruned", marker_age)
    started = time.monotonic()
    assert save(directory, [FIRST]) == []
    assert time.monotonic() - started < 1
    assert stat.S_ISREG((directory / ".pruned").lstat().st_mode)


def test_a_state_file_of_exactly_the_size_limit_is_still_read(directory):
    content = valid_state(FIRST)
    plant(directory, content + b" " * (MAX_STATE_BYTES - len(content)))
    assert load(directory) == ([FIRST], [])


# -- files and directories refused -----------------------------------------------------

def test_a_symlink_at_the_state_path_is_not_followed_on_load(directory, tmp_path):
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_bytes(valid_state(FIRST))
    directory.mkdir(mode=0o700)
    (directory / f"{STEM}.json").symlink_to(elsewhere)
    snapshots, notes = load(directory)
    assert snapshots == []
    assert notes == ["previous state discarded: the state file is a symlink"]


def test_a_symlink_at_the_lock_path_is_not_followed(directory, tmp_path):
    target = tmp_path / "precious"
    target.write_bytes(b"keep me")
    directory.mkdir(mode=0o700)
    (directory / f"{STEM}.lock").symlink_to(target)
    store = StateStore(str(directory))
    with store.slot(STEM) as slot:
        assert slot is None
    assert store.notes == ["state not used: lock file: Too many levels of symbolic links"]
    assert target.read_bytes() == b"keep me"


def unusable(directory: Path) -> list[str]:
    """The notes of a store that must refuse `directory`."""
    store = StateStore(str(directory))
    with store.slot(STEM) as slot:
        assert slot is None
    return store.notes


def test_a_refused_directory_is_a_note_and_takes_no_lock(directory):
    directory.mkdir()
    directory.chmod(0o777)
    store = StateStore(str(directory))
    with store.slot(STEM) as slot:
        assert slot is None
    note = f"state not used: {directory} is writable by other users"
    assert (store.notes, store.trouble) == ([note], note)
    assert os.listdir(directory) == []


def test_a_directory_that_cannot_be_opened_is_a_note_in_the_systems_words(directory):
    directory.write_text("")
    assert unusable(directory) == [f"state not used: {directory}: Not a directory"]


def test_a_full_disk_leaves_a_note_the_old_state_and_no_temporary_file(directory,
                                                                        monkeypatch):
    save(directory, [FIRST])

    def no_space(*_args, **_kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "replace", no_space)
    notes = save(directory, [SECOND])
    monkeypatch.undo()
    assert notes == ["state not saved: No space left on device"]
    assert load(directory) == ([FIRST], [])
    assert not (directory / f".{STEM}.json.tmp").exists()


# -- the lock ---------------------------------------------------------------------------------

@pytest.fixture
def held_slot(directory):
    """Another run (a thread) holds the slot until the test lets it go."""
    holding, release = threading.Event(), threading.Event()
    outcome = {}

    def hold() -> None:
        store = StateStore(str(directory))
        with store.slot(STEM) as slot:
            outcome["slot"] = slot
            holding.set()
            release.wait(5)
            slot.save([FIRST])

    thread = threading.Thread(target=hold, daemon=True)
    thread.start()
    assert holding.wait(5)
    assert outcome["slot"] is not None

    def let_go() -> None:
        release.set()
        thread.join(5)

    yield let_go
    let_go()


def test_a_second_run_gives_up_on_a_held_lock_with_a_note(directory, held_slot):
    clock = FakeClock()
    started = time.monotonic()
    waiter = StateStore(str(directory), lock_timeout=0.05, clock=clock.monotonic,
                        sleep=clock.sleep)
    with waiter.slot(STEM) as slot:
        assert slot is None
    assert waiter.notes == ["state not used: another run held its lock too long"]
    assert clock.sleeps and sum(clock.sleeps) == pytest.approx(0.05)
    assert time.monotonic() - started < 1


def test_a_real_short_lock_timeout_ends_well_under_a_second(directory, held_slot):
    started = time.monotonic()
    waiter = StateStore(str(directory), lock_timeout=0.05)
    with waiter.slot(STEM) as slot:
        assert slot is None
    assert time.monotonic() - started < 1


def test_a_waiting_run_gets_the_slot_once_the_other_run_lets_go(directory, held_slot):
    clock = FakeClock()

    def sleep(seconds: float) -> None:
        clock.sleep(seconds)
        held_slot()

    waiter = StateStore(str(directory), lock_timeout=2, clock=clock.monotonic, sleep=sleep)
    with waiter.slot(STEM) as slot:
        assert slot is not None
        assert slot.load() == [FIRST]
    assert waiter.notes == []
    assert len(clock.sleeps) == 1


def test_another_key_is_not_blocked_by_a_held_lock(directory, held_slot):
    store = StateStore(str(directory), lock_timeout=0)
    with store.slot("cpu-ffffffffffffffffffffffffffffffff") as slot:
        assert slot is not None


# -- pruning ----------------------------------------------------------------------------------

OTHER = "cpu-ffffffffffffffffffffffffffffffff"


def age(path: Path, seconds: float = PRUNE_AFTER + 60) -> None:
    """Make a file look untouched for `seconds` (a week and a minute by default)."""
    then = time.time() - seconds
    os.utime(path, (then, then))


OLD_STEM = "mem-" + "a" * 32
RECENT_STEM = "nic-" + "b" * 32


def test_files_of_domains_unchecked_for_a_week_are_pruned(directory):
    directory.mkdir(mode=0o700)
    for name in (f"{OLD_STEM}.json", f"{OLD_STEM}.lock", f".{OLD_STEM}.json.tmp", "notes.txt"):
        (directory / name).write_text("x")
        age(directory / name)
    (directory / f"{RECENT_STEM}.json").write_text("x")
    save(directory, [FIRST])
    assert set(os.listdir(directory)) == {
        ".pruned", f"{RECENT_STEM}.json", f"{STEM}.json", f"{STEM}.lock", "notes.txt"}


@pytest.mark.parametrize("name", [
    "notes.json", "x.lock", "a.json.tmp", f"{OLD_STEM[:-1]}.json", f"{OLD_STEM}0.json",
    f"{OLD_STEM.upper()}.json", f"disk-{'a' * 32}.json", f"{OLD_STEM}.json.tmp",
    f".{OLD_STEM}.json", f"{OLD_STEM}.json.bak", f"{OLD_STEM}.json\n", f"{OLD_STEM}.lock.1",
    f"hostsnap-{'a' * 31}.lock", f"hostsnap-{'a' * 32}.json"])
def test_a_week_old_file_whose_name_the_store_does_not_write_stays(directory, name):
    directory.mkdir(mode=0o700)
    (directory / name).write_text("mine")
    age(directory / name)
    save(directory, [FIRST])
    assert (directory / name).read_text() == "mine"


def test_a_snapshot_lock_is_pruned_only_without_its_directory(directory):
    directory.mkdir(mode=0o700)
    in_use, gone = "hostsnap-" + "c" * 32, "hostsnap-" + "d" * 32
    (directory / in_use).mkdir(mode=0o700)
    for stem in (in_use, gone):
        (directory / f"{stem}.lock").write_text("")
        age(directory / f"{stem}.lock")
    save(directory, [FIRST])
    assert (directory / f"{in_use}.lock").exists()
    assert not (directory / f"{gone}.lock").exists()


def test_an_old_lock_file_beside_a_fresh_state_file_stays(directory):
    # A lock file is never written: an old one may belong to a domain checked every minute.
    save(directory, [FIRST])
    age(directory / f"{STEM}.lock")
    (directory / ".pruned").unlink()
    save(directory, [SECOND])
    assert (directory / f"{STEM}.lock").exists()


def test_a_stale_lock_file_that_a_run_holds_is_not_pruned(directory):
    directory.mkdir(mode=0o700)
    lock = directory / f"{STEM}.lock"
    lock.write_text("")
    age(lock)
    holder = os.open(lock, os.O_RDWR)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        prune_through_another_key(directory)
        assert lock.exists()
    finally:
        os.close(holder)


def prune_through_another_key(directory: Path) -> None:
    """A run of another domain that prunes (the hourly marker is out of the way)."""
    with contextlib.suppress(FileNotFoundError):
        (directory / ".pruned").unlink()
    store = StateStore(str(directory))
    with store.slot(OTHER) as slot:
        slot.save([FIRST])
    assert store.notes == []


def test_a_run_that_opened_a_lock_file_just_before_it_was_pruned_locks_the_new_one(directory):
    # Run A opens the lock file while another run holds it; the holder lets go,
    # pruning unlinks the file, and A's lock lands on an unlinked inode. A must
    # take the file that now stands at the path, or a third run would get in too.
    directory.mkdir(mode=0o700)
    lock = directory / f"{STEM}.lock"
    lock.write_text("")
    age(lock)
    holder = os.open(lock, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)

    def holder_lets_go_and_pruning_runs(_seconds: float) -> None:
        if not lock.exists():
            return
        os.close(holder)
        prune_through_another_key(directory)
        assert not lock.exists()

    run_a = StateStore(str(directory), lock_timeout=5, sleep=holder_lets_go_and_pruning_runs)
    with run_a.slot(STEM) as slot:
        assert slot is not None
        third = StateStore(str(directory), lock_timeout=0)
        with third.slot(STEM) as other:
            assert other is None
        assert third.notes == ["state not used: another run held its lock too long"]
    assert lock.exists()


def test_pruning_runs_at_most_once_an_hour(directory):
    save(directory, [FIRST])
    old = time.time() - PRUNE_AFTER - 60
    (directory / f"{OLD_STEM}.json").write_text("x")
    os.utime(directory / f"{OLD_STEM}.json", (old, old))
    save(directory, [SECOND])
    assert (directory / f"{OLD_STEM}.json").exists()


# -- names and places -------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../etc/passwd", "vm/with/slash", "..", ".",
                                  "it's \"quoted\"", "ünïcödé VM ☃", "a\nb", "x" * 500])
def test_state_key_is_a_fixed_shape_hash_never_the_raw_name(name):
    key = state_key("qemu:///system", name, "cpu")
    assert re.fullmatch(r"cpu-[0-9a-f]{32}", key)
    assert key == state_key("qemu:///system", name, "cpu")


def test_state_key_differs_by_uri_domain_and_check():
    keys = {state_key("qemu:///system", "u1", "cpu"), state_key("qemu:///session", "u1", "cpu"),
            state_key("qemu:///system", "u2", "cpu"), state_key("qemu:///system", "u1", "mem"),
            state_key("qemu:///system\0u1", "", "cpu")}
    assert len(keys) == 5


def test_state_key_of_a_baseline_name_is_its_own_and_keeps_the_shape():
    unnamed = state_key("qemu:///system", "u1", "cpu")
    named = {name: state_key("qemu:///system", "u1", "cpu", name)
             for name in ("alive", "alive2", "a", "cpu")}
    assert unnamed == state_key("qemu:///system", "u1", "cpu", None)  # upgrades keep theirs
    assert len({unnamed, *named.values()}) == 5
    assert all(re.fullmatch(r"cpu-[0-9a-f]{32}", key) for key in named.values())
    # The name is a field of its own: it never stands for another URI or domain.
    assert state_key("qemu:///system", "u1", "cpu", "x") != state_key("qemu:///system", "u1\0x",
                                                                      "cpu")


def test_default_state_dir_for_root_is_the_system_directory():
    assert default_state_dir({"HOME": "/root"}, euid=0) == SYSTEM_STATE_DIR


@pytest.fixture
def no_system_dir(monkeypatch, tmp_path):
    """A system state directory that does not exist (root could write anywhere)."""
    monkeypatch.setattr(state_module, "SYSTEM_STATE_DIR", str(tmp_path / "absent"))


USER = 1000


def no_passwd_entry(euid: int) -> None:
    return None


@pytest.fixture
def users_home(tmp_path: Path) -> Path:
    """A home directory that belongs to USER."""
    home = tmp_path / "home-u"
    home.mkdir()
    os.chown(home, USER, -1)
    return home


@as_root
def test_a_system_directory_of_another_owner_is_not_a_users_default(tmp_path, monkeypatch,
                                                                   users_home):
    shared = tmp_path / "shared"
    shared.mkdir(mode=0o770)  # writable through a group, owned by root
    monkeypatch.setattr(state_module, "SYSTEM_STATE_DIR", str(shared))
    assert (default_state_dir({"HOME": str(users_home)}, euid=USER)
            == f"{users_home}/.local/state/check_vm")


def test_default_state_dir_for_a_user_follows_xdg_state_home(no_system_dir):
    environ = {"XDG_STATE_HOME": "/x/state", "HOME": "/home/u"}
    assert default_state_dir(environ, euid=USER) == "/x/state/check_vm"


@as_root
def test_default_state_dir_for_a_user_without_xdg_is_under_home(no_system_dir, users_home):
    environ = {"XDG_STATE_HOME": "", "HOME": str(users_home)}
    assert default_state_dir(environ, euid=USER) == f"{users_home}/.local/state/check_vm"


def test_a_home_the_user_does_not_own_gives_way_to_the_password_database(no_system_dir,
                                                                         tmp_path):
    # As under a daemon started by root that drops to its own user: HOME is root's.
    def nagios_home(euid: int) -> str:
        return "/var/lib/nagios" if euid == USER else "/elsewhere"

    environ = {"HOME": str(tmp_path)}
    assert (default_state_dir(environ, euid=USER, passwd_home=nagios_home)
            == "/var/lib/nagios/.local/state/check_vm")


def test_without_home_the_password_database_gives_the_home(no_system_dir):
    assert (default_state_dir({}, euid=USER, passwd_home=lambda euid: f"/home/{euid}")
            == f"/home/{USER}/.local/state/check_vm")


def test_a_state_file_with_a_huge_integer_or_deep_nesting_is_discarded(directory):
    directory.mkdir(mode=0o700)
    for content in ('{"format":"check_vm-state/1","snapshots":[{"wall_time":1' + "0" * 400
                    + ',"domain_id":1,"counters":{}}]}', "[" * 100000 + "]" * 100000):
        (directory / f"{STEM}.json").write_text(content)
        store = StateStore(str(directory))
        with store.slot(STEM) as slot:
            assert slot.load() == []
        assert store.notes and store.notes[0].startswith("previous state discarded: ")


def test_default_state_dir_for_a_user_without_any_home_is_per_uid_under_tmp(no_system_dir):
    assert (default_state_dir({}, euid=USER, passwd_home=no_passwd_entry)
            == "/tmp/check_vm-1000/.local/state/check_vm")


@as_root
def test_the_fallback_under_tmp_created_first_by_another_user_is_refused(tmp_path,
                                                                        monkeypatch,
                                                                        no_system_dir):
    # A user without any home gets /tmp/check_vm-UID: another user may have made it.
    shared_tmp = tmp_path / "tmp"
    shared_tmp.mkdir()
    shared_tmp.chmod(0o1777)
    monkeypatch.setattr(state_module, "TEMPORARY_BASE", str(shared_tmp))
    squatted = shared_tmp / f"check_vm-{USER}"
    squatted.mkdir()
    squatted.chmod(0o777)
    os.chown(squatted, 4242, 4242)
    directory = default_state_dir({}, euid=USER, passwd_home=no_passwd_entry)
    assert directory.startswith(f"{squatted}/")
    assert unusable(Path(directory)) == [
        f"state not used: {squatted} belongs to another user, who could replace the state "
        "directory below it (give --state-dir)"]
    assert os.listdir(squatted) == []


def test_the_fallback_under_tmp_is_created_private_and_used(tmp_path, monkeypatch,
                                                            no_system_dir):
    shared_tmp = tmp_path / "tmp"
    shared_tmp.mkdir()
    shared_tmp.chmod(0o1777)
    monkeypatch.setattr(state_module, "TEMPORARY_BASE", str(shared_tmp))
    directory = default_state_dir({}, euid=USER, passwd_home=no_passwd_entry)
    assert save(Path(directory), [FIRST]) == []
    mine = shared_tmp / f"check_vm-{USER}"
    assert (mine.stat().st_uid, stat.S_IMODE(mine.stat().st_mode)) == (os.geteuid(), 0o700)


def test_default_state_dir_for_a_user_who_owns_the_system_directory(monkeypatch, tmp_path):
    monkeypatch.setattr(state_module, "SYSTEM_STATE_DIR", str(tmp_path))
    owner = tmp_path.stat().st_uid
    assert default_state_dir({"HOME": "/home/u"}, euid=owner) == str(tmp_path)

