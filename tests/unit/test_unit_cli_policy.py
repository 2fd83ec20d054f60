"""Shared options and the state policy for domains that are not running
(libcheck.cli, libcheck.policy)."""

from __future__ import annotations

import argparse

import libvirt
import pytest
from harness.fakes import identity
from nagiosplugin.state import Critical, Ok, Unknown, Warn

from libcheck import cli
from libcheck.cpu import SPECS
from libcheck.errors import UsageError
from libcheck.policy import StatePolicy
from libcheck.reasons import Crashed, Paused, Shutdown, Shutoff, describe, reason_words
from libcheck.samples import DomainIdentity, DomainState

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


@pytest.mark.parametrize("text", ["alive", "a", "host.check_2-b", "x" * 32, "0", "-"])
def test_a_baseline_name_is_a_short_word(text):
    assert cli.baseline_name(text) == text


@pytest.mark.parametrize("text", ["", "x" * 33, "a/b", "../x", "a b", " alive", "ünï", "a\nb",
                                  "a\x00", "a=b"])
def test_a_baseline_name_refuses_what_could_reach_a_path_or_an_argument(text):
    with pytest.raises(argparse.ArgumentTypeError, match=r"is not a baseline name \(letters, "
                                                          r"digits, '\.', '_' and '-', up to 32\)"):
        cli.baseline_name(text)


# -- the parser ------------------------------------------------------------------------------

def parser():
    return cli.build_parser("check_vm_test", "a test check", SPECS)


def test_defaults_are_the_documented_ones(monkeypatch):
    monkeypatch.setattr(cli, "default_state_dir", lambda: "/somewhere")
    options = cli.parse(parser(), ["-d", "vm1"])
    assert (options.timeout, options.max_age, options.sample_interval) == (10.0, 3600.0, 1.5)
    assert (options.warning, options.critical, options.verbose) == ([], [], 0)
    assert options.state_dir == "/somewhere"
    assert (options.state_if_stopped, options.state_if_paused, options.state_if_paused_error,
            options.state_if_crashed, options.state_if_missing) == (
        "critical", "warning", "critical", "critical", "critical")


def test_the_baseline_name_is_unset_unless_given(tmp_path):
    state = ["-d", "vm1", "--state-dir", str(tmp_path)]
    assert cli.parse(parser(), state).baseline_name is None
    assert cli.parse(parser(), [*state, "--baseline-name", "alive"]).baseline_name == "alive"
    with pytest.raises(UsageError, match=r"^argument --baseline-name: 'a/b' is not a baseline "
                                         r"name .*\(see --help\)$"):
        cli.parse(parser(), [*state, "--baseline-name", "a/b"])


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


# -- bytes that are not UTF-8 ------------------------------------------------------------

@pytest.mark.parametrize(("argv", "named"), [
    (["-d", "vm1", "--connect", "qemu:///\udcff"], "argument --connect: 'qemu:///\udcff'"),
    (["-d", "vm1", "--connect=qemu:///\udcff"], "argument --connect: 'qemu:///\udcff'"),
    (["-d", "vm1", "--conn", "qemu:///\udcff"], "argument --connect: 'qemu:///\udcff'"),
    (["-d", "vm1", "-wcpu_usage=\udce9"], "argument -w/--warning: 'cpu_usage=\udce9'"),
    (["-d", "vm\udcff"], "argument -d/--domain: 'vm\udcff'"),
    (["-d", "vm1", "--state-if-stopped", "ok\udcff"], "argument --state-if-stopped: 'ok\udcff'"),
    (["-d", "vm1", "stray\udcff"], "'stray\udcff'"),
])
def test_a_value_that_is_not_utf8_is_a_usage_error_naming_its_option(argv, named):
    with pytest.raises(UsageError) as refused:
        cli.parse(parser(), argv)
    assert str(refused.value).startswith(f"{named} is not valid UTF-8"), str(refused.value)


def test_a_state_dir_may_be_any_bytes(tmp_path):
    state_dir = f"{tmp_path}/st\udcffate"
    assert cli.parse(parser(), ["-d", "vm1", "--state-dir", state_dir]).state_dir == state_dir


