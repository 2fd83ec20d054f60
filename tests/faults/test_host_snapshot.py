"""The host snapshot under concurrency, kill -9, hostile files and time.

Every case runs the real executables against libvirt's test driver
(`test:///default`, or a node file of N domains written for the test) and
counts refreshes by the generation number in the snapshot's `current`.  The
test driver's counters follow the clock, so every check's true numbers are
known: 50% CPU, 50% memory, 50000 B/s read, 800 kbit/s received.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from harness.checkrun import CheckRun, run_check
from harness.faultkit import CHECKS, assert_state_valid, needs_root
from harness.polling import poll
from harness.snapshotkit import (
    assert_complete,
    assert_private,
    check_command,
    current_dir,
    domain_name,
    generation,
    part_path,
    poisoned_env,
    poisoned_path,
    read_part,
    run_together,
    snapshot_dir,
    snapshot_dirs,
    tree,
    write_node,
)

from libcheck.hostsnapshot import MAX_CURRENT_BYTES, MAX_PART_BYTES, lookup_keys

URI = "test:///default"
ALL = sorted(CHECKS)
FAST = ("--sample-interval", "0.2")
TRUE_NUMBERS = {"check_vm_cpu": ("cpu_usage", 50.0), "check_vm_mem": ("mem_usage", 50.0),
                "check_vm_disk_io": ("total_read_bytes_per_second", 50000.0),
                "check_vm_nic": ("total_rx_bits_per_second", 800000.0)}
BASIS = re.compile(r"^rates measured over (\d+\.\d+) s (.*)$")
NOBODY = 65534
# How much later than the baseline a planted part says it was taken.
TEMPTING_AFTER = 0.25


def cpu_run(uri: str, domain: str, state_dir: Path, *extra: str, env=None) -> CheckRun:
    return run_check("check_vm_cpu", "--connect", uri, "-d", domain, *FAST, *extra,
                     state_dir=state_dir, env=env)


def assert_ok(run: CheckRun, check: str, domain: str) -> None:
    """OK for `domain`, no traceback, and the test driver's true number."""
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.status.startswith(f"{CHECKS[check]} OK - {domain}: "), run.stdout
    assert run.stderr == "" and "Traceback" not in run.stdout, run.stderr
    label, true_value = TRUE_NUMBERS[check]
    assert abs(run.perfdata[label].value - true_value) <= true_value * 0.1, run.stdout


def basis(run: CheckRun) -> tuple[float, str]:
    """The -vv line: the interval the rates span, and against what."""
    match = BASIS.match(run.lines[-1])
    assert match, run.stdout
    return float(match[1]), match[2]


def age_sample(document: dict, seconds: float) -> dict:
    """The part, its sample said to be taken `seconds` earlier (negative: later)."""
    sample = document["sample"]
    sample["boot_time"] -= seconds
    sample["wall_time"] -= seconds
    return document


def tempting(document: dict) -> dict:
    """A part that would pass every other test of the next run (taken after
    the baseline by more than --sample-interval, once TEMPTING_AFTER passed),
    with a CPU counter three times the true one: a wild rate if it served."""
    planted = age_sample(document, -TEMPTING_AFTER)
    planted["sample"]["cpu"]["time_ns"] *= 3
    return planted


def write_in_place(path: Path, content: bytes) -> None:
    """Rewrite a part through one of its names: its hard links see the same bytes."""
    with open(path, "r+b") as handle:
        handle.truncate(0)
        handle.write(content)


def primed(state_dir: Path, uri: str = URI, domain: str = "test") -> Path:
    """One check run; the snapshot directory it left."""
    assert_ok(cpu_run(uri, domain, state_dir), "check_vm_cpu", domain)
    return snapshot_dir(state_dir, uri)


def assert_replaced(top: Path, before: int) -> None:
    """A newer generation is published, real and private, in a real directory."""
    assert top.is_dir() and not top.is_symlink()
    assert generation(top) > before
    newest = current_dir(top)
    assert not newest.is_symlink() and not (top / "current").is_symlink()
    for path in [top, newest, top / "current", *newest.iterdir()]:
        info = path.lstat()
        assert info.st_uid == os.geteuid(), path
        assert info.st_mode & 0o777 == (0o700 if path.is_dir() else 0o600), path
    assert_complete(newest, URI, 1)


