"""The Icinga 2 and Nagios command definitions, generated from the registry and the parsers.

icinga2-conf/commands.conf (one CheckCommand per registered check, and vm_alive,
the host check built on check_vm_cpu) and nagios-conf/check_vm-commands.cfg (one
command per check, and check_vm_alive) are written from the checks of
libcheck/registry.py (those of a VM and those of a hypervisor) and the parsers
their executables build, never by hand.
An argument's attributes come from its option: the variable from its
destination, `required`, `repeat_key` and a switch's `set_if` from how the
parser takes it; a check of a hypervisor gets no --domain. Its
description is the option's --help text, capitalised, with the state options
phrased as Icinga lists choices; where the Icinga wording says more (seconds,
arrays) it comes from ICINGA_WORDING.

    python3 scripts/generate_conf.py           rewrite both files
    python3 scripts/generate_conf.py --check   exit 1, naming each stale file
"""

from __future__ import annotations

import argparse
import importlib.util
import re
import sys
import textwrap
from pathlib import Path
from typing import NamedTuple, Optional, Sequence

ROOT = Path(__file__).resolve().parent.parent
ICINGA_FILE = Path("icinga2-conf") / "commands.conf"
NAGIOS_FILE = Path("nagios-conf") / "check_vm-commands.cfg"


def _sibling(name: str):
    """A script of this directory, imported as a module."""
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


option_tables = _sibling("option_tables")


# -- what the generated files say beyond the parsers -------------------------------

# The Icinga wording of options whose --help text says less (the unit of a
# duration, how an array is passed): what operators have read in the
# CheckCommands' descriptions.
_THRESHOLD_WORDING = (
    "{} threshold: a Nagios range for the headline metric (e.g. 90, 10:, ~:5, @10:20) or "
    "LABEL=RANGE for any perfdata label; an array gives the option once per element. "
    "Numbers take suffixes k/M/G/T (x1000) and Ki/Mi/Gi/Ti (x1024)")
ICINGA_WORDING = {
    "--warning": _THRESHOLD_WORDING.format("Warning"),
    "--critical": _THRESHOLD_WORDING.format("Critical"),
    "--timeout": "Give up with UNKNOWN after this many seconds (default: 10)",
    "--state-dir": "Where the previous counters are kept; must be writable by the user Icinga "
                   "runs as (default: /var/lib/check_vm for root, else "
                   "$XDG_STATE_HOME/check_vm or ~/.local/state/check_vm)",
    "--max-age": "A previous sample older than this many seconds is stale and not used "
                 "(default: 3600)",
    "--sample-interval": "Pause in seconds between two samples when no previous sample is "
                         "usable (default: 1.5, or a quarter of --timeout when that is less)",
    "--snapshot-max-age": "Serve the check from the host snapshot (one read of every domain "
                          "of the URI, shared by all checks) while it is no older than this "
                          "many seconds; 0 reads libvirt on every run (default: 15)",
    "--state-if-paused-error": "State when the domain is paused on an error (disk I/O error, "
                               "watchdog, failed post-copy migration or resume): ok, warning, "
                               "critical or unknown (default: critical)",
    "--space-from": "Where a pool's numbers come from: auto measures a local dir/fs/netfs pool "
                    "at its target path (statvfs) and takes libvirt's cached numbers for the "
                    "others; libvirt takes libvirt's numbers always (default: auto)",
    "--balloon-max-age": "Balloon statistics older than this many seconds are stale "
                         "(default: 3 stats periods + 5 s; 0 accepts any age)",
    "--disk": "Report only this disk (target name such as vda); an array names several. "
              "Naming a cdrom or a disk without source includes it",
    "--exclude-disk": "Leave this disk out; an array names several",
    "--interface": "Report only this interface (target name such as vnet0, or MAC address); "
                   "an array names several",
    "--exclude-interface": "Leave this interface out (target name or MAC address); "
                           "an array names several",
}
# Wordings that speak of the one domain of a VM check: a check of a hypervisor
# keeps its own help text for these options.
VM_ONLY_WORDING = ("--state-if-paused-error",)
# Words a description keeps in lower case at its start.
LOWER_CASE_NAMES = ("libvirt",)
# -v, -vv, -vvv: one switch per level of the count option, set by <command>_verbose.
VERBOSITY = (
    ('"1", "true"', "the long output lists every value"),
    ('"2"', "adds how it was measured (interval, state file)"),
    ('"3"', "adds tracebacks of internal errors"),
)
# The order of the common options in a CheckCommand (the check's own follow, in
# the parser's order).
ICINGA_ORDER = (
    "--domain", "--connect", "--warning", "--critical", "--timeout", "--verbose", "--state-dir",
    "--max-age", "--sample-interval", "--baseline-name", "--snapshot-max-age",
    "--state-if-stopped", "--state-if-paused", "--state-if-paused-error", "--state-if-crashed",
    "--state-if-missing", "--state-if-unmeasured-threshold",
)
# A check of a hypervisor: the common options in that order, then its own state
# options in its parser's order (they are not the VM checks' states).
HYPERVISOR_ORDER = tuple(flag for flag in ICINGA_ORDER
                         if not flag.startswith("--state-if-")
                         or flag == "--state-if-unmeasured-threshold")
