"""Shared options and the state policy for domains that are not running
(libcheck.cli, libcheck.policy)."""

from __future__ import annotations

import argparse

import pytest
from fakes import identity
from nagiosplugin.state import Critical, Ok, Unknown, Warn

from libcheck import cli
from libcheck.cpu import SPECS
from libcheck.errors import UsageError
from libcheck.policy import StatePolicy
from libcheck.samples import DomainState

# -- durations and domain references -----------------------------------------------------


@pytest.mark.parametrize(("text", "seconds"), [
    ("90", 90), ("1.5s", 1.5), ("500ms", 0.5), ("5m", 300), ("1h", 3600), ("1d", 86400),
    (".5", 0.5), (" 10 ", 10), ("365d", 365 * 86400),
])
def test_duration_reads_seconds_with_units(text, seconds):
    assert cli.duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["0", "0ms", "abc", "-1", "1y", "366d", "", "1.5.2", "1 s"])
def test_duration_rejects_nonsense_zero_and_more_than_a_year(text):
    with pytest.raises(argparse.ArgumentTypeError):
        cli.duration(text)


@pytest.mark.parametrize("text", ["", "   ", "vm\x00", "vm\nname", "\x7f"])
def test_domain_reference_refuses_what_no_libvirt_name_can_be(text):
    with pytest.raises(argparse.ArgumentTypeError):
        cli.domain_reference(text)


@pytest.mark.parametrize("text", ["web-01", "my vm", "ünï", "42", "../x"])
def test_domain_reference_passes_any_printable_name(text):
    assert cli.domain_reference(text) == text


# -- the parser ------------------------------------------------------------------------------

def parser():
    return cli.build_parser("check_vm_test", "a test check", SPECS)


def test_defaults_are_the_documented_ones(monkeypatch):
    monkeypatch.setattr(cli, "default_state_dir", lambda: "/somewhere")
    options = cli.parse(parser(), ["-d", "vm1"])
    assert (options.timeout, options.max_age, options.sample_interval) == (10.0, 3600.0, 1.5)
    assert (options.warning, options.critical, options.verbose) == ([], [], 0)
    assert options.state_dir == "/somewhere"
    assert (options.state_if_stopped, options.state_if_paused, options.state_if_crashed,
            options.state_if_missing) == ("critical", "warning", "critical", "critical")


def test_thresholds_repeat_and_verbosity_is_capped_at_three(tmp_path):
    options = cli.parse(parser(), ["-d", "vm1", "-w", "80", "-w", "cpu_steal=5", "-c", "90",
                                   "-vvvvv", "--state-dir", str(tmp_path)])
    assert options.warning == ["80", "cpu_steal=5"]
    assert options.critical == ["90"]
    assert options.verbose == 3


def test_a_bad_option_raises_usage_error_instead_of_exiting():
    with pytest.raises(UsageError, match=r"\(see --help\)$"):
        cli.parse(parser(), ["-d", "vm1", "--bogus"])


def test_the_sample_interval_must_be_under_half_the_timeout(tmp_path):
    with pytest.raises(UsageError, match=r"--sample-interval \(5 s\) must be less than half "
                                         r"of --timeout \(10 s\)"):
        cli.parse(parser(), ["-d", "vm1", "--sample-interval", "5", "--state-dir",
                             str(tmp_path)])


def test_the_help_epilog_lists_every_label_with_unit_and_meaning():
    table = cli.labels_table(SPECS)
    assert "cpu_usage" in table and "<vcpu>_usage" in table
    assert "thresholds for every device of a kind use the generic labels:\n  vcpu_usage" \
        in table
    for spec in SPECS:
        assert spec.meaning in table


# -- the state policy ------------------------------------------------------------------------

@pytest.mark.parametrize(("state", "expected", "words"), [
    (DomainState.SHUTOFF, Critical, "shut off"),
    (DomainState.SHUTDOWN, Critical, "shutting down"),
    (DomainState.PAUSED, Warn, "paused"),
    (DomainState.PMSUSPENDED, Warn, "suspended by guest power management"),
    (DomainState.CRASHED, Critical, "crashed"),
    (DomainState.NOSTATE, Unknown, "in no known state"),
])
def test_a_domain_that_is_not_running_gets_its_default_state(state, expected, words):
    verdict = StatePolicy().for_identity(identity("web", None, state))
    assert verdict.state == expected
    assert verdict.text == f"web: {words}"


@pytest.mark.parametrize("state", [DomainState.RUNNING, DomainState.BLOCKED])
def test_a_running_domain_has_no_policy_verdict(state):
    assert StatePolicy().for_identity(identity(state=state)) is None


def test_option_names_change_the_policy_states():
    policy = StatePolicy.from_names(stopped="ok", paused="critical", crashed="unknown",
                                    missing="warning")
    assert policy.for_identity(identity(state=DomainState.SHUTOFF)).state == Ok
    assert policy.for_identity(identity(state=DomainState.PAUSED)).state == Critical
    assert policy.for_identity(identity(state=DomainState.CRASHED)).state == Unknown
    assert policy.for_missing("no domain 'x'").state == Warn
    assert policy.for_missing("no domain 'x'").text == "no domain 'x'"


def test_an_unknown_libvirt_state_number_is_no_state():
    assert DomainState.from_libvirt(42) is DomainState.NOSTATE
    assert DomainState.from_libvirt(5) is DomainState.SHUTOFF
