"""The shipped graph templates against the Graphite series they are meant to draw.

`template_problems(series)` parses every template under graphs/: the Icinga
Web 2 graphite module's `.ini` files (configparser) and the Grafana
dashboards (json). It turns each metric filter, target and variable query
into a Graphite glob and reports every one that matches none of the given
series (full metric paths such as
`icinga2.web01.services.vm-cpu.vm_cpu.perfdata.cpu_usage.value`), and every
template the graphite module would refuse or that graphs a counter raw.

How the patterns are formed:
- `.ini`: `$service_name_template$` is Icinga 2's default service prefix
  `icinga2.<host>.services.<service>.<check_command>` (host and service any,
  the command each of the graph's check_command), `$host_name_template$`
  `icinga2.<host>.host.<check_command>`; any other `$macro$` is `*`, and
  `$macro:glob$` its glob (the module's wildcard syntax).
- Grafana: each Graphite path in a target (inside its functions) and each
  query variable's query, with the dashboard's variables as `*`. A variable
  query lists nodes, so it needs to match a prefix of a series only.
- Graphite globbing as graphite-web does it: the path splits at dots, every
  part matches on its own, `{a,b}` alternatives are expanded first, then
  `*`, `?` and `[...]` (fnmatch).
"""

from __future__ import annotations

import configparser
import fnmatch
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from harness.paths import GRAPH_TEMPLATES as GRAPHS
from harness.paths import ICINGA_CONF

COMMANDS_CONF = ICINGA_CONF / "commands.conf"

SECTION = re.compile(r"\A(.+)\.(graph|metrics_filters|urlparams|functions)\Z")
MACRO = re.compile(r"\$([^$:]*)(?::([^$]*))?\$")
NAME_TEMPLATES = {"service_name_template": "icinga2.*.services.*.{command}",
                  "host_name_template": "icinga2.*.host.{command}"}
GRAFANA_VARIABLE = re.compile(r"\$\{(\w+)(?::[^}]*)?\}|\[\[(\w+)(?::[^\]]*)?\]\]|\$(\w+)")
GRAPHITE_PATH = re.compile(r"icinga2\.(?:\{[^}]*\}|[^\s,()'\"{}])+")
BRACES = re.compile(r"\{([^{}]*)\}")
# The labels of unit `c` (cumulative counters): they only rise, so a graph of
# them must show their rate.
COUNTER_LABEL = re.compile(r"(?:_read_bytes|_write_bytes|_rx_bytes|_tx_bytes|_errors|"
                           r"^cpu_time_ns)\Z")


@dataclass(frozen=True)
class Pattern:
    """One Graphite glob of a template, and where it comes from."""

    where: str
    glob: str
    prefix: bool = False


def template_problems(series: set[str], root: Path = GRAPHS) -> list[str]:
    """Every pattern of the templates under `root` that matches none of `series`,
    and every structural fault of a template."""
    patterns, problems = [], []
    for path in sorted((root / "icingaweb2").glob("*.ini")):
        found, faults = ini_patterns(path)
        patterns += found
        problems += faults
    for path in sorted((root / "grafana").glob("*.json")):
        found, faults = grafana_patterns(path)
        patterns += found
        problems += faults
    if not patterns:
        problems.append(f"{root}: no template found")
    names = [name.split(".") for name in series]
    problems += [f"{pattern.where}: {pattern.glob} matches no stored series"
                 for pattern in patterns if not any_match(pattern, names)]
    return problems


# Graphite globbing.

def expand_braces(part: str) -> list[str]:
    """The variants of a path part with `{a,b}` alternatives (innermost first)."""
    match = BRACES.search(part)
    if not match:
        return [part]
    head, tail = part[:match.start()], part[match.end():]
    return [variant for choice in match[1].split(",")
            for variant in expand_braces(head + choice + tail)]


def part_matches(glob_part: str, name_part: str) -> bool:
    return any(fnmatch.fnmatchcase(name_part, variant) for variant in expand_braces(glob_part))