def test_a_connect_default_from_the_environment_that_is_not_utf8_is_a_usage_error(monkeypatch):
    monkeypatch.setenv("LIBVIRT_DEFAULT_URI", "qemu:///\udcff")
    with pytest.raises(UsageError, match=r"^argument --connect: its default '.*' \(from the "
                                         r"environment\) is not valid UTF-8$"):
        cli.parse(parser(), ["-d", "vm1", "--state-dir", "/x"])


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


PAUSED, SHUTOFF = DomainState.PAUSED, DomainState.SHUTOFF


def reasoned(state: DomainState, reason: int) -> DomainIdentity:
    return DomainIdentity(name="web", uuid="u", domain_id=None, state=state, reason=reason)


@pytest.mark.parametrize(("state", "reason", "expected", "words"), [
    (PAUSED, libvirt.VIR_DOMAIN_PAUSED_USER, Warn, "paused (by the user)"),
    (PAUSED, libvirt.VIR_DOMAIN_PAUSED_IOERROR, Critical,
     "paused (by a disk I/O error: host storage full or failing?)"),
    (PAUSED, libvirt.VIR_DOMAIN_PAUSED_WATCHDOG, Critical,
     "paused (by its watchdog: the guest stopped responding)"),
    (PAUSED, libvirt.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED, Critical,
     "paused (after a failed post-copy migration)"),
    (PAUSED, 14, Critical, "paused (after an operation failed to resume it)"),  # API_ERROR, 9.2
    (PAUSED, libvirt.VIR_DOMAIN_PAUSED_CRASHED, Critical, "paused (after the guest crashed)"),
    (PAUSED, libvirt.VIR_DOMAIN_PAUSED_MIGRATION, Warn, "paused (for a migration)"),
    (PAUSED, libvirt.VIR_DOMAIN_PAUSED_POSTCOPY, Warn,
     "paused (for a post-copy migration: it runs on the destination)"),
    (PAUSED, libvirt.VIR_DOMAIN_PAUSED_SNAPSHOT, Warn, "paused (while a snapshot is taken)"),
    (PAUSED, libvirt.VIR_DOMAIN_PAUSED_SAVE, Warn, "paused (while being saved to a file)"),
    (PAUSED, libvirt.VIR_DOMAIN_PAUSED_UNKNOWN, Warn, "paused"),
    (SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED, Critical, "shut off (destroyed)"),
    (SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_MIGRATED, Critical,
     "shut off (migrated to another host)"),
    (SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_FAILED, Critical, "shut off (failed to start)"),
    (SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_CRASHED, Critical,
     "shut off (crashed: QEMU ended unexpectedly or the guest panicked)"),
    (DomainState.SHUTDOWN, libvirt.VIR_DOMAIN_SHUTDOWN_USER, Critical,
     "shutting down (on a user's request)"),
    (DomainState.CRASHED, libvirt.VIR_DOMAIN_CRASHED_PANICKED, Critical,
     "crashed (the guest kernel panicked)"),
    (PAUSED, 99, Warn, "paused (libvirt reason 99)"),  # a reason newer than this code
])
def test_the_reason_is_said_and_an_error_pause_is_critical(state, reason, expected, words):
    verdict = StatePolicy().for_identity(reasoned(state, reason))
    assert verdict == (expected, f"web: {words}")


@pytest.mark.parametrize(("state", "reason", "case"), [
    (PAUSED, libvirt.VIR_DOMAIN_PAUSED_IOERROR, "paused_error"),
    (PAUSED, libvirt.VIR_DOMAIN_PAUSED_WATCHDOG, "paused_error"),
    (PAUSED, libvirt.VIR_DOMAIN_PAUSED_POSTCOPY_FAILED, "paused_error"),
    (PAUSED, 14, "paused_error"),
    (PAUSED, libvirt.VIR_DOMAIN_PAUSED_USER, "paused"),
    (PAUSED, libvirt.VIR_DOMAIN_PAUSED_MIGRATION, "paused"),
    (PAUSED, libvirt.VIR_DOMAIN_PAUSED_SNAPSHOT, "paused"),
    (PAUSED, libvirt.VIR_DOMAIN_PAUSED_CRASHED, "crashed"),
    (SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_CRASHED, "crashed"),
    (SHUTOFF, libvirt.VIR_DOMAIN_SHUTOFF_DESTROYED, "stopped"),
])
def test_each_case_follows_its_own_option(state, reason, case):
    names = {"stopped": "ok", "paused": "ok", "paused_error": "ok", "crashed": "ok",
             "missing": "ok", case: "unknown"}
    assert StatePolicy.from_names(**names).for_identity(reasoned(state, reason)).state == Unknown


