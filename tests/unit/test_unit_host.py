"""check_vm_host's logic with fakes: figures, problems, drift, the expected
file, the order of problems, the summary's JSON form, and a whole run
in-process against a fake connection (libcheck.host, libcheck.hostruntime,
libcheck.samplecodec).
"""

from __future__ import annotations

import io
import zlib
from pathlib import Path
from typing import Optional

import pytest
from harness.fakes import FakeClock, FakeConnection, FakeDomain
from nagiosplugin.state import Critical, Ok, Unknown, Warn

from libcheck.clocks import Clocks
from libcheck.disk import CHECK as DISK_CHECK
from libcheck.errors import UsageError
from libcheck.host import (
    CHECK as HOST_CHECK,
)
from libcheck.host import (
    HostOptions,
    Observed,
    domain_problems,
    drift_problems,
    expected_domains,
    figures_of,
    read_expect_file,
    summary_text,
)
from libcheck.hostcheckbase import Problem
from libcheck.hostruntime import PROBLEMS_IN_STATUS, HostRun, condition_of, worst_first
from libcheck.inspector import Inspector
from libcheck.reasons import Paused, Shutoff
from libcheck.runtime import Run
from libcheck.samplecodec import MAX_DOMAINS, decode_summary, encode
from libcheck.samples import (
    DiskError,
    DomainIdentity,
    DomainState,
    HostDomain,
    HostSummary,
    NodeSample,
)

GIB_KIB = 1024 * 1024
BOOT = "0f0e0d0c-0000-4000-8000-0000000000bb"


def host_options(**changed) -> HostOptions:
    """check_vm_host's options at their defaults, with `changed` set."""
    defaults = dict(expect_domain=[], expect_file=None, state_if_crashed="critical",
                    state_if_paused_error="critical", state_if_paused="warning",
                    state_if_autostart_down="warning", state_if_stopped="ok",
                    state_if_not_monitored="warning", state_if_gone="warning")
    return HostOptions(**{**defaults, **changed})


def domain(name: str, state: DomainState, reason: int = 0, *, active: Optional[bool] = None,
           autostart: bool = False, vcpus: Optional[int] = 1,
           memory_kib: Optional[int] = GIB_KIB,
           disk_errors: tuple[DiskError, ...] = ()) -> HostDomain:
    """A summary row; active (an ID) unless shut off, as libvirt gives it."""
    has_id = state is not DomainState.SHUTOFF if active is None else active
    identity = DomainIdentity(name, f"00000000-0000-4000-8000-{zlib.crc32(name.encode()):012d}",
                              7 if has_id else None, state, reason, disk_errors)
    return HostDomain(identity, autostart, vcpus, memory_kib)


def summary(*domains: HostDomain, cpus: int = 8, memory_kib: int = 16 * GIB_KIB,
            free_kib: Optional[int] = 4 * GIB_KIB) -> HostSummary:
    return HostSummary(1_700_000_000.0, 5_000.0, NodeSample(cpus, memory_kib, free_kib),
                       tuple(domains), BOOT)


# -- figures -----------------------------------------------------------------------------------

EVERY_STATE = summary(
    domain("nostate", DomainState.NOSTATE),
    domain("running", DomainState.RUNNING, vcpus=2, memory_kib=2 * GIB_KIB),
    domain("blocked", DomainState.BLOCKED, vcpus=3),
    domain("paused", DomainState.PAUSED, vcpus=4, memory_kib=2 * GIB_KIB),
    domain("shuttingdown", DomainState.SHUTDOWN),
    domain("shutoff", DomainState.SHUTOFF, vcpus=8, memory_kib=8 * GIB_KIB),
    domain("auto-down", DomainState.SHUTOFF, autostart=True, vcpus=16),
    domain("crashed", DomainState.CRASHED, vcpus=2),
    domain("pmsuspended", DomainState.PMSUSPENDED),
)


