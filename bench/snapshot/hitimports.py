"""What a snapshot hit imports beyond the floor, from `python -X importtime`.

The floor is `python3 -c 'import nagiosplugin, argparse, json'` under the
form's own interpreter: what any plugin of that form pays before it reads
anything. After the rounds, every check's hit (a VM check's right after
another check's refresh, check_vm_host's right after those) and the floor
program run under `-X importtime` (bench/snapshot/rounds.py), each hit
verified as one: the snapshot's generation unchanged. The breakdown lists
every module a hit imports that the floor does not, by its median self time
over the runs, libcheck's own modules first, then the others; their totals
beside the floor's own. The same runs show that a hit imports neither
libvirt nor lxml.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Iterable, Sequence

HEAVY_MODULES = ("libvirt", "lxml")
FLOOR = "floor"
OWN_PACKAGE = "libcheck"
_PREFIX = "import time:"


def self_times(stderr: str) -> dict[str, int]:
    """Each imported module's self time (µs), from `-X importtime`'s lines on stderr."""
    times = {}
    for line in stderr.splitlines():
        if not line.startswith(_PREFIX):
            continue
        fields = line[len(_PREFIX):].split("|")
        if len(fields) == 3 and fields[0].strip().isdigit():  # not the header line
            times[fields[2].strip()] = int(fields[0])
    return times


def is_own(module: str) -> bool:
    """Whether `module` is libcheck or one of its modules."""
    return module.split(".")[0] == OWN_PACKAGE


@dataclass
class ImportRuns:
    """The `-X importtime` runs of one form: per program (a check's hit, or the
    floor) its runs' self times, and the runs that were no hit."""

    runs: dict[str, list[dict[str, int]]] = field(default_factory=dict)
    not_hits: list[str] = field(default_factory=list)

    def add(self, program: str, times: dict[str, int]) -> None:
        """Keep one verified run of `program`."""
        self.runs.setdefault(program, []).append(times)

    def hits(self) -> list[str]:
        """The checks whose hits ran, in the order they first ran."""
        return [program for program in self.runs if program != FLOOR]

    def hit_count(self) -> int:
        """How many verified hits ran under -X importtime."""
        return sum(len(self.runs[program]) for program in self.hits())

    def modules(self, program: str) -> set[str]:
        """Every module any run of `program` imported."""
        return {module for run in self.runs.get(program, []) for module in run}

    def beyond_floor(self, program: str) -> set[str]:
        """The modules `program` imports that the floor does not."""
        return self.modules(program) - self.modules(FLOOR)

    def median_self(self, program: str, module: str) -> float:
        """The median self time (µs) of `module` over the runs of `program` that imported it."""
        return statistics.median(run[module] for run in self.runs.get(program, [])
                                 if module in run)

    def total(self, program: str, modules: Iterable[str]) -> float:
        """The sum of the median self times of `modules` in `program`'s runs."""
        return sum(self.median_self(program, module) for module in modules)

    def heavy(self) -> list[str]:
        """libvirt's and lxml's modules that any verified hit imported."""
        return sorted({module for program in self.hits() for module in self.modules(program)
                       if module.split(".")[0] in HEAVY_MODULES})


def _by_cost(runs: ImportRuns, extra: dict[str, set[str]], modules: set[str]) -> list[str]:
    """`modules`, the dearest first (their largest median over the checks), then by name."""
    def cost(module: str) -> float:
        return max((runs.median_self(program, module) for program, beyond in extra.items()
                    if module in beyond), default=0.0)
    return sorted(modules, key=lambda module: (-cost(module), module))


def _row(label: str, values: Sequence[str]) -> str:
    return f"{label:<34}" + "".join(f"{value:>9}" for value in values)


def table(runs: ImportRuns, count: int) -> list[str]:
    """Every module a hit imports beyond the floor, median self µs per check."""
    programs = runs.hits()
    extra = {program: runs.beyond_floor(program) for program in programs}
    every = set().union(*extra.values())
    head = _row(f"module (median self us of {count} runs)", programs)
    lines = [head, "-" * len(head)]
    for group, modules in ((f"{OWN_PACKAGE}.*", {m for m in every if is_own(m)}),
                           ("others", {m for m in every if not is_own(m)})):
        lines.append(f"{group}:")
        for module in _by_cost(runs, extra, modules):
            lines.append(_row(f"  {module}", [
                f"{runs.median_self(p, module):.0f}" if module in extra[p] else "-"
                for p in programs]))
        lines.append(_row(f"  total, {group}", [
            f"{runs.total(p, extra[p] & modules):.0f}" for p in programs]))
    lines.append(_row("total beyond the floor", [f"{runs.total(p, extra[p]):.0f}"
                                                 for p in programs]))
    lines.append(_row("modules beyond the floor", [str(len(extra[p])) for p in programs]))
    floor = runs.modules(FLOOR)
    lines.append(f"the floor itself: {runs.total(FLOOR, floor):.0f} us over {len(floor)} "
                 "modules (the same sum of median self times)")
    return lines
