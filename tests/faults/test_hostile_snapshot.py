"""The host snapshot against hostile values: an index or part that parses as
JSON but says what no refresh writes (a start time of 10**400, Infinity or
an hour ahead, a generation number its directory's name cannot hold, a
negative or 65-bit counter, a vCPU count to allocate without bound).

Each such file counts as absent: the check is right, says why at -v, and
the next refresh replaces the file.  The real executables run against
libvirt's test driver; the migrating VM's case runs a check in this
process against a fake host, to count its refreshes.
"""

from __future__ import annotations

import math
import re
import time
from pathlib import Path

import pytest
from harness.checkrun import CheckRun, run_check
from harness.fakes import FakeClock
from harness.faultkit import CHECKS
from harness.hostilesnapshot import (
    JobHeldHost,
    generation_names,
    refreshes_of_a_schedule,
    rewrite_index,
    rewrite_index_raw,
    rewrite_sample,
)
from harness.snapshotkit import (
    assert_complete,
    current_dir,
    domain_name,
    generation,
    read_index,
    snapshot_dir,
    write_node,
)

from libcheck.cpu import CHECK as CPU
from libcheck.disk import CHECK as DISK
from libcheck.mem import CHECK as MEM

URI = "test:///default"
FAST = ("--sample-interval", "0.2")
# How much later than the baseline a planted part says it was taken: long
# enough after the baseline that it would serve the next run's sample.
TEMPTING_AFTER = 0.25
LARGEST_GENERATION = 10**18 - 1
GENERATION_NAME = re.compile(r"^g-\d{1,18}$")


def cpu_run(uri: str, domain: str, state_dir: Path, *extra: str) -> CheckRun:
    return run_check("check_vm_cpu", "--connect", uri, "-d", domain, *FAST, *extra,
                     state_dir=state_dir, timeout=30)


def assert_ok(run: CheckRun, domain: str) -> None:
    """OK for `domain`, no traceback, and the test driver's true CPU usage (50%)."""
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.status.startswith(f"{CHECKS['check_vm_cpu']} OK - {domain}: "), run.stdout
    assert run.stderr == "" and "Traceback" not in run.stdout, run.stderr
    assert abs(run.perfdata["cpu_usage"].value - 50.0) <= 5.0, run.stdout


def assert_noted(run: CheckRun, note: str) -> None:
    assert any(line.startswith(note) for line in run.lines[1:]), (note, run.stdout)


def primed(state_dir: Path, uri: str = URI, domain: str = "test") -> Path:
    assert_ok(cpu_run(uri, domain, state_dir), domain)
    return snapshot_dir(state_dir, uri)


def boot_clock() -> float:
    return time.clock_gettime(time.CLOCK_BOOTTIME)


def assert_index_sound(top: Path, uri: str = URI, domains: int = 1) -> None:
    """A published index of a generation its name pattern holds, started
    before now on this boot's clock, naming a whole generation."""
    index = read_index(top)
    assert index is not None
    assert 1 <= index["generation"] <= LARGEST_GENERATION, index
    assert isinstance(index["started"], float) and 0 <= index["started"] <= boot_clock(), index
    assert_complete(current_dir(top), uri, domains)


# -- the index's start time -------------------------------------------------------------------

def test_a_start_time_too_large_for_a_float_is_discarded_and_replaced(state_dir):
    top = primed(state_dir)
    rewrite_index(top, started=10**400)
    for _ in range(2):  # the run that replaces it, and the one after
        run = cpu_run(URI, "test", state_dir, "-v")
        assert_ok(run, "test")
    rewrite_index(top, started=10**400)
    run = cpu_run(URI, "test", state_dir, "-v")
    assert_ok(run, "test")
    assert_noted(run, "host snapshot discarded: the index: no valid start time")
    assert_index_sound(top)


def test_a_start_time_of_more_digits_than_python_reads_is_discarded_and_replaced(state_dir):
    top = primed(state_dir)
    rewrite_index_raw(top, "started", "9" * 5000)
    run = cpu_run(URI, "test", state_dir, "-v")
    assert_ok(run, "test")
    assert_noted(run, "host snapshot discarded: the snapshot's index: it holds a number of "
                      "too many digits")
    assert_index_sound(top)


START_TIMES = {
    "infinite": lambda: math.inf,
    "not a number": lambda: math.nan,
    "an hour ahead": lambda: boot_clock() + 3600.0,
    "negative": lambda: -1.0,
}


@pytest.mark.parametrize("case", sorted(START_TIMES))
def test_a_start_time_no_refresh_could_have_does_not_hide_a_new_domain(case, tmp_path,
                                                                       state_dir):
    node = tmp_path / "node.xml"
    uri = write_node(node, 2)
    top = primed(state_dir, uri, domain_name(0))
    write_node(node, 3)  # a VM defined since the last refresh
    rewrite_index(top, started=START_TIMES[case]())
    for _ in range(2):
        run = cpu_run(uri, domain_name(2), state_dir, "-v")
        assert_ok(run, domain_name(2))
    rewrite_index(top, started=START_TIMES[case]())
    run = cpu_run(uri, domain_name(2), state_dir, "-v")
    assert_ok(run, domain_name(2))
    assert_noted(run, "host snapshot discarded: the index: no valid start time")
    assert_index_sound(top, uri, domains=3)


