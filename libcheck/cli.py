"""Command-line options every check shares, and their validation.

A bad option never exits with argparse's usage dump: it raises UsageError,
which the runtime prints as one UNKNOWN line.
"""

from __future__ import annotations

import argparse
import os
import re
import sys

from libcheck import __version__
from libcheck.errors import UsageError
from libcheck.evaluation import UNMEASURED_OPTION
from libcheck.policy import CASE_WORDS, DEFAULTS, STATE_NAMES
from libcheck.registry import HOST_SCOPE
from libcheck.state import default_state_dir
from libcheck.thresholds import LabelSpec

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Callable, Mapping, Optional, Sequence

DEFAULT_URI = "qemu:///system"
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_AGE = 3600.0
DEFAULT_SAMPLE_INTERVAL = 1.5
DEFAULT_SNAPSHOT_MAX_AGE = 15.0

_DURATION = r"^(\d+(?:\.\d*)?|\.\d+)(ms|s|m|h|d)?$"
_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, None: 1}
_CONTROL = r"[\x00-\x1f\x7f]"
# Options whose value is a file system path: any bytes, as the kernel takes them.
_PATH_OPTIONS = frozenset({"state_dir", "expect_file"})
MAX_BASELINE_NAME = 32
_BASELINE_NAME_CHARACTERS = ("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                             "0123456789._-")
BASELINE_NAME_WORDS = f"letters, digits, '.', '_' and '-', up to {MAX_BASELINE_NAME}"


class _Parser(argparse.ArgumentParser):
    """argparse that raises UsageError instead of printing usage and exiting 2,
    and that takes a value starting with a negative number as a value."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Python 3.11 takes only a bare negative number (-5, -.5) for a value and
        # `-w -5:-1` for an option -5:-1; newer argparse has this very rule. No
        # option of ours starts with a digit, so nothing else changes.
        self._negative_number_matcher = re.compile(r"^-\.?\d")

    def error(self, message: str):
        raise UsageError(f"{message} (see --help)")


def default_uri(environ: Mapping[str, str] = os.environ) -> str:
    """The URI libvirt's own tools would use: $LIBVIRT_DEFAULT_URI, else qemu:///system."""
    return environ.get("LIBVIRT_DEFAULT_URI") or DEFAULT_URI


def duration(text: str) -> float:
    """Seconds, with an optional unit: 90, 1.5s, 500ms, 5m, 1h, 1d."""
    match = re.match(_DURATION, text.strip())
    if not match:
        raise argparse.ArgumentTypeError(f"'{text}' is not a duration (e.g. 10, 1.5s, 5m, 1h)")
    seconds = float(match.group(1)) * _DURATION_UNITS[match.group(2)]
    if not 0 < seconds <= 86400 * 365:
        raise argparse.ArgumentTypeError(f"'{text}' is out of range (0 < seconds <= 1 year)")
    return seconds


def duration_or_zero(text: str) -> float:
    """A duration as `duration` reads it, or 0 (for "no limit")."""
    match = re.match(_DURATION, text.strip())
    if match and float(match.group(1)) == 0:
        return 0.0
    return duration(text)


def baseline_name(text: str) -> str:
    """A --baseline-name: a short word, which any configuration passes on unquoted."""
    if not 0 < len(text) <= MAX_BASELINE_NAME or text.strip(_BASELINE_NAME_CHARACTERS):
        raise argparse.ArgumentTypeError(f"'{text}' is not a baseline name "
                                         f"({BASELINE_NAME_WORDS})")
    return text


def domain_reference(text: str) -> str:
    """A domain name, UUID or ID; refuses what no libvirt name can be."""
    problem = domain_reference_problem(text)
    if problem:
        raise argparse.ArgumentTypeError(problem)
    return text


def domain_reference_problem(text: str) -> Optional[str]:
    """Why `--domain` refuses `text`, or None when it takes it."""
    if not text.strip():
        return "the domain name is empty"
    if re.search(_CONTROL, text):
        return "the domain name contains a control character"
    if not is_utf8(text):
        return "the domain name is not valid UTF-8"
    return None


def is_utf8(text: str) -> bool:
    """Whether `text` is text: argv bytes that are not UTF-8 arrive as lone surrogates."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def state_name(text: str) -> str:
    """One of the states a policy option may name."""
    if text.lower() not in STATE_NAMES:
        raise argparse.ArgumentTypeError(
            f"'{text}' is not a state (ok, warning, critical, unknown)")
    return text.lower()


def labels_table(specs: Sequence[LabelSpec]) -> str:
    """The --help epilog: every perfdata label, its unit and meaning."""
    rows = [(spec.pattern, spec.uom or "-", spec.meaning) for spec in specs]
    width = max(len(row[0]) for row in rows)
    lines = [f"  {label:<{width}}  {uom:<3}  {meaning}" for label, uom, meaning in rows]
    generic = [f"  {spec.generic_label}" for spec in specs if spec.kind]
    text = "perfdata labels (label, unit, meaning):\n" + "\n".join(lines)
    if generic:
        text += ("\n\nthresholds for every device of a kind use the generic labels:\n"
                 + "\n".join(generic))
    return text


THRESHOLD_HELP = (
    "Nagios range for the headline metric (e.g. 90, 10:, ~:5, @10:20) or LABEL=RANGE "
    "for any perfdata label; repeatable. Numbers take suffixes k/M/G/T (x1000) and "
    "Ki/Mi/Gi/Ti (x1024).")


def build_parser(prog: str, description: str, specs: Sequence[LabelSpec],
                 add_options: Optional[Callable[[argparse.ArgumentParser], None]] = None
                 ) -> argparse.ArgumentParser:
    """The parser of one check: the common options, then the check's own."""
    parser = _new_parser(prog, description, specs)
    parser.add_argument("-d", "--domain", required=True, type=domain_reference,
                        help="the domain (VM) to check: name, UUID or numeric ID")
    _add_common_options(parser)
    _add_state_options(parser)
    _add_policy_options(parser)
    if add_options:
        add_options(parser)
    return parser


def _new_parser(prog: str, description: str, specs: Sequence[LabelSpec]) -> _Parser:
    return _Parser(prog=prog, description=description, epilog=labels_table(specs),
                   formatter_class=argparse.RawDescriptionHelpFormatter)


def _add_common_options(parser: argparse.ArgumentParser) -> None:
    """--connect, the thresholds, the time limit, -v and -V: every check's."""
    parser.add_argument("--connect", metavar="URI", default=default_uri(),
                        help="libvirt URI, opened read-only (default: $LIBVIRT_DEFAULT_URI, "
                             "else qemu:///system; remote URIs such as "
                             "qemu+ssh://host/system pass through)")
    parser.add_argument("-w", "--warning", metavar="[LABEL=]RANGE", action="append",
                        default=[], help=f"warning threshold. {THRESHOLD_HELP}")
    parser.add_argument("-c", "--critical", metavar="[LABEL=]RANGE", action="append",
                        default=[], help=f"critical threshold. {THRESHOLD_HELP}")
    add_state_option(parser, UNMEASURED_OPTION,
                     "a threshold judges nothing in a run (the driver does not report its "
                     "label, its device is not reported, no link speed...); ok makes it a "
                     "note in the long output, for thresholds shared by hosts that differ",
                     "unknown")
    parser.add_argument("-t", "--timeout", type=duration, default=DEFAULT_TIMEOUT,
                        metavar="SECONDS",
                        help="give up with UNKNOWN after this long (default: 10)")
    parser.add_argument("-v", "--verbose", action="count", default=0,
                        help="more output: -v lists every value, -vv adds how it was "
                             "measured, -vvv adds tracebacks of internal errors")
    parser.add_argument("-V", "--version", action="version", version=f"%(prog)s {__version__}")


def check_parser(check) -> argparse.ArgumentParser:
    """The parser of one check definition (a module's CHECK): what its executable parses."""
    if check.scope == HOST_SCOPE:
        return host_check_parser(check)
    return build_parser(f"check_vm_{check.name}", check.description, check.specs,
                        check.add_options)


def host_check_parser(check) -> argparse.ArgumentParser:
    """The parser of a check of a hypervisor (a HostCheck): no domain, no
    baselines; the snapshot's options where the check is served by it."""
    parser = _new_parser(f"check_vm_{check.name}", check.description, check.specs)
    _add_common_options(parser)
    if check.uses_snapshot:
        _add_state_dir_option(parser)
        _add_snapshot_option(parser)
    check.add_options(parser)
    return parser


def _add_state_options(parser: argparse.ArgumentParser) -> None:
    _add_state_dir_option(parser)
    parser.add_argument("--max-age", type=duration, default=DEFAULT_MAX_AGE, metavar="SECONDS",
                        help="a previous sample older than this is stale and not used "
                             "(default: 3600)")
    parser.add_argument("--sample-interval", type=duration, default=None,
                        metavar="SECONDS",
                        help="pause between two samples when no previous sample is usable "
                             "(default: 1.5, or a quarter of --timeout when that is less)")
    parser.add_argument("--baseline-name", type=baseline_name, default=None, metavar="NAME",
                        help="keep this schedule's previous sample under NAME, apart from "
                             "the check's other runs on the VM, so that each measures since "
                             "its own last run (the host check vm_alive: alive); "
                             f"{BASELINE_NAME_WORDS} (default: one previous sample per check "
                             "and VM)")
    _add_snapshot_option(parser)


def _add_state_dir_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--state-dir", metavar="DIR", default=None,
                        help="where the previous counters are kept (default: "
                             "/var/lib/check_vm for root, else "
                             "$XDG_STATE_HOME/check_vm or ~/.local/state/check_vm)")


