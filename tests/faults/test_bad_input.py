"""Bad input: one UNKNOWN line that says what is wrong; odd names handled safely."""

from __future__ import annotations

import re

import pytest
from harness.faultkit import CHECKS, assert_one_line, assert_state_valid, timed_check

URI = "test:///default"
ALL = sorted(CHECKS)
HEADLINE = {"check_vm_cpu": "cpu_usage", "check_vm_mem": "mem_usage",
            "check_vm_disk_io": "vda_ops_per_second", "check_vm_nic": "testnet0_rx_bits_per_second"}
UNKNOWN_DEVICE = {"check_vm_cpu": ("-w", "vcpu9_usage=5"),
                  "check_vm_disk_io": ("--disk", "vdz"),
                  "check_vm_nic": ("--interface", "eth9")}

BAD_OPTIONS = [
    (("-w", "10:5"), "start 10 is greater than end 5"),
    (("-w", "@"), "is not a range"),
    (("-c", "abc"), "'abc' is not a number"),
    (("-c", "1" + "0" * 400), "is too large a number"),
    (("-w", "M10"), "'M10' is not a number"),
    (("-w", "10MM"), "'10MM' is not a number"),
    (("-w", "10%"), "'10%' is not a number"),
    (("-w", "1:2:3"), "is not a range"),
    (("-w", "no such=5"), "a label before '=' is missing or has spaces"),
    (("-w", "bogus_label=5"), "unknown label 'bogus_label'"),
    (("-t", "-1"), "is not a duration"),
    (("-t", "10y"), "is not a duration"),
    (("--max-age", "soon"), "is not a duration"),
    (("--state-if-stopped", "fine"), "'fine' is not a state"),
    (("-d", "bad\nname"), "control character"),
]


@pytest.mark.parametrize("check", ALL)
@pytest.mark.parametrize(("options", "message"), BAD_OPTIONS,
                         ids=[" ".join(options) for options, _ in BAD_OPTIONS])
def test_malformed_options_are_one_unknown_line(check, options, message, state_dir):
    args = ["--connect", URI, "-d", "test", *options]
    timed = timed_check(check, *args, state_dir=state_dir)
    assert timed.run.returncode == 3
    assert_one_line(timed.run, check, "UNKNOWN", message)
    assert timed.seconds < 3
    assert not state_dir.exists()  # refused before anything was touched


@pytest.mark.parametrize("check", sorted(UNKNOWN_DEVICE))  # the memory check has no devices
def test_an_unknown_device_is_one_unknown_line(check, state_dir):
    option, value = UNKNOWN_DEVICE[check]
    timed = timed_check(check, "--connect", URI, "-d", "test", option, value,
                        state_dir=state_dir)
    assert timed.run.returncode == 3
    assert_one_line(timed.run, check, "UNKNOWN", "this domain has no")


ODD_NAMES = ["my vm", "it's", 'say "hi"', "../../etc/passwd", "a/b", "..", "ünïcødé-vm",
             "x" * 300, "-"]


@pytest.mark.parametrize("check", ALL)
@pytest.mark.parametrize("name", ODD_NAMES, ids=range(len(ODD_NAMES)))
def test_odd_domain_names_are_looked_up_safely(check, name, state_dir, tmp_path):
    timed = timed_check(check, "--connect", URI, f"--domain={name}",
                        "--state-if-missing", "unknown", state_dir=state_dir)
    assert timed.run.returncode == 3
    assert_one_line(timed.run, check, "UNKNOWN", f"no domain '{name}' on {URI}")
    assert assert_state_valid(state_dir) == []
    # Nothing named after it: the host snapshot the lookup refreshed is named by a hash.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state"]
    assert all(re.fullmatch(r"hostsnap-[0-9a-f]{32}(\.lock)?|\.pruned-snapshots", p.name)
               for p in state_dir.iterdir())


@pytest.mark.parametrize("check", ALL)
def test_a_lone_double_dash_is_not_a_domain_name(check, state_dir):
    timed = timed_check(check, "--connect", URI, "--domain=--", state_dir=state_dir)
    assert timed.run.returncode == 3
    assert_one_line(timed.run, check, "UNKNOWN", "'--' is not a domain name")


@pytest.mark.parametrize("check", ALL)
def test_the_headline_label_accepts_unit_suffixes(check, state_dir):
    args = ["--connect", URI, "-d", "test", "--sample-interval", "0.2",
            "-w", f"{HEADLINE[check]}=1Gi:2Gi"]
    if check == "check_vm_mem":
        args += ["--balloon-max-age", "0"]
    timed = timed_check(check, *args, state_dir=state_dir)
    assert timed.run.returncode == 1, timed.run.stdout
    assert timed.run.perfdata[HEADLINE[check]].warn == "1073741824:2147483648"


@pytest.mark.parametrize("check", ALL)
def test_bytes_that_are_not_text_still_give_one_line(check, state_dir):
    # A strict UTF-8 output cannot encode what a raw byte in argv became.
    for option, named in (("-d", "is not valid UTF-8"), ("-w", "'vm\\udcff'")):
        timed = timed_check(check, "--connect", URI, "-d", "test", option, "vm\udcff",
                            state_dir=state_dir, env={"PYTHONIOENCODING": "utf-8:strict"})
        assert timed.run.returncode == 3
        assert_one_line(timed.run, check, "UNKNOWN", named)


@pytest.mark.parametrize("check", ALL)
def test_a_threshold_given_twice_is_a_usage_error(check, state_dir):
    timed = timed_check(check, "--connect", URI, "-d", "test", "-w", "5", "-w", "6",
                        state_dir=state_dir)
    assert timed.run.returncode == 3
    assert_one_line(timed.run, check, "UNKNOWN", "-w for the headline is given twice")