def test_figures_count_each_state_and_sum_what_the_active_domains_hold():
    figures = figures_of(EVERY_STATE, None)
    assert (figures.running, figures.paused, figures.shutoff, figures.crashed,
            figures.suspended, figures.other) == (2, 1, 2, 1, 1, 2)
    assert figures.autostart_down == 1
    # Every domain with an ID counts (paused, crashed, suspended too); shut-off ones do not.
    assert figures.active_vcpus == 1 + 2 + 3 + 4 + 1 + 2 + 1
    assert figures.active_memory == (1 + 2 + 1 + 2 + 1 + 1 + 1) * GIB_KIB * 1024
    assert (figures.host_cpus, figures.host_memory, figures.host_memory_free) == (
        8, 16 * 2**30, 4 * 2**30)
    assert (figures.not_monitored, figures.gone) == (None, None)


def test_figures_of_drift_count_both_ways():
    figures = figures_of(EVERY_STATE, frozenset({"running", "paused", "elsewhere", "removed"}))
    assert figures.not_monitored == 7
    assert figures.gone == 2


def test_one_active_domain_without_vcpus_leaves_the_sums_unknown():
    figures = figures_of(summary(domain("a", DomainState.RUNNING),
                                 domain("b", DomainState.RUNNING, vcpus=None, memory_kib=None)),
                         None)
    assert figures.active_vcpus is None and figures.active_memory is None
    # A shut-off domain's unknown numbers do not matter: it holds nothing.
    figures = figures_of(summary(domain("a", DomainState.RUNNING),
                                 domain("b", DomainState.SHUTOFF, vcpus=None, memory_kib=None)),
                         None)
    assert (figures.active_vcpus, figures.active_memory) == (1, GIB_KIB * 1024)


def test_no_free_memory_from_libvirt_is_none_not_zero():
    assert figures_of(summary(free_kib=None), None).host_memory_free is None


def test_the_ok_text_gives_counts_and_ratios():
    text = summary_text(figures_of(summary(
        domain("a", DomainState.RUNNING, vcpus=6, memory_kib=4 * GIB_KIB),
        domain("b", DomainState.RUNNING, vcpus=6, memory_kib=4 * GIB_KIB),
        domain("c", DomainState.SHUTOFF)), None))
    assert text == "2 running, 1 shut off; 12 vCPUs on 8 CPUs (1.50x), 8.0 GiB of " \
                   "16.0 GiB memory (0.50x)"


# -- problems of one domain --------------------------------------------------------------------

@pytest.mark.parametrize(("row", "state", "text"), [
    (domain("vm1", DomainState.CRASHED), Critical, "vm1: crashed"),
    (domain("vm1", DomainState.SHUTOFF, Shutoff.CRASHED), Critical,
     "vm1: shut off (crashed: QEMU ended unexpectedly or the guest panicked)"),
    (domain("vm1", DomainState.PAUSED, Paused.IOERROR,
            disk_errors=(DiskError("vdb", 2),)), Critical,
     "vm1: paused (by a disk I/O error: host storage full or failing?), vdb: no space left"),
    (domain("vm1", DomainState.PAUSED, Paused.IOERROR,
            disk_errors=(DiskError("vda", 1), DiskError("vdb", 2))), Critical,
     "vm1: paused (by a disk I/O error: host storage full or failing?), vda: I/O error, "
     "vdb: no space left"),
    (domain("vm1", DomainState.PAUSED, Paused.USER), Warn, "vm1: paused (by the user)"),
    (domain("vm1", DomainState.PMSUSPENDED), Warn, "vm1: suspended"),
    (domain("vm1", DomainState.SHUTOFF, Shutoff.DESTROYED, autostart=True), Warn,
     "vm1: shut off (destroyed), but marked autostart"),
    (domain("vm1", DomainState.SHUTOFF), Ok, "vm1: shut off"),
])
def test_a_domain_makes_one_problem_with_the_default_state(row, state, text):
    assert domain_problems(row, host_options()) == [Problem(state, text)]


@pytest.mark.parametrize("row", [
    domain("vm1", DomainState.RUNNING, autostart=True),
    domain("vm1", DomainState.BLOCKED),
    domain("vm1", DomainState.NOSTATE),
])
def test_a_running_domain_makes_no_problem(row):
    assert domain_problems(row, host_options()) == []