# Command variables that default to a variable every command shares.
SHARED_VARIABLES = {"domain": "vm_name", "connect": "vm_connect", "state_dir": "vm_state_dir"}
# Headline thresholds the commands apply unless the host or service sets them:
# check name -> (warning, critical).
DEFAULT_THRESHOLDS = {"cpu": ("90", "95"), "mem": ("90", "95"), "pool": ("80", "90")}
# The comment above a check's CheckCommand, where it says more than the registry's summary.
ICINGA_COMMENTS = {
    "cpu": "CPU usage of a VM in percent of its vCPUs, per vCPU, user/system, wait, steal.",
    "mem": "Memory used inside a VM, from its virtio balloon statistics.",
    "disk_io": "Disk I/O of a VM per disk: throughput, IOPS, latency, errors, allocation.",
    "nic": "Network traffic of a VM per interface: bits, packets, errors, drops, usage.",
    "host": "A hypervisor's VMs by state, those crashed, paused on an error or autostart but\n"
            " * down, drift from the expected VMs, vCPU and memory overcommit. No domain.",
    "pool": "A hypervisor's storage pools: usage in % of capacity (the headline), state,\n"
            " * with --volumes thin-provisioning overcommit. No domain.",
}
# The word in a check's Nagios custom variables (_<WORD>_OPTS), where not its name.
NAGIOS_WORDS = {"disk_io": "DISK", "host": "VM_HOST", "pool": "VM_POOL"}
NUMBER_WORDS = ("no", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine",
                "ten", "eleven", "twelve")

# The host check of a VM: a check run without thresholds, so that only the
# domain's state decides.
HOST_CHECK_NAME = "alive"
HOST_CHECK_OF = "cpu"
HOST_CHECK_LEAVES_OUT = ("--warning", "--critical")
# Its previous sample is its own: sharing the service's, each run would measure
# since the other's and find the host snapshot older than its baseline (a refresh).
HOST_CHECK_BASELINE_NAME = "alive"


# -- the registry and the parsers -------------------------------------------------

def registry():
    """libcheck.registry, imported from this checkout."""
    option_tables.import_library()
    return importlib.import_module("libcheck.registry")


class Command(NamedTuple):
    """One command to define: its name, the executable it runs and the check's parser."""

    name: str
    check: str
    executable: str
    parser: argparse.ArgumentParser
    leaves_out: tuple[str, ...] = ()
    scope: str = "vm"

    @property
    def of_a_vm(self) -> bool:
        """Whether the command checks one VM (takes --domain), not a hypervisor."""
        return self.scope == registry().VM_SCOPE


def commands() -> list[Command]:
    """A command per registered check (those of a VM, then those of a hypervisor),
    then the host check of a VM."""
    found = [Command(entry.name, entry.name, entry.executable,
                     option_tables.check_parser(entry.load()), scope=entry.scope)
             for entry in registry().ALL_CHECKS]
    host = next(command for command in found if command.check == HOST_CHECK_OF)
    return [*found, host._replace(name=HOST_CHECK_NAME, leaves_out=HOST_CHECK_LEAVES_OUT)]


def long_flag(action: argparse.Action) -> str:
    """The option's long form (--domain for -d/--domain)."""
    return next((flag for flag in action.option_strings if flag.startswith("--")),
                action.option_strings[0])


def passed_options(command: Command) -> list[argparse.Action]:
    """The options a CheckCommand passes, in its order: no --help and --version."""
    actions = [action for action in command.parser._actions
               if action.option_strings and long_flag(action) not in command.leaves_out
               and not isinstance(action, (argparse._HelpAction, argparse._VersionAction))]
    order = ICINGA_ORDER if command.of_a_vm else HYPERVISOR_ORDER
    return sorted(actions, key=lambda action: _position(long_flag(action), order))