# -- concurrency ----------------------------------------------------------------------------

def test_twenty_steady_checks_of_twenty_domains_make_one_refresh(tmp_path, state_dir):
    uri = write_node(tmp_path / "node.xml", 20)
    commands = [check_command(ALL[i % len(ALL)], uri, domain_name(i), state_dir, *FAST, "-vv")
                for i in range(20)]
    for index, run in enumerate(run_together(commands)):
        assert_ok(run, ALL[index % len(ALL)], domain_name(index))
    top = snapshot_dir(state_dir, uri)
    time.sleep(0.3)  # every baseline is now older than --sample-interval
    before = generation(top)
    results = run_together(commands)
    assert generation(top) == before + 1
    for index, run in enumerate(results):
        assert_ok(run, ALL[index % len(ALL)], domain_name(index))
        assert basis(run)[1] == "since the previous run", run.stdout
    assert len(assert_state_valid(state_dir)) == 20


def test_a_first_round_of_twenty_checks_makes_two_refreshes(tmp_path, state_dir):
    # No snapshot and no baseline: every run takes a first sample and, a
    # --sample-interval later, a second.  One refresh serves every first
    # sample (the others wait for it and read it), one every second sample.
    uri = write_node(tmp_path / "node.xml", 20)
    started = time.monotonic()
    results = run_together([check_command("check_vm_cpu", uri, domain_name(i), state_dir,
                                          "--sample-interval", "1", "-vv") for i in range(20)])
    elapsed = time.monotonic() - started
    for index, run in enumerate(results):
        assert_ok(run, "check_vm_cpu", domain_name(index))
        interval, against = basis(run)
        assert against == "within this run (no previous sample)", run.stdout
        assert 1.0 <= interval <= elapsed
    refreshes = generation(snapshot_dir(state_dir, uri))
    assert refreshes == 2, (f"{refreshes} refreshes for 20 first runs started together: one "
                            "for their first samples and one for their second serve them all")


# -- kill -9 ---------------------------------------------------------------------------------

def wait_for(path: Path, process: subprocess.Popen, seconds: float) -> None:
    appeared = poll(lambda: path.exists() or process.poll() is not None, seconds, 0.002)
    assert path.exists() or process.poll() is None, (
        "the run ended before its refresh wrote anything")
    assert appeared, f"no {path.name} within {seconds} s"