@pytest.mark.parametrize(("row", "option", "text"), [
    (domain("vm1", DomainState.CRASHED), "state_if_crashed", "vm1: crashed"),
    (domain("vm1", DomainState.PAUSED, Paused.WATCHDOG), "state_if_paused_error",
     "vm1: paused (by its watchdog: the guest stopped responding)"),
    (domain("vm1", DomainState.PAUSED), "state_if_paused", "vm1: paused"),
    (domain("vm1", DomainState.SHUTOFF, autostart=True), "state_if_autostart_down",
     "vm1: shut off, but marked autostart"),
    (domain("vm1", DomainState.SHUTOFF), "state_if_stopped", "vm1: shut off"),
    (domain("vm1", DomainState.SHUTDOWN), "state_if_stopped", "vm1: shutting down"),
])
def test_each_case_takes_its_own_option(row, option, text):
    for name, expected in (("ok", Ok), ("warning", Warn), ("critical", Critical),
                           ("unknown", Unknown)):
        problems = domain_problems(row, host_options(**{option: name}))
        assert [problem.state for problem in problems] == [expected], (option, name)
        assert problems[0].text.startswith(text)


# -- drift -------------------------------------------------------------------------------------

def test_drift_names_the_unexpected_and_the_absent_sorted():
    observed = Observed(summary(domain("web2", DomainState.RUNNING),
                                domain("db", DomainState.RUNNING),
                                domain("web1", DomainState.SHUTOFF)),
                        frozenset({"web1", "zz-gone", "aa-gone"}), None)
    problems = drift_problems(observed, host_options(state_if_gone="critical"))
    assert problems == [
        Problem(Warn, "db: not monitored (not among the expected domains)"),
        Problem(Warn, "web2: not monitored (not among the expected domains)"),
        Problem(Critical, "aa-gone: expected, but not on this hypervisor (removed or migrated?)"),
        Problem(Critical, "zz-gone: expected, but not on this hypervisor (removed or migrated?)"),
    ]


def test_an_expected_domain_may_be_named_by_its_uuid_in_any_case():
    web = domain("web", DomainState.RUNNING)
    other = "11111111-2222-4333-8444-555555555555"
    observed = Observed(summary(web, domain("db", DomainState.RUNNING)),
                        frozenset({web.identity.uuid.upper(), "db", other.upper()}), None)
    assert drift_problems(observed, host_options()) == [
        Problem(Warn, f"{other.upper()}: expected, but not on this hypervisor "
                      "(removed or migrated?)")]
    figures = figures_of(observed.summary, observed.expected)
    assert (figures.not_monitored, figures.gone) == (0, 1)


def test_no_expected_list_is_no_drift():
    observed = Observed(summary(domain("web", DomainState.RUNNING)), None, None)
    assert drift_problems(observed, host_options()) == []
    assert expected_domains(host_options()) is None


# -- the expected file -------------------------------------------------------------------------

def test_the_expected_file_skips_blank_and_comment_lines(tmp_path):
    path = tmp_path / "expected"
    path.write_text("# written by check_vm_inventory\nweb1\n\n   \nweb2\r\n#web3\nnamé\n")
    assert read_expect_file(str(path)) == ["web1", "web2", "namé"]


def test_the_expected_file_and_the_option_both_count(tmp_path):
    path = tmp_path / "expected"
    path.write_text("web1\nweb2\n")
    options = host_options(expect_domain=["db", "web1"], expect_file=str(path))
    assert expected_domains(options) == frozenset({"web1", "web2", "db"})


def test_an_empty_expected_file_expects_no_domain(tmp_path):
    path = tmp_path / "expected"
    path.write_text("# nothing here yet\n")
    assert expected_domains(host_options(expect_file=str(path))) == frozenset()


@pytest.mark.parametrize(("content", "words"), [
    (b"\xff\xfe web\n", "not UTF-8 text"),
    (b"x" * (16 * 1024 * 1024 + 1), "larger than 16 MiB"),
])
def test_an_unusable_expected_file_is_a_usage_error(tmp_path, content, words):
    path = tmp_path / "expected"
    path.write_bytes(content)
    with pytest.raises(UsageError, match=f"^--expect-file {path}: {words}$"):
        read_expect_file(str(path))


# -- worst first, and how many the status line names -------------------------------------------

