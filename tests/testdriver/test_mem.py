"""check_vm_mem against libvirt's test driver, through the real executable.

The test driver's balloon numbers are static (available 2 GiB, usable 1 GiB)
and carry a last_update from 1989 with no stats period, so by default they are
rightly refused as not polled; `--balloon-max-age 0` accepts them.
"""

from __future__ import annotations

from harness.paths import DEFAULT_URI, NODE_URI, REPO

GIB = 1024**3
ACCEPT_ANY_AGE = ("--balloon-max-age", "0")


def test_unpolled_balloon_is_unknown_with_the_fix_and_host_side_numbers(mem):
    run = mem("--connect", DEFAULT_URI, "-d", "test")
    assert run.returncode == 3
    assert run.status == (
        "VM_MEM UNKNOWN - test: balloon statistics are not polled (no stats period): set "
        "<stats period='10'/> in the domain's <memballoon> (live: virsh dommemstat DOMAIN "
        "--period 10 --live); host-side RSS 1.0 GiB of 8.0 GiB configured")
    perf = run.perfdata
    assert set(perf) == {"host_rss", "host_rss_usage", "balloon_actual"}
    assert (perf["host_rss"].value, perf["host_rss"].uom) == (GIB, "B")
    assert perf["host_rss_usage"].value == 12.5
    assert "mem_usage" not in perf  # never a silent 0% or 100%


def test_fresh_balloon_numbers_give_used_from_usable(mem):
    run = mem("--connect", DEFAULT_URI, "-d", "test", *ACCEPT_ANY_AGE)
    assert (run.returncode, run.status) == (0, "VM_MEM OK - test: 50.0% used (1.0 GiB of 2.0 GiB)")
    perf = run.perfdata
    assert perf["mem_used"].value == GIB  # available 2 GiB - usable 1 GiB
    assert perf["mem_used"].maximum == str(2 * GIB)
    for label in ("mem_used", "mem_available", "mem_usable", "mem_unused", "mem_disk_caches",
                  "balloon_actual", "host_rss"):
        assert perf[label].uom == "B", label
    # The test driver's balloon never updates (last_update is fixed): no
    # per-second rates of the guest's counters can be said.
    assert not any(label.endswith("_per_second") for label in perf)
    assert (perf["mem_usage"].uom, perf["mem_usage"].maximum) == ("%", "100")


def test_thresholds_on_percent_and_on_bytes(mem):
    run = mem("--connect", DEFAULT_URI, "-d", "test", *ACCEPT_ANY_AGE, "-w", "40", "-c", "90")
    assert run.returncode == 1
    assert run.status == "VM_MEM WARNING - test: 50.0% used (1.0 GiB of 2.0 GiB) (> 40)"
    run = mem("--connect", DEFAULT_URI, "-d", "test", *ACCEPT_ANY_AGE, "-c", "mem_used=512Mi")
    assert run.returncode == 2
    assert run.status.endswith(": used 1.0 GiB (> 536870912)")
    assert run.perfdata["mem_used"].crit == "536870912"


def test_host_side_thresholds_apply_when_the_policy_lets_the_fallback_pass(mem):
    run = mem("--connect", DEFAULT_URI, "-d", "test", "--state-if-no-balloon", "ok",
              "-w", "host_rss_usage=10")
    assert run.returncode == 1
    assert run.status == "VM_MEM WARNING - test: host-side RSS 12.5% of 8.0 GiB configured (> 10)"


def test_the_host_side_share_is_judged_beside_fresh_balloon_numbers_too(mem):
    run = mem("--connect", DEFAULT_URI, "-d", "test", "--balloon-max-age", "0",
              "-w", "host_rss_usage=10")
    assert run.returncode == 1
    assert run.status == "VM_MEM WARNING - test: host-side RSS 12.5% of 8.0 GiB configured (> 10)"
    assert "mem_usage" in run.perfdata and "host_rss_usage" in run.perfdata


def test_state_if_no_balloon_sets_the_state(mem):
    run = mem("--connect", DEFAULT_URI, "-d", "test", "--state-if-no-balloon", "warning")
    assert run.returncode == 1
    assert run.status.startswith("VM_MEM WARNING - test: balloon statistics are not polled")


def test_domain_without_balloon_says_so_without_numbers(mem):
    run = mem("--connect", NODE_URI, "-d", "db 01 'quoted'")
    assert run.returncode == 3
    assert run.status.startswith(
        "VM_MEM UNKNOWN - db 01 'quoted': no balloon statistics from the guest: load the "
        "virtio balloon driver")
    assert run.status.endswith("no host-side numbers either")
    assert run.perfdata == {}


def test_verbose_shows_every_balloon_field(mem):
    run = mem("--connect", DEFAULT_URI, "-d", "test", *ACCEPT_ANY_AGE, "-v")
    assert "balloon model virtio, stats period none" in run.lines
    fields = next(line for line in run.lines if line.startswith("balloon fields"))
    for field in ("actual=2097152", "available=2097152", "usable=1048576", "unused=1048576",
                  "last_update=627319920", "rss=1048576"):
        assert field in fields


def test_stopped_domain_follows_the_state_policy(mem):
    run = mem("--connect", NODE_URI, "-d", "stopped01")
    assert (run.returncode, run.stdout) == (2, "VM_MEM CRITICAL - stopped01: shut off\n")


def test_help_matches_the_golden_file(mem):
    run = mem("--help")
    assert run.returncode == 0
    assert run.stdout == (REPO / "tests" / "data" / "golden" / "check_vm_mem.help").read_text()


def test_no_balloon_and_no_numbers_still_takes_the_policy_state(mem):
    run = mem("--connect", NODE_URI, "-d", "db 01 'quoted'", "--state-if-no-balloon", "warning")
    assert run.returncode == 1
    assert run.status.startswith("VM_MEM WARNING - db 01 'quoted': no balloon statistics")


def test_a_state_directory_that_cannot_be_used_is_said_in_the_status_line(mem, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    run = mem("--connect", DEFAULT_URI, "-d", "test", *ACCEPT_ANY_AGE, "--state-dir", str(blocker))
    assert (run.returncode, run.status) == (
        0, f"VM_MEM OK - test: 50.0% used (1.0 GiB of 2.0 GiB) (state not used: {blocker}: "
           "Not a directory)")
    assert f"state not used: {blocker}: Not a directory" in run.lines[1:]