def glob_matches(glob: str, name: list[str], prefix: bool = False) -> bool:
    """Whether a Graphite glob matches a series (split at dots), or a prefix of it."""
    parts = glob.split(".")
    if len(parts) > len(name) or (not prefix and len(parts) != len(name)):
        return False
    return all(part_matches(part, name_part) for part, name_part in zip(parts, name))


def any_match(pattern: Pattern, names: Iterable[list[str]]) -> bool:
    return any(glob_matches(pattern.glob, name, pattern.prefix) for name in names)


# The Icinga Web 2 graphite module's templates.

def known_commands() -> set[str]:
    """The CheckCommands the project defines."""
    return set(re.findall(r'object CheckCommand "([^"]+)"', COMMANDS_CONF.read_text()))


def read_ini(path: Path) -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None, comment_prefixes=(";", "#"),
                                       strict=True)
    parser.optionxform = str  # curve names are case-sensitive
    parser.read(path, encoding="utf-8")
    return parser


def unquoted(value: str) -> str:
    return value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value


def ini_templates(path: Path) -> tuple[dict[str, dict[str, dict[str, str]]], list[str]]:
    """{template: {topic: {option: value}}} of an .ini file, and its bad section names."""
    templates: dict[str, dict[str, dict[str, str]]] = {}
    problems = []
    parser = read_ini(path)
    for section in parser.sections():
        match = SECTION.match(section)
        if not match:
            problems.append(f"{path.name}: bad section name [{section}]")
            continue
        options = {key: unquoted(value) for key, value in parser[section].items()}
        templates.setdefault(match[1], {})[match[2]] = options
    return templates, problems


def expand_macros(text: str, command: str) -> str:
    """A metric filter as a Graphite glob for one check command."""
    def replace(match: re.Match) -> str:
        name, wildcard = match[1], match[2]
        if name in NAME_TEMPLATES:
            return NAME_TEMPLATES[name].format(command=command)
        return wildcard if wildcard is not None else "*"
    return MACRO.sub(replace, text)


def ini_patterns(path: Path) -> tuple[list[Pattern], list[str]]:
    """The globs of every curve of every template in `path`, and the file's faults."""
    templates, problems = ini_templates(path)
    patterns = []
    commands = known_commands()
    for name, topics in templates.items():
        where = f"{path.name} [{name}]"
        faults, graph_commands = template_faults(where, topics, commands)
        problems += faults
        for curve, metric_filter in topics.get("metrics_filters", {}).items():
            problems += filter_faults(f"{where} {curve}", metric_filter,
                                      topics.get("functions", {}).get(curve, "$metric$"))
            patterns += [Pattern(f"{where} {curve}", expand_macros(metric_filter, command))
                         for command in graph_commands if command in commands]
    return patterns, problems


def template_faults(where: str, topics: dict[str, dict[str, str]],
                    commands: set[str]) -> tuple[list[str], list[str]]:
    """What the module would refuse or ignore in one template; its check commands."""
    problems = []
    graph = topics.get("graph", {})
    graph_commands = [command.strip() for command in graph.get("check_command", "").split(",")
                      if command.strip()]
    if not graph_commands:
        problems.append(f"{where}: no [.graph] check_command")
    problems += [f"{where}: check_command {command} is not a CheckCommand of check_vm"
                 for command in graph_commands if command not in commands]
    problems += [f"{where}: [.graph] takes check_command only, not {option}"
                 for option in graph if option != "check_command"]
    curves = topics.get("metrics_filters", {})
    if not curves:
        problems.append(f"{where}: no [.metrics_filters]")
    problems += [f"{where}: function for {curve}, which has no metrics filter"
                 for curve in topics.get("functions", {}) if curve not in curves]
    return problems, graph_commands


