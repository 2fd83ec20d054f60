"""Running the real executables as subprocesses, and parsing what they print.

Shared by every tier that drives the checks from outside: the output is
split into status line, perfdata (parsed strictly) and long output.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from harness.paths import CHECKS

_PERFDATA_ITEM = re.compile(
    r"(?P<label>'(?:[^']|'')+'|[^'\s=]+)=(?P<value>-?[0-9.]+)(?P<uom>[a-zA-Z%]*)"
    r"(?P<rest>(?:;[^;\s]*){0,4})")


@dataclass(frozen=True)
class PerfItem:
    """One parsed perfdata item."""

    label: str
    value: float
    uom: str
    warn: str
    crit: str
    minimum: str
    maximum: str


def parse_perfdata(text: str) -> dict[str, PerfItem]:
    """Parse a perfdata string into items by (unquoted) label; fail on leftovers."""
    items, position = {}, 0
    text = text.strip()
    while position < len(text):
        match = _PERFDATA_ITEM.match(text, position)
        assert match, f"unparsable perfdata at: {text[position:]!r}"
        label = match["label"]
        if label.startswith("'"):
            label = label[1:-1].replace("''", "'")
        fields = ([*match["rest"].split(";")[1:], "", "", "", ""])[:4]
        items[label] = PerfItem(label, float(match["value"]), match["uom"], *fields)
        position = match.end()
        while position < len(text) and text[position] == " ":
            position += 1
    return items


@dataclass(frozen=True)
class CheckRun:
    """What one run of an executable printed and returned."""

    returncode: int
    stdout: str
    stderr: str

    @property
    def lines(self) -> list[str]:
        return self.stdout.splitlines()

    @property
    def status(self) -> str:
        """The first line without its perfdata."""
        return self.lines[0].split(" | ", 1)[0]

    @property
    def perfdata_text(self) -> str:
        """The perfdata as printed, after the first line's `|`."""
        first = self.lines[0]
        return first.split(" | ", 1)[1] if " | " in first else ""

    @property
    def perfdata(self) -> dict[str, PerfItem]:
        return parse_perfdata(self.perfdata_text) if self.perfdata_text else {}


def run_check(check: str, *args: str, state_dir: Path | None, timeout: float = 30,
              env: dict | None = None) -> CheckRun:
    """Run checks/<check> with the project's interpreter (with --state-dir unless
    `state_dir` is None: check_vm_pool keeps no state)."""
    state = ["--state-dir", str(state_dir)] if state_dir is not None else []
    command = [sys.executable, str(CHECKS / check), *state, *args]
    environment = {**os.environ, "COLUMNS": "100", **(env or {})}
    completed = subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                               env=environment, check=False)
    return CheckRun(completed.returncode, completed.stdout, completed.stderr)
