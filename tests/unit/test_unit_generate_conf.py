"""The command definitions are what scripts/generate_conf.py makes of the registry.

icinga2-conf/commands.conf and nagios-conf/check_vm-commands.cfg are never
edited by hand: the committed files must be the generated ones, a check added
to the registry gets its commands, and the generator's own tables name only
what exists.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from harness.paths import load_script

from libcheck import registry
from libcheck.cli import check_parser
from libcheck.registry import ALL_CHECKS, CHECKS, HOST_CHECKS, CheckEntry

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "generate_conf.py"


generate_conf = load_script("generate_conf")


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
    monkeypatch.setattr(registry, "ALL_CHECKS", (*CHECKS, extra, *HOST_CHECKS))
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


def test_a_check_of_a_hypervisor_takes_no_domain_and_shares_the_uri():
    commands = {command.name: command for command in generate_conf.commands()}
    icinga = generated_text(generate_conf.ICINGA_FILE)
    nagios = generated_text(generate_conf.NAGIOS_FILE)
    for entry in HOST_CHECKS:
        flags = [generate_conf.long_flag(action)
                 for action in generate_conf.passed_options(commands[entry.name])]
        assert "--domain" not in flags and flags[0] == "--connect"
        assert f'vars.{entry.command}_connect = "$vm_connect$"' in icinga
        assert f"vars.{entry.command}_domain" not in icinga
        assert f"check_{entry.command} --connect '$_HOSTVM_CONNECT$' " in nagios.replace(
            f"$USER2$/check_{entry.command}", f"check_{entry.command}")
        assert "_HOSTVM_NAME" not in nagios_command_line(nagios, f"check_{entry.command}")


def test_the_host_check_passes_the_expected_domains_as_an_array():
    text = generated_text(generate_conf.ICINGA_FILE)
    block = re.search(r'^object CheckCommand "vm_host" \{\n(.*?)^\}', text, re.M | re.S)[1]
    assert '"--expect-domain" = {\n\t\t\tvalue = "$vm_host_expect_domain$"\n' \
           '\t\t\trepeat_key = true\n' in block
    assert 'vars.vm_host_state_dir = "$vm_state_dir$"' in block


def test_a_switch_is_set_by_its_variable():
    text = generated_text(generate_conf.ICINGA_FILE)
    assert '"--volumes" = {\n\t\t\tset_if = "$vm_pool_volumes$"\n' in text


def test_the_pool_command_judges_every_pool_by_default():
    text = generated_text(generate_conf.ICINGA_FILE)
    assert 'vars.vm_pool_warning = "80"\n\tvars.vm_pool_critical = "90"\n}' in text
    assert "--warning '$_HOSTVM_POOL_WARN$' --critical '$_HOSTVM_POOL_CRIT$' " \
           "$_HOSTVM_POOL_OPTS$ $ARG1$" in generated_text(generate_conf.NAGIOS_FILE)


def test_a_hypervisor_option_keeps_its_own_words_where_the_vm_wording_speaks_of_one_domain():
    commands = {command.name: command for command in generate_conf.commands()}
    host = commands["host"]
    action = next(action for action in host.parser._actions
                  if "--state-if-paused-error" in action.option_strings)
    said = generate_conf.description(host.parser, action, of_a_vm=False)
    assert said.startswith("State when a domain is paused on an error: disk I/O error")
    assert generate_conf.description(host.parser, action) == \
        generate_conf.ICINGA_WORDING["--state-if-paused-error"]


def nagios_command_line(text: str, name: str) -> str:
    return re.search(rf"^    command_name    {name}\n    command_line    (.*)$", text, re.M)[1]


def test_every_option_of_every_check_is_passed():
    for command in generate_conf.commands()[:len(ALL_CHECKS)]:
        passed = {action.dest for action in generate_conf.passed_options(command)}
        parsed = {action.dest for action in command.parser._actions if action.option_strings}
        assert parsed - passed == {"help", "version"}, command.name


# -- the generator's tables -------------------------------------------------------

def every_option() -> dict[str, tuple]:
    """Long flag -> (parser, action) over every registered check (a VM check's where
    a check of a hypervisor has the same flag)."""
    found = {}
    for entry in ALL_CHECKS:
        parser = check_parser(entry.load())
        for action in parser._actions:
            if action.option_strings:
                found.setdefault(generate_conf.long_flag(action), (parser, action))
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
    names = {entry.name for entry in ALL_CHECKS}
    assert set(generate_conf.DEFAULT_THRESHOLDS) <= names
    assert set(generate_conf.ICINGA_COMMENTS) <= names
    assert set(generate_conf.NAGIOS_WORDS) <= names
    assert generate_conf.HOST_CHECK_OF in {entry.name for entry in CHECKS}
    assert set(generate_conf.ICINGA_ORDER) <= set(every_option())
    assert set(generate_conf.VM_ONLY_WORDING) <= set(generate_conf.ICINGA_WORDING)


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


def command_names(relative: Path, pattern: str) -> set[str]:
    return set(re.findall(pattern, generated_text(relative), re.M))


def test_every_icinga_command_has_a_template_and_every_template_a_command():
    defined = command_names(generate_conf.ICINGA_FILE, r'^object CheckCommand "(\w+)"')
    templates = (REPO / "icinga2-conf" / "templates.conf").read_text(encoding="utf-8")
    used = set(re.findall(r'^\tcheck_command = "(\w+)"', templates, re.M))
    assert used == defined


def test_every_nagios_command_has_a_template_and_every_template_a_command():
    defined = command_names(generate_conf.NAGIOS_FILE, r"^    command_name    (\w+)$")
    used = {block["check_command"] for kind in ("host", "service") for block in nagios_blocks(kind)
            if "check_command" in block}
    assert used == defined


def nagios_blocks(kind: str) -> list[dict[str, str]]:
    """The `define <kind>` blocks of the shipped Nagios templates, as directive -> value."""
    templates = (REPO / "nagios-conf" / "check_vm-templates.cfg").read_text(encoding="utf-8")
    return [dict([*line.split(None, 1), ""][:2] for line in body.splitlines() if line.strip())
            for body in re.findall(rf"^define {kind} \{{\n(.*?)^\}}", templates, re.M | re.S)]


def host_templates_of(hostgroup: str) -> list[dict[str, str]]:
    return [host for host in nagios_blocks("host")
            if hostgroup in host.get("hostgroups", "").replace(",", " ").split()]


def test_the_nagios_host_templates_define_every_macro_their_services_use():
    # Nagios leaves an undefined custom macro in the command line as it is; _VM_NAME
    # is the one every host of a VM sets itself.
    text = generated_text(generate_conf.NAGIOS_FILE)
    words = {f"check_vm_{check}": generate_conf.NAGIOS_WORDS.get(check, check.upper())
             for check in generate_conf.DEFAULT_THRESHOLDS}
    services = [service for service in nagios_blocks("service") if "check_command" in service]
    assert services
    for service in services:
        command = service["check_command"]
        used = set(re.findall(r"\$_HOST(\w+)\$", nagios_command_line(text, command)))
        hosts = host_templates_of(service["hostgroup_name"])
        assert hosts, f"no host template is in the hostgroup of {command}"
        for host in hosts:
            defined = {name[1:]: value for name, value in host.items() if name.startswith("_")}
            assert used - {"VM_NAME"} <= set(defined), (command, host.get("name"))
            if command in words:
                warning, critical = generate_conf.DEFAULT_THRESHOLDS[command[len("check_vm_"):]]
                word = words[command]
                assert (defined[f"{word}_WARN"], defined[f"{word}_CRIT"]) == (warning, critical)