def filter_faults(where: str, metric_filter: str, function: str) -> list[str]:
    """A curve's faults: its filter's prefix macro, its function's macro, a raw counter."""
    problems = []
    if metric_filter.count("$") % 2 or function.count("$") % 2:
        problems.append(f"{where}: odd number of $")
    prefixes = [name for name, _ in MACRO.findall(metric_filter) if name in NAME_TEMPLATES]
    if len(prefixes) != 1:
        problems.append(f"{where}: the filter needs exactly one of $service_name_template$ "
                        "and $host_name_template$")
    if [name for name, _ in MACRO.findall(function)] != ["metric"]:
        problems.append(f"{where}: the function must use $metric$ once and no other macro")
    label = metric_filter.split(".perfdata.", 1)[-1].rsplit(".", 1)[0]
    if COUNTER_LABEL.search(label) and "nonNegativeDerivative(" not in function:
        problems.append(f"{where}: counter {label} graphed without nonNegativeDerivative")
    return problems


# Grafana dashboards.

def panels(items: list[dict]) -> Iterator[dict]:
    """Every panel, including those folded into rows."""
    for panel in items:
        yield panel
        yield from panels(panel.get("panels", []))


def variable_query(variable: dict) -> str:
    query = variable.get("query", "")
    return query.get("query", "") if isinstance(query, dict) else query


def grafana_patterns(path: Path) -> tuple[list[Pattern], list[str]]:
    """The globs of every target and query variable of a dashboard, and its faults."""
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    variables = dashboard.get("templating", {}).get("list", [])
    names = {variable["name"] for variable in variables}
    patterns, problems = [], []
    sources = [(f"{path.name} variable {variable['name']}", variable_query(variable), True)
               for variable in variables if variable.get("type") == "query"]
    sources += [(f"{path.name} panel {panel.get('title')!r} {target.get('refId')}",
                 target["target"], False)
                for panel in panels(dashboard.get("panels", []))
                for target in panel.get("targets", []) if "target" in target]
    for where, text, prefix in sources:
        used = {next(filter(None, match.groups())) for match in GRAFANA_VARIABLE.finditer(text)}
        problems += [f"{where}: ${name} is no variable of the dashboard"
                     for name in sorted(used - names)]
        paths = GRAPHITE_PATH.findall(GRAFANA_VARIABLE.sub("*", text))
        if not paths:
            problems.append(f"{where}: no icinga2.* path in {text!r}")
        patterns += [Pattern(where, glob, prefix) for glob in paths]
    return patterns, problems


# What the graphite module draws: one chart per value of a template's macro.

def chart_devices(series: set[str], prefix: str, root: Path = GRAPHS) -> dict[str, set[str]]:
    """{template: the values its per-device macro takes} for the series under one
    service prefix (`icinga2.<host>.services.<service>.<command>`), reverse-resolved as
    the module does: a value needs a series for every curve that has any."""
    charts = {}
    command = prefix.rsplit(".", 1)[-1]
    for path in sorted((root / "icingaweb2").glob("*.ini")):
        templates, _ = ini_templates(path)
        for name, topics in templates.items():
            commands = topics.get("graph", {}).get("check_command", "").split(",")
            if command not in (entry.strip() for entry in commands):
                continue
            values = template_values(topics.get("metrics_filters", {}), series, prefix)
            if values is not None:
                charts[name] = values
    return charts


def template_values(curves: dict[str, str], series: set[str], prefix: str) -> set[str] | None:
    """The shared macro values of a template's curves under `prefix`; None without a
    macro beyond the name template."""
    found = []
    for metric_filter in curves.values():
        resolved = metric_filter.replace("$service_name_template$", prefix)
        if not [name for name, _ in MACRO.findall(resolved)]:
            return None
        regex = re.compile("".join(
            "(.*)" if index % 2 else re.escape(part)
            for index, part in enumerate(MACRO.sub(r"$\1$", resolved).split("$"))) + r"\Z")
        values = {match[1] for match in map(regex.match, series) if match}
        if values:
            found.append(values)
    return set.intersection(*found) if found else set()