def _position(flag: str, order: Sequence[str]) -> int:
    return order.index(flag) if flag in order else len(order)


# -- descriptions -----------------------------------------------------------------

_STATE_CHOICES = re.compile(r"^(?P<when>state when .*) \(ok, warning, critical, unknown; "
                            r"default: (?P<default>\w+)\)$")


def description(parser: argparse.ArgumentParser, action: argparse.Action,
                of_a_vm: bool = True) -> str:
    """What the CheckCommand of a VM (or with `of_a_vm` false, of a hypervisor)
    says of an option."""
    flag = long_flag(action)
    if flag in ICINGA_WORDING and (of_a_vm or flag not in VM_ONLY_WORDING):
        return ICINGA_WORDING[flag]
    text = option_tables.expanded_help(parser, action).rstrip(".")
    choices = _STATE_CHOICES.match(text)
    if choices:
        text = (f"{choices['when']}: ok, warning, critical or unknown "
                f"(default: {choices['default']})")
    return capitalised(text)


def capitalised(text: str) -> str:
    """The text with its first letter upper case, unless it starts with a lower-case name."""
    if text.split(" ", 1)[0] in LOWER_CASE_NAMES:
        return text
    return text[:1].upper() + text[1:]


# -- Icinga 2 ---------------------------------------------------------------------

ICINGA_HEADER = """\
/* check_vm CheckCommand definitions for Icinga 2, in the style of the ITL.
 *
{commands}
 * (the host check of a VM modelled as a host). Every variable is named
 * <command>_<param>; an unset variable leaves its option out, so the plugin's
 * own default applies. Thresholds, --disk and --interface take a string or an
 * array (the option is then repeated once per element).
 *
 * Three variables of each command default to VM-level variables that all
 * commands share, so one host (or service) variable serves the {count} checks:
 *   <command>_domain    <- $vm_name$       (the "vm-host" template sets it to the host name)
 *   <command>_connect   <- $vm_connect$    (unset: $LIBVIRT_DEFAULT_URI, else qemu:///system)
 *   <command>_state_dir <- $vm_state_dir$  (unset: the plugin's default directory)
 * The checks of a hypervisor ({hypervisor}) take no domain: set
 * their variables on the hypervisor's Host object, where the same $vm_connect$
 * and $vm_state_dir$ serve them (those of the commands that have the option).
 */

/* check_vm:plugin-dir
 * For systems without the Debian package: the package installs its own copy
 * of these commands in Icinga 2's plugins-contrib include, looking the
 * plugins up in PluginContribDir; load one or the other, never both.
 *
 * The plugins are looked up in CheckVmPluginDir: set it in constants.conf, on
 * every node that runs the checks (the hypervisors' agents), to the bin
 * directory of the virtualenv that check_vm is installed in, e.g.
 *   const CheckVmPluginDir = "/opt/check_vm/bin"
 * Without it, "/usr/local/bin".
 */
if (!globals.contains("CheckVmPluginDir")) {
	const CheckVmPluginDir = "/usr/local/bin"
}
/* check_vm:end */
"""

ICINGA_HOST_CHECK_COMMENT = """\
/* Host check of a VM: UP while the domain runs. It runs {executable} without
 * thresholds, so the state says only whether the domain is running, paused, shut off
 * or missing (the --state-if-* options). Its previous sample is its own
 * (--baseline-name): it does not move the vm-cpu service's, and each finds the host
 * snapshot newer than its own last run. */"""


def filled(template: str, **values: str) -> str:
    """The template with each {name} replaced (its other braces are the language's)."""
    for name, value in values.items():
        template = template.replace(f"{{{name}}}", value)
    return template


def number_word(count: int) -> str:
    """A small count in words (four), a larger one in digits."""
    return NUMBER_WORDS[count] if count < len(NUMBER_WORDS) else str(count)


def icinga_conf(all_commands: Sequence[Command]) -> str:
    """The text of icinga2-conf/commands.conf."""
    names = [f"vm_{command.name}" for command in all_commands]
    listed = f"One CheckCommand per plugin: {', '.join(names[:-1])}, and {names[-1]}"
    checks = [command for command in all_commands
              if not command.leaves_out and command.of_a_vm]
    hypervisor = [f"vm_{command.name}" for command in all_commands if not command.of_a_vm]
    header = filled(ICINGA_HEADER,
                    commands="\n".join(f" * {line}" for line in textwrap.wrap(listed, 80)),
                    count=number_word(len(checks)), hypervisor=", ".join(hypervisor))
    # The file has always ended in a blank line; the package's copy keeps it.
    return "\n".join([header, *(icinga_command(command) for command in all_commands), ""])


