"""check_vm_cpu against libvirt's test driver, through the real executable."""

from __future__ import annotations

import json
import os
import re

import pytest
from harness.checkrun import run_check
from harness.paths import DEFAULT_URI, NODE_URI

OK_LINE = re.compile(r"^VM_CPU OK - test: (\d+\.\d)% of 2 vCPUs$")


def test_default_domain_is_ok_with_half_of_two_vcpus(cpu):
    # The test driver's cpu time follows the wall clock: one CPU-second per
    # second, i.e. 50% of its two vCPUs.
    run = cpu("--connect", DEFAULT_URI, "-d", "test")
    assert run.returncode == 0, run.stdout
    assert len(run.lines) == 1
    assert run.stderr == ""
    usage = float(OK_LINE.match(run.status).group(1))
    assert 49.0 <= usage <= 51.0


def test_perfdata_labels_units_and_bounds(cpu):
    run = cpu("--connect", DEFAULT_URI, "-d", "test")
    perf = run.perfdata
    assert set(perf) == {"cpu_usage", "cpu_user", "cpu_system", "cpu_time_ns",
                         "vcpu0_usage", "vcpu1_usage"}
    for label in ("cpu_usage", "cpu_user", "cpu_system", "vcpu0_usage", "vcpu1_usage"):
        assert perf[label].uom == "%"
        assert (perf[label].minimum, perf[label].maximum) == ("0", "100")
    assert perf["cpu_time_ns"].uom == "c"
    assert perf["cpu_time_ns"].value > 1e18  # the test driver's clock-driven counter
    assert 49.0 <= perf["cpu_usage"].value <= 51.0


def test_thresholds_set_state_and_appear_in_perfdata(cpu):
    run = cpu("--connect", DEFAULT_URI, "-d", "test", "-w", "40", "-c", "90")
    assert run.returncode == 1
    assert re.match(r"^VM_CPU WARNING - test: \d+\.\d% of 2 vCPUs \(> 40\)$", run.status)
    assert (run.perfdata["cpu_usage"].warn, run.perfdata["cpu_usage"].crit) == ("40", "90")
    assert run.perfdata["vcpu0_usage"].warn == ""


def test_critical_beats_warning(cpu):
    run = cpu("--connect", DEFAULT_URI, "-d", "test", "-w", "10", "-c", "20")
    assert run.returncode == 2
    assert run.status.endswith("(> 20)")


def test_device_label_beats_generic_label(cpu):
    run = cpu("--connect", DEFAULT_URI, "-d", "test",
              "-w", "vcpu_usage=~:0", "-w", "vcpu1_usage=50")
    perf = run.perfdata
    assert perf["vcpu0_usage"].warn == "~:0"
    assert perf["vcpu1_usage"].warn == "50"
    assert run.returncode == 1
    assert "vcpu0 usage" in run.status


def test_inverted_range_and_unit_suffix(cpu):
    run = cpu("--connect", DEFAULT_URI, "-d", "test", "-c", "@40:60",
              "-w", "cpu_time_ns=1k")
    assert run.returncode == 2
    assert "(inside 40:60)" in run.status
    assert run.perfdata["cpu_time_ns"].warn == "1000"


def test_second_run_measures_against_the_saved_state(cpu, state_dir):
    first = cpu("--connect", DEFAULT_URI, "-d", "test", "-vv")
    assert "within this run (no previous sample)" in first.stdout
    files = list(state_dir.glob("cpu-*.json"))
    assert len(files) == 1
    stored = json.loads(files[0].read_text())
    assert stored["format"] == "check_vm-state/1"
    assert len(stored["snapshots"]) == 2
    second = cpu("--connect", DEFAULT_URI, "-d", "test", "-vv")
    assert second.returncode == 0
    assert "since the previous run" in second.stdout
    assert 49.0 <= second.perfdata["cpu_usage"].value <= 51.0


def test_state_files_are_private(cpu, state_dir):
    cpu("--connect", DEFAULT_URI, "-d", "test")
    assert state_dir.stat().st_mode & 0o777 == 0o700
    paths = list(state_dir.rglob("*"))
    assert any(path.is_dir() for path in paths)  # the host snapshot's directories
    for path in paths:
        mode = 0o700 if path.is_dir() else 0o600
        assert path.lstat().st_mode & 0o777 == mode, path
        assert path.lstat().st_uid == os.geteuid(), path


def test_verbose_lists_every_reading(cpu):
    run = cpu("--connect", DEFAULT_URI, "-d", "test", "-v")
    assert run.lines[1].startswith("cpu_usage: ")
    assert any(line.startswith("vcpu1_usage: vcpu1 usage") for line in run.lines)


@pytest.mark.parametrize("reference", ["web01", "1", "4dea22b3-1d52-d8f3-2516-782e98ab3fa0",
                                       "4DEA22B31D52D8F32516782E98AB3FA0"])
def test_domain_found_by_name_id_or_uuid(cpu, reference):
    run = cpu("--connect", NODE_URI, "-d", reference)
    assert run.returncode == 0, run.stdout
    assert re.match(r"^VM_CPU OK - web01: 2\d\.\d% of 4 vCPUs$", run.status)
    assert {f"vcpu{i}_usage" for i in range(4)} <= set(run.perfdata)


def test_domain_name_with_spaces_and_quotes(cpu):
    run = cpu("--connect", NODE_URI, "-d", "db 01 'quoted'")
    assert run.returncode == 0, run.stdout
    assert run.status.startswith("VM_CPU OK - db 01 'quoted': ")
    assert "of 1 vCPU" in run.status