def test_the_policy_options_come_from_the_parser(tmp_path):
    options = cli.parse(parser(), ["-d", "vm1", "--state-dir", str(tmp_path),
                                   "--state-if-paused-error", "warning",
                                   "--state-if-paused", "ok"])
    policy = StatePolicy.from_options(options)
    assert (policy.paused_error, policy.paused, policy.stopped) == (Warn, Ok, Critical)


REASON_ENUMS = {Paused: "VIR_DOMAIN_PAUSED_", Shutoff: "VIR_DOMAIN_SHUTOFF_",
                Shutdown: "VIR_DOMAIN_SHUTDOWN_", Crashed: "VIR_DOMAIN_CRASHED_"}


@pytest.mark.parametrize("enum", REASON_ENUMS, ids=lambda enum: enum.__name__)
def test_the_reason_numbers_are_libvirts(enum):
    prefix = REASON_ENUMS[enum]
    for member in enum:
        if hasattr(libvirt, prefix + member.name):  # API_ERROR came with libvirt 9.2
            assert getattr(libvirt, prefix + member.name) == member, member


@pytest.mark.parametrize("enum", [Paused, Shutoff, Crashed], ids=lambda enum: enum.__name__)
def test_every_reason_this_libvirt_knows_has_words(enum):
    # (The VIR_DOMAIN_SHUTDOWN_* names also hold shutdown flags: Shutdown is checked above.)
    prefix = REASON_ENUMS[enum]
    known = {name[len(prefix):] for name in dir(libvirt)
             if name.startswith(prefix) and not name.endswith("_LAST")}
    assert known <= {member.name for member in enum}
    state = {Paused: PAUSED, Shutoff: SHUTOFF, Crashed: DomainState.CRASHED}[enum]
    for member in enum:
        words = reason_words(state, member)
        assert (words == "") == (member == 0), member
        assert "libvirt reason" not in words


def test_a_state_whose_reasons_libvirt_does_not_name_gets_none():
    assert reason_words(DomainState.PMSUSPENDED, 0) == ""
    assert describe(DomainState.PMSUSPENDED, 0) == "suspended by guest power management"


def test_an_unknown_libvirt_state_number_is_no_state():
    assert DomainState.from_libvirt(42) is DomainState.NOSTATE
    assert DomainState.from_libvirt(5) is DomainState.SHUTOFF


# -- threshold options --------------------------------------------------------------------

@pytest.mark.parametrize(("args", "warnings", "criticals"), [
    (["-w", "-5:-1"], ["-5:-1"], []), (["-c", "-5:-1"], [], ["-5:-1"]),
    (["-w", "-5:-1", "-c", "-10:-2"], ["-5:-1"], ["-10:-2"]),
    (["--warning", "-5:-1"], ["-5:-1"], []), (["-w", "-.5:"], ["-.5:"], []),
    (["-w", "@-5:-1"], ["@-5:-1"], []), (["-w-5:-1"], ["-5:-1"], []),
    (["--critical=-5:-1"], [], ["-5:-1"]), (["-w", "-5"], ["-5"], []),
])
def test_a_range_may_start_with_a_negative_number(args, warnings, criticals, tmp_path):
    options = cli.parse(parser(), ["-d", "vm1", *args, "--state-dir", str(tmp_path)])
    assert (options.warning, options.critical) == (warnings, criticals)


def test_a_value_that_is_no_number_after_a_threshold_option_is_still_an_option():
    with pytest.raises(UsageError, match=r"^argument -w/--warning: expected one argument"):
        cli.parse(parser(), ["-d", "vm1", "-w", "-v"])


def test_thresholds_that_judge_nothing_are_unknown_unless_another_state_is_chosen(tmp_path):
    state = ["--state-dir", str(tmp_path)]
    assert cli.parse(parser(), ["-d", "vm1", *state]).state_if_unmeasured_threshold == "unknown"
    assert cli.parse(parser(), ["-d", "vm1", "--state-if-unmeasured-threshold", "OK", *state]
                     ).state_if_unmeasured_threshold == "ok"
    with pytest.raises(UsageError, match="'fine' is not a state"):
        cli.parse(parser(), ["-d", "vm1", "--state-if-unmeasured-threshold", "fine", *state])