def icinga_command(command: Command) -> str:
    """One CheckCommand object, with the comment that says what it checks."""
    name = f"vm_{command.name}"
    arguments = [line for action in passed_options(command)
                 for line in icinga_argument(command, action)]
    lines = [icinga_comment(command), f'object CheckCommand "{name}" {{',
             f'\tcommand = [ CheckVmPluginDir + "/{command.executable}" ]', "",
             "\targuments = {", *arguments, "\t}", "",
             *icinga_variables(command), "}", ""]
    return "\n".join(lines)


def icinga_comment(command: Command) -> str:
    if command.leaves_out:
        return ICINGA_HOST_CHECK_COMMENT.format(executable=command.executable)
    if command.name in ICINGA_COMMENTS:
        return f"/* {ICINGA_COMMENTS[command.name]} */"
    summary = registry().by_name(command.name).summary
    return f"/* {summary[:1].upper()}{summary[1:]}. */"


def icinga_argument(command: Command, action: argparse.Action) -> list[str]:
    """The lines of one option in a CheckCommand's arguments (three for -v)."""
    variable = f"vm_{command.name}_{action.dest}"
    if isinstance(action, argparse._CountAction):
        return [line for level, (values, words) in enumerate(VERBOSITY, start=1)
                for line in _argument_block(f"-{'v' * level}", [
                    f'set_if = {{{{ string(macro("${variable}$")) in [ {values} ] }}}}',
                    f'description = "Verbosity {level} ({variable} = {level}): {words}"'])]
    if isinstance(action, argparse._StoreTrueAction):
        attributes = [f'set_if = "${variable}$"']
    else:
        attributes = [f'value = "${variable}$"']
    if action.required:
        attributes.append("required = true")
    if isinstance(action, argparse._AppendAction):
        attributes.append("repeat_key = true")
    said = description(command.parser, action, command.of_a_vm)
    attributes.append(f"description = {icinga_string(said)}")
    return _argument_block(long_flag(action), attributes)


def _argument_block(key: str, attributes: Sequence[str]) -> list[str]:
    return [f'\t\t"{key}" = {{', *(f"\t\t\t{attribute}" for attribute in attributes), "\t\t}"]


def icinga_string(text: str) -> str:
    """A string literal of the Icinga 2 configuration language."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def icinga_variables(command: Command) -> list[str]:
    """The command's default variables: the shared VM ones its parser has, then its
    thresholds."""
    prefix = f"vars.vm_{command.name}"
    destinations = {action.dest for action in command.parser._actions}
    lines = [f'\t{prefix}_{own} = "${shared}$"' for own, shared in SHARED_VARIABLES.items()
             if own in destinations]
    if command.leaves_out:
        lines.append(f'\t{prefix}_baseline_name = "{HOST_CHECK_BASELINE_NAME}"')
    if not command.leaves_out and command.check in DEFAULT_THRESHOLDS:
        warning, critical = DEFAULT_THRESHOLDS[command.check]
        lines += [f'\t{prefix}_warning = "{warning}"', f'\t{prefix}_critical = "{critical}"']
    return lines


# -- Nagios -----------------------------------------------------------------------

NAGIOS_HEADER = """\
# check_vm command definitions for Nagios Core 4.
#
# check_vm:plugin-dir
# For systems without the Debian package: the package installs its own copy
# of these definitions in /etc/nagios-plugins/config, with the plugins in
# $USER1$ (/usr/lib/nagios/plugins); load one or the other, never both.
#
# The plugins are looked up in $USER2$: add it to resource.cfg, set to the bin
# directory of the virtualenv that check_vm is installed in, e.g.
#   $USER2$=/opt/check_vm/bin
# (use another free $USERn$ if 2 is taken, and change it here).
# check_vm:end
#
# Per-VM settings are custom variables of the VM's host (see
# check_vm-templates.cfg for their defaults and check_vm-example-hosts.cfg):
#   _VM_NAME      the libvirt domain: name or UUID (use the UUID when the name
#                 holds a quote or other shell characters)
#   _VM_CONNECT   the libvirt URI (qemu:///system on the hypervisor itself,
#                 qemu+ssh://nagios@HYPERVISOR/system from the Nagios server)
{thresholds}
#                 the headline thresholds (Nagios ranges)
#   _VM_OPTS      options for every check of the VM, e.g. "--state-dir DIR --timeout 20"
{options}
#                 any further options of that plugin, for example
#                 "-w disk_write_latency=20 --exclude-disk vdc"
# and $ARG1$ adds options for one service: check_vm_disk_io!--disk vda
#
# The checks of a hypervisor ({hypervisor}) take no domain:
# they run on the hypervisor's own host, whose custom variables are
#   _VM_CONNECT   the libvirt URI, as for a VM
{hypervisor_thresholds}
#                 the headline thresholds (Nagios ranges)
{hypervisor_options}
#                 any further options of that plugin, for example
#                 "--expect-file /etc/check_vm/expected" for check_vm_host
"""

NAGIOS_VM = "$USER2$/{executable} --connect '$_HOSTVM_CONNECT$' --domain '$_HOSTVM_NAME$' " \
            "$_HOSTVM_OPTS$"
NAGIOS_HYPERVISOR = "$USER2$/{executable} --connect '$_HOSTVM_CONNECT$'"


def nagios_word(command: Command) -> str:
    """The word of a check's custom variables: CPU in _CPU_OPTS."""
    return NAGIOS_WORDS.get(command.check, command.check.upper())