# -- generation numbers -----------------------------------------------------------------------

def renumbered(top: Path, number: int) -> None:
    """The current generation's directory and index moved to `number`."""
    current_dir(top).rename(top / f"g-{number}")
    rewrite_index(top, generation=number)


def test_the_largest_generation_number_is_followed_by_one_the_pattern_holds(state_dir):
    top = primed(state_dir)
    renumbered(top, LARGEST_GENERATION)
    seen = set()
    for _ in range(3):
        run = cpu_run(URI, "test", state_dir, "-v")
        assert_ok(run, "test")
        assert not any("host snapshot" in line for line in run.lines[1:]), run.stdout
        names = generation_names(top)
        assert all(GENERATION_NAME.match(name) for name in names), names
        assert len(names) <= 2, names
        seen.add(generation(top))
    assert len(seen) == 3 and LARGEST_GENERATION not in seen
    assert_index_sound(top)


@pytest.mark.parametrize("number", [10**18, 10**300], ids=["19 digits", "301 digits"])
def test_a_generation_number_the_pattern_cannot_hold_is_discarded_and_replaced(number,
                                                                               state_dir):
    top = primed(state_dir)
    if number == 10**18:  # as a refresh of an older version left it
        renumbered(top, number)
    else:  # too long for a file name: only the index can say it
        rewrite_index(top, generation=number)
    run = cpu_run(URI, "test", state_dir, "-v")
    assert_ok(run, "test")
    assert_noted(run, "host snapshot discarded: the index: no valid generation number")
    for _ in range(2):
        run = cpu_run(URI, "test", state_dir, "-v")
        assert_ok(run, "test")
        assert not any("host snapshot" in line for line in run.lines[1:]), run.stdout
    names = generation_names(top)
    assert all(GENERATION_NAME.match(name) for name in names) and len(names) <= 2, names
    assert_index_sound(top)


# -- values in a part -------------------------------------------------------------------------

def tempting(edit):
    """An edit of a sample that also dates it TEMPTING_AFTER later than it was
    taken: once that passed, it would serve the next run's sample."""
    def planted(sample: dict) -> None:
        sample["boot_time"] += TEMPTING_AFTER
        sample["wall_time"] += TEMPTING_AFTER
        edit(sample)
    return planted


def setting(path: str, value):
    def edit(sample: dict) -> None:
        *parents, last = path.split(".")
        for key in parents:
            sample = sample[int(key)] if isinstance(sample, list) else sample[key]
        sample[last] = value(sample[last]) if callable(value) else value
    return edit


HOSTILE_PARTS = {
    "a vCPU count to allocate without bound": setting("cpu.vcpu_count", 10**10),
    "a vCPU count beyond libvirt's": setting("cpu.vcpu_count", 16385),
    "a vCPU index beyond libvirt's": setting("cpu.vcpus.0.index", 10**12),
    "a negative counter": setting("cpu.time_ns", -1),
    "a counter of 65 bits": setting("cpu.time_ns", 2**64),
    "a counter of 400 digits": setting("cpu.time_ns", 10**400),
    "a sample taken an hour ahead": setting("boot_time", lambda value: value + 3600.0),
    "a wall time an hour ahead": setting("wall_time", lambda value: value + 3600.0),
    "a negative domain ID": setting("identity.domain_id", -5),
}


@pytest.mark.parametrize("case", sorted(HOSTILE_PARTS))
def test_a_part_with_a_value_no_libvirt_gives_is_discarded_and_replaced(case, state_dir):
    top = primed(state_dir)
    before = generation(top)
    rewrite_sample(top, "test", tempting(HOSTILE_PARTS[case]))
    time.sleep(TEMPTING_AFTER)
    started = time.monotonic()
    run = cpu_run(URI, "test", state_dir, "-v")
    assert time.monotonic() - started < 10
    assert_ok(run, "test")
    assert_noted(run, "host snapshot discarded: a domain's part: ")
    assert generation(top) > before
    assert_index_sound(top)


# -- a domain held in a job -------------------------------------------------------------------

def test_a_domain_held_in_a_job_costs_no_extra_refreshes(tmp_path):
    # Every 5 s, the CPU, memory and disk checks of two domains; in one host
    # the domain "mig" is migrating (its bulk answer lacks the balloon's
    # statistics and the disks' counters), in the other it is not.
    rounds = [[(check, domain) for domain in ("vm1", "mig") for check in (CPU, MEM, DISK)]] * 8
    refreshes = {}
    for held in ((), ("mig",)):
        state_dir = tmp_path / f"state-{len(held)}"
        state_dir.mkdir(mode=0o700)
        host = JobHeldHost(FakeClock(), state_dir, ["vm1", "mig"], held)
        refreshes[held] = refreshes_of_a_schedule(host, rounds, pause=5.0)
        if held:
            # Its numbers come from reads of it alone, each of which waits for the job.
            assert host.connection.single_reads > 0
    # Fewer, if anything: a first run's second sample of "mig" is read from it alone.
    assert refreshes[("mig",)] <= refreshes[()], refreshes
