"""The command definitions are what scripts/generate_conf.py makes of the registry.

icinga2-conf/commands.conf and nagios-conf/check_vm-commands.cfg are never
edited by hand: the committed files must be the generated ones, a check added
to the registry gets its commands, and the generator's own tables name only
what exists.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pytest

from libcheck import registry
from libcheck.cli import check_parser
from libcheck.registry import CHECKS, CheckEntry

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "generate_conf.py"


def _load_generator():
    spec = importlib.util.spec_from_file_location("generate_conf", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


generate_conf = _load_generator()


def test_the_committed_command_definitions_are_the_generated_ones():
    files = generate_conf.generated()
    assert sorted(files) == [REPO / "icinga2-conf" / "commands.conf",
                             REPO / "nagios-conf" / "check_vm-commands.cfg"]
    assert generate_conf.stale_files(files) == [], "run: python3 scripts/generate_conf.py"


def test_the_command_line_check_passes_on_the_repository():
    completed = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True,
                               text=True, timeout=60, check=False)
    assert completed.returncode == 0, completed.stdout + completed.stderr


def test_check_mode_exits_1_and_names_a_stale_file(tmp_path, monkeypatch, capsys):
    for relative in (generate_conf.ICINGA_FILE, generate_conf.NAGIOS_FILE):
        (tmp_path / relative).parent.mkdir(parents=True)
        (tmp_path / relative).write_text((REPO / relative).read_text(encoding="utf-8"))
    stale = tmp_path / generate_conf.ICINGA_FILE
    stale.write_text(stale.read_text().replace('"90"', '"80"'), encoding="utf-8")
    monkeypatch.setattr(generate_conf, "ROOT", tmp_path)
    assert generate_conf.main(["--check"]) == 1
    assert "icinga2-conf/commands.conf: is out of date" in capsys.readouterr().out
    assert generate_conf.main([]) == 0
    assert generate_conf.main(["--check"]) == 0


def test_a_registered_check_gets_a_check_command_and_a_nagios_command(monkeypatch):
    extra = CheckEntry("queue", "libcheck.nic", "a virtio queue of a VM")
    monkeypatch.setattr(registry, "CHECKS", (*CHECKS, extra))
    files = generate_conf.generated(REPO)
    icinga = files[REPO / generate_conf.ICINGA_FILE]
    nagios = files[REPO / generate_conf.NAGIOS_FILE]
    assert 'object CheckCommand "vm_queue" {' in icinga
    assert 'command = [ CheckVmPluginDir + "/check_vm_queue" ]' in icinga
    assert '/* A virtio queue of a VM. */' in icinga
    assert 'value = "$vm_queue_state_if_missing$"' in icinga
    assert 'vars.vm_queue_domain = "$vm_name$"' in icinga
    assert "serves the five checks" in icinga
    assert "command_line    $USER2$/check_vm_queue --connect '$_HOSTVM_CONNECT$' " \
           "--domain '$_HOSTVM_NAME$' $_HOSTVM_OPTS$ $_HOSTQUEUE_OPTS$ $ARG1$" in nagios
    assert "_NIC_OPTS, _QUEUE_OPTS" in nagios


def test_the_host_check_runs_cpu_without_thresholds():
    commands = {command.name: command for command in generate_conf.commands()}
    alive = commands[generate_conf.HOST_CHECK_NAME]
    flags = [generate_conf.long_flag(action) for action in generate_conf.passed_options(alive)]
    assert alive.executable == "check_vm_cpu"
    assert "--warning" not in flags and "--critical" not in flags
    assert "--domain" in flags and "--state-if-stopped" in flags


def test_every_option_of_every_check_is_passed():
    for command in generate_conf.commands()[:len(CHECKS)]:
        passed = {action.dest for action in generate_conf.passed_options(command)}
        parsed = {action.dest for action in command.parser._actions if action.option_strings}
        assert parsed - passed == {"help", "version"}, command.name


# -- the generator's tables -------------------------------------------------------

def every_option() -> dict[str, tuple]:
    """Long flag -> (parser, action) over every registered check."""
    found = {}
    for entry in CHECKS:
        parser = check_parser(entry.load())
        for action in parser._actions:
            if action.option_strings:
                found[generate_conf.long_flag(action)] = (parser, action)
    return found


@pytest.mark.parametrize("flag", sorted(generate_conf.ICINGA_WORDING))
def test_an_icinga_wording_is_of_an_option_and_states_its_default(flag):
    options = every_option()
    assert flag in options, f"ICINGA_WORDING names {flag}, which no check has"
    parser, action = options[flag]
    help_default = generate_conf.option_tables.split_default(
        generate_conf.option_tables.expanded_help(parser, action))[1]
    wording_default = generate_conf.option_tables.split_default(
        generate_conf.ICINGA_WORDING[flag])[1]
    assert wording_default == help_default


def test_the_tables_name_only_registered_checks_and_known_options():
    names = {entry.name for entry in CHECKS}
    assert set(generate_conf.DEFAULT_THRESHOLDS) <= names
    assert set(generate_conf.ICINGA_COMMENTS) <= names
    assert set(generate_conf.NAGIOS_WORDS) <= names
    assert generate_conf.HOST_CHECK_OF in names
    assert set(generate_conf.ICINGA_ORDER) <= set(every_option())


def test_a_state_option_is_worded_as_icinga_lists_choices():
    parser = check_parser(registry.by_name("mem").load())
    action = next(action for action in parser._actions
                  if "--state-if-no-balloon" in action.option_strings)
    assert generate_conf.description(parser, action) == (
        "State when the guest has no fresh balloon statistics: ok, warning, critical or "
        "unknown (default: unknown)")


def test_a_description_keeps_a_lower_case_name_at_its_start():
    assert generate_conf.capitalised("libvirt URI") == "libvirt URI"
    assert generate_conf.capitalised("the domain") == "The domain"


def test_icinga_strings_escape_quotes_and_backslashes():
    assert generate_conf.icinga_string('a "b" \\c') == '"a \\"b\\" \\\\c"'


# -- the templates that use the commands ------------------------------------------

def generated_text(relative: Path) -> str:
    return generate_conf.generated(REPO)[REPO / relative]


def test_every_icinga_command_has_a_template_and_every_template_a_command():
    defined = set(re.findall(r'^object CheckCommand "(\w+)"',
                             generated_text(generate_conf.ICINGA_FILE), re.M))
    templates = (REPO / "icinga2-conf" / "templates.conf").read_text(encoding="utf-8")
    used = set(re.findall(r'^\tcheck_command = "(\w+)"', templates, re.M))
    assert used == defined


def test_every_nagios_command_has_a_template_and_every_template_a_command():
    defined = set(re.findall(r"^    command_name    (\w+)$",
                             generated_text(generate_conf.NAGIOS_FILE), re.M))
    templates = (REPO / "nagios-conf" / "check_vm-templates.cfg").read_text(encoding="utf-8")
    used = set(re.findall(r"^    check_command +(\w+)$", templates, re.M))
    assert used == defined


def test_the_nagios_host_template_defines_every_macro_the_commands_use():
    # Nagios leaves an undefined custom macro in the command line as it is; _VM_NAME
    # is the one every host sets itself.
    used = set(re.findall(r"\$_HOST(\w+)\$", generated_text(generate_conf.NAGIOS_FILE)))
    templates = (REPO / "nagios-conf" / "check_vm-templates.cfg").read_text(encoding="utf-8")
    host = re.search(r"^define host \{\n(.*?)^\}", templates, re.M | re.S)[1]
    defined = dict(re.findall(r"^    _(\w+) *(\S*)$", host, re.M))
    assert used - {"VM_NAME"} <= set(defined)
    for check, (warning, critical) in generate_conf.DEFAULT_THRESHOLDS.items():
        word = generate_conf.NAGIOS_WORDS.get(check, check.upper())
        assert (defined[f"{word}_WARN"], defined[f"{word}_CRIT"]) == (warning, critical)