def nagios_cfg(all_commands: Sequence[Command]) -> str:
    """The text of nagios-conf/check_vm-commands.cfg."""
    checks = [command for command in all_commands if not command.leaves_out]
    of_vms = [command for command in checks if command.of_a_vm]
    of_hypervisors = [command for command in checks if not command.of_a_vm]
    header = filled(NAGIOS_HEADER, thresholds=_listed(_threshold_variables(of_vms)),
                    options=_listed(_options_variables(of_vms)),
                    hypervisor=", ".join(command.executable for command in of_hypervisors),
                    hypervisor_thresholds=_listed(_threshold_variables(of_hypervisors)),
                    hypervisor_options=_listed(_options_variables(of_hypervisors)))
    return "\n".join([header, *(nagios_command(command) for command in all_commands)])


def _threshold_variables(checks: Sequence[Command]) -> list[str]:
    return [f"_{nagios_word(command)}_{kind}" for command in checks
            if command.check in DEFAULT_THRESHOLDS for kind in ("WARN", "CRIT")]


def _options_variables(checks: Sequence[Command]) -> list[str]:
    return [f"_{nagios_word(command)}_OPTS" for command in checks]


def _listed(names: Sequence[str]) -> str:
    return "\n".join(f"#   {line}" for line in textwrap.wrap(", ".join(names), 76))


def nagios_command(command: Command) -> str:
    """One `define command` block (the host check with its comment)."""
    start = NAGIOS_VM if command.of_a_vm else NAGIOS_HYPERVISOR
    parts = [start.format(executable=command.executable)]
    if command.leaves_out:
        comment = [f"# Host check of a VM: UP while the domain runs ({command.executable} "
                   "without thresholds, with a previous sample of its own)."]
        parts.append(f"--baseline-name {HOST_CHECK_BASELINE_NAME}")
    else:
        comment = []
        word = nagios_word(command)
        if command.check in DEFAULT_THRESHOLDS:
            parts.append(f"--warning '$_HOST{word}_WARN$' --critical '$_HOST{word}_CRIT$'")
        parts.append(f"$_HOST{word}_OPTS$")
    parts.append("$ARG1$")
    return "\n".join([*comment, "define command {",
                      f"    command_name    check_vm_{command.name}",
                      f"    command_line    {' '.join(parts)}", "}", ""])


# -- the files --------------------------------------------------------------------

def generated(root: Optional[Path] = None) -> dict[Path, str]:
    """Each generated file's path (under `root`, else this checkout) and its text."""
    root = root or ROOT
    all_commands = commands()
    return {root / ICINGA_FILE: icinga_conf(all_commands),
            root / NAGIOS_FILE: nagios_cfg(all_commands)}


def stale_files(files: dict[Path, str]) -> list[Path]:
    """The files whose text differs from what is generated."""
    return [path for path, text in files.items()
            if not path.exists() or path.read_text(encoding="utf-8") != text]


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Rewrite the files, or with --check say which are stale (exit 1)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true",
                        help="change nothing; exit 1 when a file differs from what is generated")
    options = parser.parse_args(argv)
    files = generated()
    stale = stale_files(files)
    for path in stale:
        if options.check:
            print(f"{path.relative_to(ROOT)}: is out of date with the registry and the parsers")
        else:
            path.write_text(files[path], encoding="utf-8")
            print(f"{path.relative_to(ROOT)}: rewritten")
    if stale and options.check:
        print("run: python3 scripts/generate_conf.py", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