def test_problems_go_worst_first_each_state_in_its_order():
    problems = [Problem(Warn, "w1"), Problem(Ok, "o1"), Problem(Critical, "c1"),
                Problem(Unknown, "u1"), Problem(Warn, "w2"), Problem(Critical, "c2")]
    assert [problem.text for problem in worst_first(problems)] == [
        "c1", "c2", "u1", "w1", "w2", "o1"]


def test_the_status_names_the_first_few_and_counts_the_rest():
    problems = worst_first([Problem(Warn, f"w{index}") for index in range(5)]
                           + [Problem(Critical, "c"), Problem(Ok, "fine")])
    condition = condition_of(problems)
    assert condition.state == Critical
    assert PROBLEMS_IN_STATUS == 3
    assert condition.text == "c; w0; w1 (+3 more)"
    assert condition_of(worst_first([Problem(Warn, "a"), Problem(Warn, "b"),
                                     Problem(Warn, "c")])).text == "a; b; c"
    assert condition_of([Problem(Ok, "fine")]) is None


# -- the summary's JSON form -------------------------------------------------------------------

def test_the_summary_survives_its_json_form():
    original = summary(
        domain("io", DomainState.PAUSED, Paused.IOERROR,
               disk_errors=(DiskError("vda", 1), DiskError("vdb", 2))),
        domain("auto", DomainState.SHUTOFF, autostart=True, vcpus=None, memory_kib=None),
        domain("web", DomainState.RUNNING, vcpus=16384, memory_kib=2**64 - 1),
        free_kib=None)
    assert decode_summary(encode(original)) == original


def _damaged(edit) -> dict:
    data = encode(summary(domain("web", DomainState.RUNNING, disk_errors=(DiskError("vda", 1),))))
    edit(data)
    return data


def _first_domain(data: dict) -> dict:
    return data["domains"][0]


