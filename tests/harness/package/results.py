"""What a daemon recorded of one check, and what the tier expects of it.

Both daemons' results come down to the same few fields, keyed by Icinga's
object names: `host` for a host check, `host!service` for a service.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.checkrun import PerfItem, parse_perfdata

STATES = ("OK", "WARNING", "CRITICAL", "UNKNOWN")
OK, WARNING, CRITICAL, UNKNOWN = range(4)


@dataclass(frozen=True)
class Result:
    """One object's last check result as the daemon kept it."""

    state: int          # in the plugins' terms: 0 OK ... 3 UNKNOWN
    output: str         # the plugin's status line (without perfdata)
    perfdata: str
    executed_at: float  # when the daemon ran the plugin (epoch seconds)

    def perfdata_items(self) -> dict[str, PerfItem]:
        return parse_perfdata(self.perfdata)


@dataclass(frozen=True)
class Expected:
    """The state a check must end in, and perfdata labels it must report."""

    prefix: str                      # the plugin's status prefix, e.g. VM_CPU
    state: int
    labels: tuple[str, ...] = field(default=())

    @property
    def status(self) -> str:
        """The start of the plugin's status line, e.g. 'VM_CPU OK - '."""
        return f"{self.prefix} {STATES[self.state]} - "


@dataclass(frozen=True)
class DaemonRun:
    """The results a daemon left, and when it was started."""

    started_at: float
    results: dict[str, Result]


def problems(result: Result, expected: Expected, started_at: float) -> list[str]:
    """What is wrong with `result` against `expected`; empty when nothing is."""
    found = []
    if result.state != expected.state or not result.output.startswith(expected.status):
        found.append(f"expected {expected.status!r} (state {expected.state}), "
                     f"got state {result.state}: {result.output!r}")
    missing = set(expected.labels) - set(result.perfdata_items())
    if missing:
        found.append(f"perfdata lacks {sorted(missing)}: {result.perfdata!r}")
    if result.executed_at < started_at:
        found.append(f"stale: ran at {result.executed_at}, the daemon started at {started_at}")
    return found