def test_a_refresher_killed_midway_leaves_no_broken_snapshot(tmp_path, state_dir):
    # 500 domains: a refresh writes for about 0.2 s, long enough to be caught at it.
    uri = write_node(tmp_path / "node.xml", 500)
    domain = domain_name(499)
    top = primed(state_dir, uri, domain)
    published = generation(top)
    process = subprocess.Popen(check_command("check_vm_cpu", uri, domain, state_dir, *FAST),
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    building = top / f".building-{process.pid}"
    try:
        wait_for(building, process, 20)
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL
    assert building.is_dir()  # killed midway: its work is left behind
    assert generation(top) == published
    assert_complete(current_dir(top), uri, 500)
    assert_state_valid(state_dir)

    after = cpu_run(uri, domain, state_dir)
    assert_ok(after, "check_vm_cpu", domain)
    assert not list(top.glob(".building-*"))
    assert generation(top) > published
    assert_complete(current_dir(top), uri, 500)


# -- corrupt, foreign, oversized and symlinked snapshots ----------------------------------------

def truncated(part: bytes) -> bytes:
    return part[:len(part) // 2]


def counter_as_text(part: bytes) -> bytes:
    document = json.loads(part)
    document["sample"]["cpu"]["time_ns"] = str(document["sample"]["cpu"]["time_ns"])
    return json.dumps(document).encode()


def other_format(part: bytes) -> bytes:
    return json.dumps({**json.loads(part), "format": "check_vm-host-snapshot/0"}).encode()


CORRUPT_PARTS = {
    "garbage": (lambda part: bytes(range(256)), "a domain's part: it is not valid JSON"),
    "truncated": (truncated, "a domain's part: it is not valid JSON"),
    "a list": (lambda part: b"[1, 2, 3]", "a domain's part: it is not a JSON object"),
    "nested deeply": (lambda part: b"[" * 200_000, "a domain's part: it is nested too deeply"),
    "other format": (other_format,
                     "a domain's part is not this version's snapshot of this URI"),
    "counter as text": (counter_as_text, "a domain's part: '"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_PARTS))
def test_a_corrupt_part_is_ignored_and_replaced(case, state_dir):
    top = primed(state_dir)
    before = generation(top)
    damage, note = CORRUPT_PARTS[case]
    path = part_path(top, "test")
    write_in_place(path, damage(path.read_bytes()))
    run = cpu_run(URI, "test", state_dir, "-v")
    assert_ok(run, "check_vm_cpu", "test")
    assert any(line.startswith(f"host snapshot discarded: {note}") for line in run.lines[1:]), \
        run.stdout
    assert_replaced(top, before)


def index_with(top: Path, **fields) -> bytes:
    return json.dumps({**json.loads((top / "current").read_bytes()), **fields}).encode()


CORRUPT_INDEXES = {
    "garbage": (lambda top: b"\xff\xfe not json", "the snapshot's index: it is not valid JSON"),
    "generation as text": (lambda top: index_with(top, generation=str(generation(top))),
                           "the index: no valid generation number"),
    "start as text": (lambda top: index_with(top, started="yesterday"),
                      "the index: no valid start time"),
    "another URI": (lambda top: index_with(top, uri="test:///elsewhere"),
                    "the snapshot's index is not this version's snapshot of this URI"),
}


@pytest.mark.parametrize("case", sorted(CORRUPT_INDEXES))
def test_a_corrupt_index_is_ignored_and_replaced(case, state_dir):
    top = primed(state_dir)
    before = generation(top)
    content, note = CORRUPT_INDEXES[case]
    (top / "current").write_bytes(content(top))
    run = cpu_run(URI, "test", state_dir, "-v")
    assert_ok(run, "check_vm_cpu", "test")
    assert f"host snapshot discarded: {note}" in run.lines[1:], run.stdout
    assert_replaced(top, before)


def test_an_index_naming_a_missing_generation_is_replaced(state_dir):
    top = primed(state_dir)
    (top / "current").write_bytes(index_with(top, generation=999))
    run = cpu_run(URI, "test", state_dir)
    assert_ok(run, "check_vm_cpu", "test")
    assert_replaced(top, 999)


def test_a_corrupt_device_list_costs_only_the_xml(state_dir):
    top = primed(state_dir)
    before = generation(top)
    (current_dir(top) / "devices").write_bytes(b'{"format": 1')
    run = cpu_run(URI, "test", state_dir, "-v")
    assert_ok(run, "check_vm_cpu", "test")
    assert "host snapshot discarded: the device list: it is not valid JSON" in run.lines[1:]
    assert_replaced(top, before)


@pytest.mark.parametrize(("name", "limit"), [("part", MAX_PART_BYTES),
                                             ("current", MAX_CURRENT_BYTES)])
def test_an_oversized_file_is_refused_and_replaced(name, limit, state_dir):
    top = primed(state_dir)
    before = generation(top)
    path = part_path(top, "test") if name == "part" else top / "current"
    with open(path, "r+b") as handle:
        handle.truncate(limit + 1)  # valid JSON at its start, then NULs
    started = time.monotonic()
    run = cpu_run(URI, "test", state_dir, "-v")
    assert time.monotonic() - started < 5
    assert_ok(run, "check_vm_cpu", "test")
    assert any(line.startswith("host snapshot discarded: ") and line.endswith(": it is too large")
               for line in run.lines[1:]), run.stdout
    assert_replaced(top, before)


FOREIGN = {
    "part": lambda top: part_path(top, "test"),
    "current": lambda top: top / "current",
    "generation": current_dir,
    "snapshot directory": lambda top: top,
}


@needs_root
@pytest.mark.parametrize("what", sorted(FOREIGN))
def test_a_foreign_owned_snapshot_is_ignored_and_replaced(what, state_dir):
    top = primed(state_dir)
    before = generation(top)
    os.chown(FOREIGN[what](top), NOBODY, NOBODY)
    run = cpu_run(URI, "test", state_dir, "-v")
    assert_ok(run, "check_vm_cpu", "test")
    if what in ("part", "current"):
        assert any("host snapshot discarded: " in line and "belongs to another user" in line
                   for line in run.lines[1:]), run.stdout
    if what == "snapshot directory":
        assert any(line.startswith("host snapshot replaced: ") for line in run.lines[1:])
        assert generation(top) >= 1
    else:
        assert_replaced(top, before)
    assert_private_newest(top)


def assert_private_newest(top: Path) -> None:
    for path in [top, top / "current", current_dir(top), *current_dir(top).iterdir()]:
        assert path.lstat().st_uid == os.geteuid(), path


def test_a_snapshot_directory_open_to_others_is_replaced(state_dir):
    top = primed(state_dir)
    top.chmod(0o755)
    run = cpu_run(URI, "test", state_dir, "-v")
    assert_ok(run, "check_vm_cpu", "test")
    assert any(line.startswith("host snapshot replaced: ") for line in run.lines[1:])
    assert top.stat().st_mode & 0o777 == 0o700
    assert_private_newest(top)


def plant_part(top: Path, victim: Path) -> Path:
    path = part_path(top, "test")
    victim.write_text(json.dumps(tempting(json.loads(path.read_bytes()))))
    victim.chmod(0o600)
    path.unlink()
    path.symlink_to(victim)
    return victim


def plant_current(top: Path, victim: Path) -> Path:
    shutil.copyfile(top / "current", victim)
    (top / "current").unlink()
    (top / "current").symlink_to(victim)
    return victim


def plant_generation(top: Path, victim: Path) -> Path:
    real = current_dir(top)
    shutil.copytree(real, victim)
    (victim / part_path(top, "test").name).write_text(
        json.dumps(tempting(read_part(top, "test"))))
    shutil.rmtree(real)
    real.symlink_to(victim)
    return victim


def plant_directory(top: Path, victim: Path) -> Path:
    shutil.copytree(top, victim)
    (victim / current_dir(top).name / part_path(top, "test").name).write_text(
        json.dumps(tempting(read_part(top, "test"))))
    shutil.rmtree(top)
    top.symlink_to(victim)
    return victim


def plant_temporary(top: Path, victim: Path) -> Path:
    victim.write_bytes(b"precious\n")
    (top / ".current.tmp").symlink_to(victim)
    return victim


PLANTED = {"part": plant_part, "current": plant_current, "generation": plant_generation,
           "snapshot directory": plant_directory, "temporary index": plant_temporary}


@pytest.mark.parametrize("what", sorted(PLANTED))
def test_a_symlinked_snapshot_is_never_followed_and_is_replaced(what, state_dir, tmp_path):
    top = primed(state_dir)
    before = generation(top)
    victim = PLANTED[what](top, tmp_path / "victim")
    untouched = tree(victim) if victim.is_dir() else victim.read_bytes()
    time.sleep(TEMPTING_AFTER)  # the planted part is no longer in the future
    run = cpu_run(URI, "test", state_dir, "-v")
    assert_ok(run, "check_vm_cpu", "test")  # a tempting part served would be a wild rate
    assert (tree(victim) if victim.is_dir() else victim.read_bytes()) == untouched
    if what in ("part", "current"):
        assert any(line.startswith("host snapshot discarded: ") and "it is a symlink" in line
                   for line in run.lines[1:]), run.stdout
    assert_replaced(top, before if what != "snapshot directory" else 0)


def test_a_symlinked_lock_is_never_followed(state_dir, tmp_path):
    top = primed(state_dir)
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious\n")
    lock = top.with_name(top.name + ".lock")
    lock.unlink()
    lock.symlink_to(victim)
    run = cpu_run(URI, "test", state_dir, "-v")
    assert_ok(run, "check_vm_cpu", "test")  # read directly instead
    assert any(line.startswith("host snapshot not used: lock file: ") for line in run.lines[1:])
    assert victim.read_bytes() == b"precious\n"


# -- URIs -------------------------------------------------------------------------------------

def test_a_snapshot_of_one_uri_never_serves_another(tmp_path, state_dir):
    node = write_node(tmp_path / "node.xml", 2)
    default_top = primed(state_dir)
    node_top = primed(state_dir, node, domain_name(0))
    assert default_top != node_top
    assert {path.name for path in snapshot_dirs(state_dir)} == {default_top.name, node_top.name}
    assert all(top.with_name(top.name + ".lock").is_file() for top in (default_top, node_top))

    # The default node's "test", planted where the node's snapshot keeps a domain of that name.
    before = generation(node_top)
    shutil.copyfile(part_path(default_top, "test"), current_dir(node_top) / lookup_keys("test")[0])
    run = cpu_run(node, "test", state_dir)
    assert run.returncode == 2, run.stdout
    assert run.status.startswith("VM_CPU CRITICAL - no domain 'test' on "), run.stdout
    assert ("host snapshot discarded: a domain's part is not this version's snapshot of this "
            "URI") in run.lines[1:]
    assert generation(node_top) == before + 1

    # ...and under the name of one of the node's own domains: that domain is read again.
    shutil.copyfile(part_path(default_top, "test"), part_path(node_top, domain_name(1)))
    run = cpu_run(node, domain_name(1), state_dir, "-v")
    assert_ok(run, "check_vm_cpu", domain_name(1))
    assert any("is not this version's snapshot of this URI" in line for line in run.lines[1:])


# -- freshness ----------------------------------------------------------------------------------

def test_snapshot_max_age_zero_makes_no_snapshot(state_dir):
    run = cpu_run(URI, "test", state_dir, "--snapshot-max-age", "0")
    assert_ok(run, "check_vm_cpu", "test")
    assert not [path.name for path in state_dir.iterdir() if path.name.startswith("hostsnap-")]


def test_a_snapshot_older_than_max_age_is_refreshed(tmp_path):
    # Two state directories, each with two generations from a memory check's
    # first run; in one they are let grow older than --snapshot-max-age.
    increments = []
    for aged in (False, True):
        state_dir = tmp_path / f"state-{aged}"
        primed_at = time.monotonic()
        mem = run_check("check_vm_mem", "--connect", URI, "-d", "test", *FAST,
                        "--balloon-max-age", "0", state_dir=state_dir)
        assert_ok(mem, "check_vm_mem", "test")
        top = snapshot_dir(state_dir, URI)
        if aged:
            time.sleep(2.3)
        before = generation(top)
        run = cpu_run(URI, "test", state_dir, "-vv", "--snapshot-max-age", "2")
        assert_ok(run, "check_vm_cpu", "test")
        interval, against = basis(run)
        assert against == "between the two newest host snapshots (no previous sample)"
        assert interval <= time.monotonic() - primed_at
        increments.append(generation(top) - before)
    # Fresh: both samples from the memory check's generations.  Too old: a
    # refresh, measured against the generation before it.
    assert increments == [0, 1]


def test_a_baseline_as_new_as_the_snapshot_is_never_measured_against_itself(state_dir):
    started = time.monotonic()
    top = primed(state_dir)
    (stored,) = assert_state_valid(state_dir)
    newest = max(snapshot["boot_time"] for snapshot in stored["snapshots"])
    assert read_part(top, "test")["sample"]["boot_time"] == newest  # the very same sample
    before = generation(top)
    run = cpu_run(URI, "test", state_dir, "-vv")
    elapsed = time.monotonic() - started
    assert_ok(run, "check_vm_cpu", "test")
    assert generation(top) > before
    interval, against = basis(run)
    assert against == "since the previous run", run.stdout
    assert 0.2 <= interval <= elapsed


@pytest.mark.parametrize("own_baseline", [True, False])
def test_a_second_schedule_with_a_baseline_name_of_its_own_is_a_hit(own_baseline, state_dir):
    """The host check vm_alive beside the vm-cpu service: with a name of its own
    (as the shipped command passes), each run is served by the part a refresh
    made after its own last run, and measures since that run; sharing the
    service's, it finds the part no newer than the service's sample: a refresh."""
    alive = ("--baseline-name", "alive") if own_baseline else ()
    started = time.monotonic()
    top = primed(state_dir)
    # Its first run may be served by the part the service's made.
    assert_ok(cpu_run(URI, "test", state_dir, *alive), "check_vm_cpu", "test")
    alive_done = time.monotonic()
    time.sleep(0.3)  # past --sample-interval: a part after this is newer than either sample
    refresh_started = time.monotonic()
    assert_ok(cpu_run(URI, "test", state_dir, "--baseline-name", "refresher",
                      "--snapshot-max-age", "0.001"), "check_vm_cpu", "test")
    refresh_done = time.monotonic()
    before = generation(top)
    service = cpu_run(URI, "test", state_dir, "-vv")
    assert_ok(service, "check_vm_cpu", "test")
    assert generation(top) == before  # the service's own sample is older than the part
    host = cpu_run(URI, "test", state_dir, "-vv", *alive)
    assert_ok(host, "check_vm_cpu", "test")
    if not own_baseline:
        assert generation(top) == before + 1
        return
    assert generation(top) == before
    interval, against = basis(host)
    assert against == "since the previous run", host.stdout
    # From its own last sample to the refresher's part; not from the service's run.
    assert refresh_started - alive_done <= interval <= refresh_done - started


# -- domains the snapshot has not seen -----------------------------------------------------

def test_a_new_domain_is_found_by_one_refresh(tmp_path, state_dir):
    node = tmp_path / "node.xml"
    uri = write_node(node, 3)
    top = primed(state_dir, uri, domain_name(0))
    # A domain the snapshot has: measured between its two generations.
    before = generation(top)
    assert_ok(cpu_run(uri, domain_name(1), state_dir), "check_vm_cpu", domain_name(1))
    assert generation(top) == before
    write_node(node, 4)  # a VM defined since
    before = generation(top)
    assert_ok(cpu_run(uri, domain_name(3), state_dir), "check_vm_cpu", domain_name(3))
    assert generation(top) == before + 2  # and one refresh more, to find it


@pytest.mark.parametrize(("options", "state", "code"), [((), "CRITICAL", 2),
                                                        (("--state-if-missing", "unknown"),
                                                         "UNKNOWN", 3)])
def test_a_missing_domain_costs_one_refresh(options, state, code, state_dir):
    top = primed(state_dir)
    before = generation(top)
    run = cpu_run(URI, "nosuch", state_dir, *options)
    assert run.returncode == code, run.stdout
    assert run.status.startswith(f"VM_CPU {state} - no domain 'nosuch' on {URI}"), run.stdout
    assert generation(top) == before + 1


# -- what a hit loads -----------------------------------------------------------------------

def shape(run: CheckRun) -> tuple[str, list[str]]:
    return re.sub(r"\d+(\.\d+)?", "N", run.status), sorted(run.perfdata)


def test_a_hit_imports_neither_libvirt_nor_lxml(tmp_path, state_dir):
    poison = poisoned_env(poisoned_path(tmp_path / "poison"))
    plain = cpu_run(URI, "test", state_dir)
    assert_ok(plain, "check_vm_cpu", "test")
    # Another check's second sample refreshes the snapshot past this one's
    # baseline (its --sample-interval is longer than the generations lie apart,
    # so it samples twice).
    disk = run_check("check_vm_disk_io", "--connect", URI, "-d", "test",
                     "--sample-interval", "1", state_dir=state_dir)
    assert_ok(disk, "check_vm_disk_io", "test")
    top = snapshot_dir(state_dir, URI)
    before = generation(top)
    hit = cpu_run(URI, "test", state_dir, "-vv", env=poison)
    assert_ok(hit, "check_vm_cpu", "test")
    assert generation(top) == before  # served, not refreshed
    assert basis(hit)[1] == "since the previous run"
    assert shape(hit) == shape(plain)

    # The poison works: the direct path loads libvirt, and lxml fails too.
    direct = cpu_run(URI, "test", state_dir, "--snapshot-max-age", "0", env=poison)
    assert direct.returncode == 3
    assert direct.status == ("VM_CPU UNKNOWN - internal error: ImportError: poisoned "
                             "(run with -vvv for a traceback)")
    lxml = subprocess.run([sys.executable, "-c", "import lxml"], capture_output=True,
                          text=True, timeout=30, env={**os.environ, **poison}, check=False)
    assert lxml.returncode == 1 and "ImportError: poisoned" in lxml.stderr


# -- privacy ----------------------------------------------------------------------------------

def test_snapshot_files_are_private_whatever_the_umask(state_dir):
    command = check_command("check_vm_cpu", URI, "test", state_dir, *FAST)
    for _ in range(3):  # the previous generation, the newest, and the leftovers' removal
        completed = subprocess.run(command, capture_output=True, text=True, timeout=30,
                                   check=False, preexec_fn=lambda: os.umask(0))
        assert_ok(CheckRun(completed.returncode, completed.stdout, completed.stderr),
                  "check_vm_cpu", "test")
    top = snapshot_dir(state_dir, URI)
    assert len(list(top.glob("g-*"))) == 2
    assert assert_private(state_dir) >= 2 + 2 * 4  # directory, lock, index, generations