@pytest.mark.parametrize(("edit", "words"), [
    (lambda data: _first_domain(data).update(vcpus=16385), "a vCPU count of 16385"),
    (lambda data: _first_domain(data).update(vcpus=-1), "a vCPU count of -1"),
    (lambda data: _first_domain(data).update(memory_kib=2**64),
     "a counter of 18446744073709551616 "),
    (lambda data: _first_domain(data).update(autostart=1), "1 is not true or false"),
    (lambda data: _first_domain(data)["identity"].update(state="running"),
     "'running' is not an integer"),
    (lambda data: _first_domain(data)["identity"].update(reason=2**31), "a number of"),
    (lambda data: _first_domain(data)["identity"].update(domain_id=-5), "a number of -5"),
    (lambda data: _first_domain(data)["identity"]["disk_errors"][0].update(code=-1),
     "a number of -1"),
    (lambda data: data["node"].update(cpus=16385), "a CPU count of 16385"),
    (lambda data: data["node"].update(memory_kib=-1), "a counter of -1"),
    (lambda data: data["node"].pop("cpus"), "a NodeSample has no cpus"),
    (lambda data: data.update(wall_time=float("inf")), "not finite"),
    (lambda data: data.update(boot_time=-1.0), "negative"),
    (lambda data: data.update(domains={}), "is not a list"),
    (lambda data: data.update(domains=[None]), "a HostDomain is not an object"),
    (lambda data: data.update(domains=[_first_domain(data)] * (MAX_DOMAINS + 1)),
     f"longer than {MAX_DOMAINS}"),
])
def test_a_damaged_summary_is_refused_with_its_reason(edit, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(")):
        decode_summary(_damaged(edit))


# -- whole runs against a fake connection ------------------------------------------------------

def fake_domain(name: str, index: int, state: tuple[int, int]) -> FakeDomain:
    shut_off = state[0] == DomainState.SHUTOFF.value
    fake = FakeDomain(name, f"00000000-0000-4000-8000-{index:012d}", -1 if shut_off else index,
                      state)
    fake.info_values = [state[0], 2 * GIB_KIB, 2 * GIB_KIB, 2, 0]
    return fake


def fake_connection(*domains: FakeDomain) -> FakeConnection:
    # No state in the bulk answer: each domain answers its own state().
    return FakeConnection(domains, stats={})


def run_host(connection: FakeConnection, tmp_path: Path, *argv: str) -> tuple[int, list[str]]:
    clock = FakeClock()
    clocks = Clocks(clock.time, clock.monotonic, lambda: BOOT)
    stream = io.StringIO()
    code = HostRun(HOST_CHECK, stream=stream, clocks=clocks,
                   open_inspector=lambda uri: Inspector(connection, uri, clock=clock.time,
                                                        boot_time=clock.monotonic,
                                                        boot=lambda: BOOT))(
        ["--connect", "fake:///system", "--state-dir", str(tmp_path / "state"), *argv])
    return code, stream.getvalue().splitlines()


def test_a_pause_on_a_full_disk_names_the_disk_and_is_critical(tmp_path):
    paused = fake_domain("vm1", 1, (3, Paused.IOERROR))
    paused.disk_errors = {"vda": 0, "vdb": 2}
    running = fake_domain("vm2", 2, (1, 1))
    running.disk_errors = {"vda": 1}
    code, lines = run_host(fake_connection(paused, running), tmp_path)
    assert code == 2
    assert lines[0].startswith("VM_HOST CRITICAL - fake:///system: vm1: paused (by a disk I/O "
                               "error: host storage full or failing?), vdb: no space left | ")
    # Disk errors are asked only of the domain paused by an I/O error.
    assert "diskErrors" in paused.calls
    assert "diskErrors" not in running.calls


def test_an_autostart_domain_shut_off_is_a_warning_with_its_name(tmp_path):
    connection = fake_connection(fake_domain("web", 1, (1, 1)), fake_domain("db", 2, (5, 0)))
    connection.autostart = {"db", "web"}
    code, lines = run_host(connection, tmp_path)
    assert code == 1
    assert lines[0].startswith("VM_HOST WARNING - fake:///system: db: shut off, but marked "
                               "autostart | ")
    assert "autostart_down=1;;;0" in lines[0]


def test_the_status_names_three_problems_and_the_long_output_all(tmp_path):
    domains = [fake_domain(f"vm{index}", index, (3, Paused.USER)) for index in range(1, 6)]
    domains.append(fake_domain("dead", 9, (6, 0)))
    code, lines = run_host(fake_connection(*domains), tmp_path)
    assert code == 2
    assert lines[0].split(" | ")[0] == (
        "VM_HOST CRITICAL - fake:///system: dead: crashed; vm1: paused (by the user); "
        "vm2: paused (by the user) (+3 more)")
    assert lines[1:7] == ["dead: crashed"] + [
        f"vm{index}: paused (by the user)" for index in range(1, 6)]


def test_problems_of_one_state_follow_the_names_not_libvirt_order(tmp_path):
    domains = [fake_domain(name, index, (3, Paused.USER))
               for index, name in enumerate(["zeta", "alpha", "mid"], start=1)]
    code, lines = run_host(fake_connection(*domains), tmp_path)
    assert code == 1
    assert lines[0].split(" | ")[0] == (
        "VM_HOST WARNING - fake:///system: alpha: paused (by the user); "
        "mid: paused (by the user); zeta: paused (by the user)")


def test_a_disk_check_of_a_vm_paused_on_a_full_disk_names_the_disk(tmp_path):
    paused = FakeDomain(state=(3, 5))
    paused.disk_errors = {"vdb": 2}
    connection = FakeConnection([paused], stats={"state.state": 3, "state.reason": 5})
    stream = io.StringIO()
    code = Run(DISK_CHECK, stream=stream,
               open_inspector=lambda uri: Inspector(connection, uri))(
        ["--connect", "fake:///system", "-d", "vm1", "--state-dir", str(tmp_path / "state"),
         "--snapshot-max-age", "0"])
    assert code == 2
    assert stream.getvalue().splitlines() == [
        "VM_DISK_IO CRITICAL - vm1: paused (by a disk I/O error: host storage full or "
        "failing?), vdb: no space left"]


def test_a_domain_named_like_an_upper_case_uuid_is_expected_by_that_name():
    name = "ABCDEF01-2222-4333-8444-555555555555"
    observed = Observed(summary(domain(name, DomainState.RUNNING)), frozenset({name}), None)
    assert drift_problems(observed, host_options()) == []
