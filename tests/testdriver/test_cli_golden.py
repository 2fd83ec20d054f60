"""Golden tests: --help, --version and the exact line of each usage error."""

from __future__ import annotations

from pathlib import Path

import pytest
from harness.paths import DEFAULT_URI, REPO

GOLDEN = REPO / "tests" / "data" / "golden"


def test_help_matches_the_golden_file(cpu):
    run = cpu("--help")
    assert run.returncode == 0
    assert run.stdout == (GOLDEN / "check_vm_cpu.help").read_text()


def test_version(cpu):
    run = cpu("--version")
    assert (run.returncode, run.stdout) == (0, "check_vm_cpu 0.1.0\n")


USAGE_ERRORS = [
    ([], "the following arguments are required: -d/--domain (see --help)"),
    (["-d", "test", "-w", "abc"], "-w 'abc': 'abc' is not a number (e.g. 80, 2.5, 100M, 1Gi)"),
    (["-d", "test", "-c", "10:5"], "-c '10:5': range '10:5': start 10 is greater than end 5"),
    (["-d", "test", "-w", "@"],
     "-w '@': '@' is not a range (e.g. 90, 10:, ~:5, 10:20, @10:20)"),
    (["-d", "test", "-w", "5M:x"], "-w '5M:x': 'x' is not a number (e.g. 80, 2.5, 100M, 1Gi)"),
    (["-d", "test", "-w", "1" + "0" * 400], "-w '1" + "0" * 400 + "': '1" + "0" * 400
     + "' is too large a number"),
    (["-d", "test", "-w", "bogus=5"],
     "-w 'bogus=5': unknown label 'bogus' (known: cpu_usage, cpu_user, cpu_system, cpu_wait, "
     "cpu_steal, cpu_time_ns, vcpu_usage, vcpu_wait, vcpu_steal, <vcpu>_usage, <vcpu>_wait, "
     "<vcpu>_steal)"),
    (["-d", "test", "-w", "vcpu7_usage=5"],
     "threshold label 'vcpu7_usage': this domain has no vcpu 'vcpu7' (it has: vcpu0, vcpu1)"),
    (["-d", "test", "-t", "0"],
     "argument -t/--timeout: '0' is out of range (0 < seconds <= 1 year) (see --help)"),
    (["-d", "test", "-t", "2", "--sample-interval", "1.5"],
     "--sample-interval (1.5 s) must be less than half of --timeout (2 s)"),
    (["-d", "test", "--state-if-stopped", "maybe"],
     "argument --state-if-stopped: 'maybe' is not a state (ok, warning, critical, unknown) "
     "(see --help)"),
    (["-d", "bad\nname"],
     "argument -d/--domain: the domain name contains a control character (see --help)"),
    (["-d", "test", "--frobnicate"], "unrecognized arguments: --frobnicate (see --help)"),
]


@pytest.mark.parametrize(("args", "message"), USAGE_ERRORS)
def test_usage_error_is_one_unknown_line(cpu, args, message):
    run = cpu("--connect", DEFAULT_URI, *args)
    assert run.returncode == 3
    assert run.stdout == f"VM_CPU UNKNOWN - {message}\n"
    assert run.stderr == ""


def test_connection_failure_names_the_fix(cpu, tmp_path: Path):
    run = cpu("--connect", f"qemu+unix:///system?socket={tmp_path}/nosock", "-d", "x")
    assert run.returncode == 3
    assert run.status.startswith("VM_CPU UNKNOWN - cannot connect to libvirt at qemu+unix")
    assert run.status.endswith("(is libvirtd (or virtqemud) running on this host?)")
    assert len(run.lines) == 1


def test_unknown_uri_scheme(cpu):
    run = cpu("--connect", "bogus:///system", "-d", "x")
    assert run.stdout == ("VM_CPU UNKNOWN - cannot connect to libvirt at bogus:///system: "
                          "'bogus' is not a libvirt driver (check --connect, e.g. "
                          "qemu:///system or qemu+ssh://host/system)\n")