@pytest.mark.parametrize(("domain", "options", "code", "status"), [
    ("stopped01", [], 2, "VM_CPU CRITICAL - stopped01: shut off"),
    ("stopped01", ["--state-if-stopped", "ok"], 0, "VM_CPU OK - stopped01: shut off"),
    ("paused01", [], 1, "VM_CPU WARNING - paused01: paused"),
    ("paused01", ["--state-if-paused", "critical"], 2, "VM_CPU CRITICAL - paused01: paused"),
])
def test_state_policy_for_domains_not_running(cpu, domain, options, code, status):
    run = cpu("--connect", NODE_URI, "-d", domain, *options)
    assert (run.returncode, run.stdout) == (code, status + "\n")


def test_missing_domain_follows_its_policy(cpu):
    run = cpu("--connect", NODE_URI, "-d", "nosuchvm")
    assert run.returncode == 2
    assert run.status.startswith("VM_CPU CRITICAL - no domain 'nosuchvm' on test://")
    run = cpu("--connect", NODE_URI, "-d", "nosuchvm", "--state-if-missing", "unknown")
    assert run.returncode == 3


def test_stopped_domain_leaves_no_state(cpu, state_dir):
    cpu("--connect", NODE_URI, "-d", "stopped01")
    assert not list(state_dir.glob("*.json"))


def test_first_run_pauses_for_the_default_sample_interval(state_dir):
    run = run_check("check_vm_cpu", "--connect", DEFAULT_URI, "-d", "test", "-vv",
                    state_dir=state_dir)
    basis = re.search(r"rates measured over (\d+\.\d+) s within this run", run.stdout)
    assert basis, run.stdout
    assert 1.5 <= float(basis.group(1)) < 2.5


# -- thresholds that judge nothing, negative ranges, visible digits ---------------------------

ACCEPT_HINT = ("--state-if-unmeasured-threshold ok makes this a note, for thresholds shared "
               "by hosts that differ")


def test_a_threshold_on_steal_the_test_driver_does_not_report_is_unknown(cpu):
    run = cpu("--connect", DEFAULT_URI, "-d", "test", "-c", "cpu_steal=0.0001")
    assert run.returncode == 3, run.stdout
    assert run.status == ("VM_CPU UNKNOWN - test: threshold -c cpu_steal judges nothing: this "
                          "driver or libvirt version reports no vCPU delay (libvirt >= 7.2 "
                          "reports it for QEMU/KVM guests)")
    assert run.lines[-1] == ACCEPT_HINT
    assert "cpu_usage" in run.perfdata  # the values are still there for graphs


def test_a_threshold_on_wait_names_why_there_is_none(cpu):
    run = cpu("--connect", DEFAULT_URI, "-d", "test", "-w", "cpu_wait=1", "-w", "vcpu_wait=1")
    assert run.returncode == 3, run.stdout
    assert run.status == ("VM_CPU UNKNOWN - test: threshold -w cpu_wait judges nothing: this "
                          "driver reports no vCPU wait (+1 more)")
    assert "threshold -w vcpu_wait judges nothing: this driver reports no vCPU wait" in run.lines


def test_accepted_thresholds_that_judge_nothing_are_a_note_below_the_status(cpu):
    run = cpu("--connect", DEFAULT_URI, "-d", "test", "-c", "cpu_steal=10", "-w", "90",
              "--state-if-unmeasured-threshold", "ok")
    assert run.returncode == 0, run.stdout
    assert OK_LINE.match(run.status)
    assert run.lines[1:] == ["threshold -c cpu_steal judges nothing: this driver or libvirt "
                             "version reports no vCPU delay (libvirt >= 7.2 reports it for "
                             "QEMU/KVM guests) (accepted: --state-if-unmeasured-threshold ok)"]


def test_an_unknown_label_is_refused_whatever_is_accepted(cpu):
    run = cpu("--connect", DEFAULT_URI, "-d", "test", "-c", "cpu_stolen=1",
              "--state-if-unmeasured-threshold", "ok")
    assert run.returncode == 3
    assert run.status.startswith("VM_CPU UNKNOWN - -c 'cpu_stolen=1': unknown label "
                                 "'cpu_stolen' (known: cpu_usage, ")


def test_a_domain_not_running_is_judged_by_the_state_policy_not_its_thresholds(cpu):
    run = cpu("--connect", NODE_URI, "-d", "stopped01", "-c", "cpu_steal=1")
    assert run.returncode == 2
    assert run.status.startswith("VM_CPU CRITICAL - stopped01: shut off")
    assert "judges nothing" not in run.stdout


@pytest.mark.parametrize(("option", "code", "state"), [("-w", 1, "WARNING"),
                                                       ("-c", 2, "CRITICAL")])
def test_a_range_of_negative_numbers_is_taken_as_one(cpu, option, code, state):
    run = cpu("--connect", DEFAULT_URI, "-d", "test", option, "-5:-1")
    assert run.returncode == code, run.stdout
    assert re.match(rf"^VM_CPU {state} - test: \d+\.\d% of 2 vCPUs \(> -1\)$", run.status)
    field = run.perfdata["cpu_usage"].warn if option == "-w" else run.perfdata["cpu_usage"].crit
    assert field == "-5:-1"


def test_a_crossed_threshold_shows_the_digits_that_cross_it(cpu):
    # The test driver's vCPUs use about 0.01% each: more than 0, which 0.0% would hide.
    run = cpu("--connect", DEFAULT_URI, "-d", "test", "-w", "vcpu0_usage=~:0")
    assert run.returncode == 1, run.stdout
    shown = re.match(r"^VM_CPU WARNING - test: vcpu0 usage (\d+\.\d+)% \(> 0\)$", run.status)
    assert shown and float(shown.group(1)) > 0, run.status
