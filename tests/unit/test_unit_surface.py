"""The command definitions operators load are the recorded ones.

tests/data/surface/ holds what icinga2-conf/commands.conf and
nagios-conf/check_vm-commands.cfg define, parsed: per Icinga 2 CheckCommand its
command line, its default variables and each argument with every attribute but
its description (icinga2-arguments.json), the descriptions apart (icinga2-descriptions.json, so
that a change of wording shows as such), and per Nagios command its command
line (nagios-commands.json). A changed, added or lost argument fails here; when
that is meant, record again and name the change in the commit:

    CHECK_VM_SURFACE_RECORD=ROOT .venv/bin/pytest tests/unit/test_unit_surface.py

where ROOT is the checkout whose files are recorded (this one: `.`).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Iterator, Union

import pytest

from libcheck.registry import ALL_CHECKS

REPO = Path(__file__).resolve().parents[2]
SURFACE = REPO / "tests" / "data" / "surface"
RECORD_FROM = "CHECK_VM_SURFACE_RECORD"
ICINGA_COMMANDS = Path("icinga2-conf") / "commands.conf"
NAGIOS_COMMANDS = Path("nagios-conf") / "check_vm-commands.cfg"

Value = Union[str, list, dict]


# -- the Icinga 2 configuration language, as far as CheckCommands use it ----------

_TOKEN = re.compile(r"""
    (?P<space>[ \t\r]+)
  | (?P<comment>/\*.*?\*/|//[^\n]*|\#[^\n]*)
  | (?P<newline>\n)
  | (?P<lambda>\{\{.*?\}\})
  | (?P<string>"(?:[^"\\]|\\.)*")
  | (?P<punct>[{}\[\],;=()])
  | (?P<word>[^\s{}\[\],;=()"]+)
""", re.VERBOSE | re.DOTALL)


def tokens(text: str) -> list[tuple[str, str]]:
    """(kind, text) of every token but spaces and comments; fails on what it cannot read."""
    found, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        assert match, f"cannot read the configuration at: {text[position:position + 40]!r}"
        if match.lastgroup not in ("space", "comment"):
            found.append((match.lastgroup, match.group()))
        position = match.end()
    return found


class IcingaReader:
    """A reader of the object definitions of an Icinga 2 configuration file.

    A value is kept as written (a string with its quotes, a lambda, an
    expression), a dictionary as a dict and an array as a list, so that any
    change of what Icinga would be given shows.
    """

    def __init__(self, text: str) -> None:
        self.tokens = tokens(text)
        self.position = 0

    def peek(self) -> tuple[str, str]:
        return self.tokens[self.position] if self.position < len(self.tokens) else ("end", "")

    def take(self, expected: str = "") -> str:
        kind, text = self.peek()
        assert kind != "end", "unexpected end of the configuration"
        assert not expected or text == expected, f"expected {expected!r}, found {text!r}"
        self.position += 1
        return text

    def skip_newlines(self) -> None:
        while self.peek()[0] in ("newline",) or self.peek()[1] == ";":
            self.position += 1

    def objects(self) -> Iterator[tuple[str, str, dict]]:
        """(type, name, attributes) of every `object` block; other blocks are passed over."""
        self.skip_newlines()
        while self.peek()[0] != "end":
            if self.peek()[1] == "object":
                self.take()
                kind, name = self.take(), self.take()
                yield kind, json.loads(name), self.dictionary()
            else:
                self.statement_passed_over()
            self.skip_newlines()

    def statement_passed_over(self) -> None:
        depth = 0
        while True:
            kind, text = self.peek()
            if kind == "end" or (depth == 0 and kind == "newline"):
                return
            self.take()
            depth += {"{": 1, "}": -1}.get(text, 0)
            if depth == 0 and text == "}":
                return

    def dictionary(self) -> dict:
        """A `{ key = value ... }` block."""
        self.take("{")
        entries: dict = {}
        self.skip_newlines()
        while self.peek()[1] != "}":
            key = self.take()
            self.take("=")
            entries[json.loads(key) if key.startswith('"') else key] = self.value()
            self.skip_newlines()
        self.take("}")
        return entries

    def array(self) -> list:
        """A `[ value, ... ]` array."""
        self.take("[")
        items = []
        self.skip_newlines()
        while self.peek()[1] != "]":
            items.append(self.value())
            self.skip_newlines()
            if self.peek()[1] == ",":
                self.take()
                self.skip_newlines()
        self.take("]")
        return items

    def value(self) -> Value:
        kind, text = self.peek()
        if text == "{":
            return self.dictionary()
        if text == "[":
            return self.array()
        if kind == "lambda":
            self.take()
            return " ".join(text.split())
        return self.expression()

    def expression(self) -> str:
        """Everything up to the end of the line, a comma or a closing bracket."""
        parts = []
        while self.peek()[0] != "newline" and self.peek()[1] not in (",", ";", "}", "]", ""):
            parts.append(self.take())
        assert parts, f"no value at {self.peek()!r}"
        return " ".join(parts)


def icinga_check_commands(text: str) -> dict[str, dict]:
    """Every CheckCommand of a configuration: name -> its attributes."""
    return {name: attributes for kind, name, attributes in IcingaReader(text).objects()
            if kind == "CheckCommand"}


def icinga_arguments(text: str) -> dict[str, dict]:
    """Per CheckCommand its command, its arguments without descriptions and its vars."""
    surface = {}
    for name, attributes in icinga_check_commands(text).items():
        arguments = {key: {field: value for field, value in argument.items()
                           if field != "description"}
                     for key, argument in attributes.get("arguments", {}).items()}
        others = {field: value for field, value in attributes.items() if field != "arguments"}
        surface[name] = {**others, "arguments": arguments}
    return surface


def icinga_descriptions(text: str) -> dict[str, dict[str, str]]:
    """Per CheckCommand the description of each of its arguments."""
    return {name: {key: json.loads(argument.get("description", '""'))
                   for key, argument in attributes.get("arguments", {}).items()}
            for name, attributes in icinga_check_commands(text).items()}


# -- Nagios object definitions ----------------------------------------------------

_NAGIOS_COMMAND = re.compile(r"^define command \{\n(?P<body>.*?)^\}", re.MULTILINE | re.DOTALL)


def nagios_commands(text: str) -> dict[str, str]:
    """command_name -> command_line of every `define command` block."""
    commands = {}
    for block in _NAGIOS_COMMAND.finditer(text):
        fields = dict(line.strip().split(None, 1) for line in block["body"].splitlines()
                      if line.strip() and not line.strip().startswith("#"))
        commands[fields["command_name"]] = fields["command_line"]
    return commands


# -- the record -------------------------------------------------------------------

def surface(root: Path) -> dict[str, dict]:
    """Record file name -> what the command definitions of the checkout `root` define."""
    icinga = (root / ICINGA_COMMANDS).read_text(encoding="utf-8")
    nagios = (root / NAGIOS_COMMANDS).read_text(encoding="utf-8")
    return {"icinga2-arguments.json": icinga_arguments(icinga),
            "icinga2-descriptions.json": icinga_descriptions(icinga),
            "nagios-commands.json": nagios_commands(nagios)}


def written(data: dict) -> str:
    """The record's text: sorted keys, one item a line, so that diffs read well."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def recorded(name: str) -> dict:
    """One record file, after writing it from the checkout CHECK_VM_SURFACE_RECORD names."""
    if os.environ.get(RECORD_FROM):
        found = surface(Path(os.environ[RECORD_FROM]).resolve())
        (SURFACE / name).write_text(written(found[name]), encoding="utf-8")
    return json.loads((SURFACE / name).read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", sorted(surface(REPO)))
def test_the_command_definitions_are_the_recorded_ones(name):
    assert surface(REPO)[name] == recorded(name)


# -- the readers themselves -------------------------------------------------------

SAMPLE = """/* a comment with object CheckCommand "not_this" { } */
if (!globals.contains("X")) {
	const X = "/usr/local/bin"
}
object CheckCommand "sample" {
	command = [ X + "/check_sample" ]   // trailing comment
	arguments = {
		"--name" = {
			value = "$sample_name$"
			required = true
			description = "The \\"name\\""
		}
		"-v" = {
			set_if = {{ string(macro("$sample_verbose$")) in [ "1", "true" ] }}
		}
	}
	vars.sample_name = "$vm_name$"
}
"""


def test_the_icinga_reader_keeps_every_attribute_as_written():
    assert icinga_arguments(SAMPLE) == {"sample": {
        "command": ['X + "/check_sample"'],
        "vars.sample_name": '"$vm_name$"',
        "arguments": {
            "--name": {"value": '"$sample_name$"', "required": "true"},
            "-v": {"set_if": '{{ string(macro("$sample_verbose$")) in [ "1", "true" ] }}'},
        }}}
    assert icinga_descriptions(SAMPLE) == {"sample": {"--name": 'The "name"', "-v": ""}}


def test_the_icinga_reader_sees_a_changed_attribute():
    changed = SAMPLE.replace("required = true", "required = false")
    assert icinga_arguments(changed) != icinga_arguments(SAMPLE)
    assert icinga_descriptions(SAMPLE.replace("name", "nam")) != icinga_descriptions(SAMPLE)


def test_the_nagios_reader_takes_each_command_line():
    text = ("# define command {\ndefine command {\n    command_name    a\n"
            "    command_line    $USER2$/a --x '$_HOSTX$'\n}\n")
    assert nagios_commands(text) == {"a": "$USER2$/a --x '$_HOSTX$'"}


def test_the_record_holds_a_command_for_every_check():
    commands = {entry.command for entry in ALL_CHECKS}
    assert commands <= set(recorded("icinga2-arguments.json"))
    assert {f"check_{command}" for command in commands} <= set(recorded("nagios-commands.json"))