def _add_snapshot_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--snapshot-max-age", type=duration_or_zero,
                        default=DEFAULT_SNAPSHOT_MAX_AGE, metavar="SECONDS",
                        help="serve the check from the host snapshot, one read of every "
                             "domain of the URI shared by all checks, while it is no older "
                             "than this; 0 reads libvirt on every run (default: 15)")


def _add_policy_options(parser: argparse.ArgumentParser) -> None:
    for case, default in DEFAULTS.items():
        add_state_option(parser, f"--state-if-{case}",
                         CASE_WORDS.get(case, f"the domain is {case}"), default)


def add_state_option(parser: argparse.ArgumentParser, flag: str, when: str,
                     default: str) -> None:
    """An option that names the state to report when something is the case."""
    parser.add_argument(flag, type=state_name, default=default, metavar="STATE",
                        help=f"state when {when} "
                             f"(ok, warning, critical, unknown; default: {default})")


def parse(parser: argparse.ArgumentParser, argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Parse and cross-check the options of a check of a VM."""
    options = parse_host(parser, argv)
    if not isinstance(options.domain, str):
        # argparse swallows a value of exactly "--" (--domain=--) into a list.
        raise UsageError("argument -d/--domain: '--' is not a domain name (see --help)")
    if options.sample_interval is None:
        options.sample_interval = min(DEFAULT_SAMPLE_INTERVAL, options.timeout / 4)
    elif options.sample_interval >= options.timeout / 2:
        raise UsageError(f"--sample-interval ({options.sample_interval:g} s) must be less "
                         f"than half of --timeout ({options.timeout:g} s)")
    return options


def parse_host(parser: argparse.ArgumentParser,
               argv: Optional[Sequence[str]]) -> argparse.Namespace:
    """Parse and cross-check the options every check has (all a check of a
    hypervisor has): text where text is due, verbosity, the state directory."""
    refuse_bytes_that_are_not_text(parser, list(sys.argv[1:] if argv is None else argv))
    options = parser.parse_args(argv)
    refuse_defaults_that_are_not_text(parser, options)
    options.verbose = min(options.verbose, 3)
    if getattr(options, "state_dir", "") is None:
        options.state_dir = default_state_dir()
    return options


def refuse_bytes_that_are_not_text(parser: argparse.ArgumentParser,
                                   argv: Sequence[str]) -> None:
    """UsageError naming the option whose value is not UTF-8 (a path may be any bytes).

    Done before parsing, so that the message names the real problem rather than
    what an option's own type makes of the value.
    """
    for position, argument in enumerate(argv):
        if is_utf8(argument):
            continue
        action, value = _option_value(parser, argv, position)
        if action is not None and action.dest in _PATH_OPTIONS:
            continue
        where = f"argument {'/'.join(action.option_strings)}: " if action else ""
        raise UsageError(f"{where}'{value}' is not valid UTF-8 (see --help)")


def refuse_defaults_that_are_not_text(parser: argparse.ArgumentParser,
                                      options: argparse.Namespace) -> None:
    """UsageError for a default from the environment that is not UTF-8
    ($LIBVIRT_DEFAULT_URI for --connect)."""
    for action in parser._actions:
        value = getattr(options, action.dest, None)
        if (action.option_strings and action.dest not in _PATH_OPTIONS
                and isinstance(value, str) and not is_utf8(value)):
            raise UsageError(f"argument {'/'.join(action.option_strings)}: its default "
                             f"'{value}' (from the environment) is not valid UTF-8")


def _option_value(parser: argparse.ArgumentParser, argv: Sequence[str],
                  position: int) -> tuple[Optional[argparse.Action], str]:
    """The option argv[position] belongs to (--opt=VALUE, -oVALUE or --opt VALUE),
    if any, and its value."""
    argument = argv[position]
    if argument.startswith("--") and "=" in argument:
        flag, value = argument.split("=", 1)
    elif argument.startswith("-") and not argument.startswith("--") and len(argument) > 2:
        flag, value = argument[:2], argument[2:]
    elif position > 0:
        flag, value = argv[position - 1], argument
    else:
        return None, argument
    action = _action_named(parser, flag)
    if action is None or action.nargs == 0:
        return None, argument
    return action, value


def _action_named(parser: argparse.ArgumentParser, flag: str) -> Optional[argparse.Action]:
    """The option `flag` names, also as an abbreviation argparse accepts (--conn)."""
    if flag in parser._option_string_actions:
        return parser._option_string_actions[flag]
    if not flag.startswith("--"):
        return None
    matches = {action for option, action in parser._option_string_actions.items()
               if option.startswith(flag)}
    return matches.pop() if len(matches) == 1 else None
