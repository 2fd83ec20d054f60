"""One run of a check of a hypervisor: options -> observation -> judgement -> output.

It shares the VM checks' runtime (the time limit, one UNKNOWN line for every
failure, the output printed once and bounded): only what a run reads and
how it is judged differ.  The hypervisor's summary comes from the host
snapshot while it is fresh, as a VM check's sample does, so a hit opens no
libvirt connection; a check that reads what no snapshot holds (storage
pools) opens libvirt itself.
"""

from __future__ import annotations

import sys
from functools import partial

from nagiosplugin.state import Ok, ServiceState

from libcheck import cli
from libcheck.evaluation import Condition, Outcome, Unmeasured, judge
from libcheck.hostcheckbase import HostCheck, HostSource, Problem
from libcheck.policy import STATE_NAMES
from libcheck.runtime import Run
from libcheck.sampler import DirectSampler, Sampler
from libcheck.samples import HostSummary
from libcheck.thresholds import Thresholds

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, NoReturn, Optional

    from libcheck.inspector import Inspector

# The status line names this many problems; the long output names them all.
PROBLEMS_IN_STATUS = 3


class HostRun(Run):
    """The wiring of one run of a check of a hypervisor (see `Run` for the parts)."""

    _check: HostCheck  # type: ignore[assignment]

    def _parse(self, argv):
        return cli.parse_host(cli.host_check_parser(self._check), argv)

    def _evaluate(self, options) -> Outcome:
        check = self._check
        thresholds = Thresholds(check.specs, options.warning, options.critical,
                                aliases=check.label_aliases)
        own = check.read_options(options)
        sources = _LazySources(partial(self._summary_sampler, options),
                               partial(self._open_inspector, options.connect))
        try:
            source = HostSource(options.connect, sources.summary, sources.inspector)
            observed = check.observe(source, own)
        finally:
            sources.close()
        return self._judge_observed(observed, source, thresholds, own, options, sources.notes)

    def _summary_sampler(self, options) -> Sampler:
        """The snapshot's sampler for a check it serves, else a direct one."""
        if self._check.uses_snapshot:
            return self._sampler(options)
        return DirectSampler(self._open_inspector(options.connect))

    def _judge_observed(self, observed: Any, source: HostSource, thresholds: Thresholds,
                        own: Any, options, notes: list[str]) -> Outcome:
        check = self._check
        thresholds.check_devices(check.devices(observed), owner="host")
        readings = check.readings(observed, own)
        problems = worst_first(check.problems(observed, own))
        unmeasured = Unmeasured(partial(check.unmeasured_reason, observed, own),
                                STATE_NAMES[options.state_if_unmeasured_threshold])
        ok_text = check.ok_text(observed, readings)
        # Without a reading (no pool running, none selected) nagiosplugin has
        # nothing to judge: the check's own words stand, with the problems' state.
        condition = condition_of(problems) or (None if readings else Condition(Ok, ok_text))
        outcome = judge(check.name, check.subject(observed, source), ok_text, readings,
                        thresholds, condition, unmeasured)
        details = [problem.text for problem in problems if problem.state != Ok]
        details += [*check.notes(observed, own), *notes, *outcome.notes]
        if options.verbose >= 1:
            details += [*outcome.details, *check.details(observed, own)]
        return Outcome(outcome.state, outcome.text, outcome.perfdata, tuple(details))


def worst_first(problems: list[Problem]) -> list[Problem]:
    """The problems, the worst state first (CRITICAL, UNKNOWN, WARNING, OK),
    each state's in the check's order."""
    rank = {2: 0, 3: 1, 1: 2, 0: 3}
    return sorted(problems, key=lambda problem: rank[problem.state.code])


def condition_of(problems: list[Problem]) -> Optional[Condition]:
    """The state of the worst problems and the status text naming the first few."""
    shown = [problem for problem in problems if problem.state != Ok]
    if not shown:
        return None
    worst: ServiceState = shown[0].state
    text = "; ".join(problem.text for problem in shown[:PROBLEMS_IN_STATUS])
    more = len(shown) - PROBLEMS_IN_STATUS
    return Condition(worst, text + (f" (+{more} more)" if more > 0 else ""))


class _LazySources:
    """The hypervisor's summary (through the snapshot's sampler, or directly)
    and the inspector (for pools), each opened on first use and closed once."""

    def __init__(self, open_sampler: Callable[[], Sampler],
                 open_inspector: Callable[[], Inspector]) -> None:
        self._open_sampler = open_sampler
        self._open_inspector = open_inspector
        self._sampler: Optional[Sampler] = None
        self._inspector: Optional[Inspector] = None
        self.notes: list[str] = []

    def summary(self) -> HostSummary:
        if self._sampler is None:
            self._sampler = self._open_sampler()
            self.notes = self._sampler.notes
        return self._sampler.summary()

    def inspector(self) -> Inspector:
        if self._inspector is None:
            self._inspector = self._open_inspector()
        return self._inspector

    def close(self) -> None:
        for opened in (self._sampler, self._inspector):
            if opened is not None:
                opened.close()


def main(check: HostCheck) -> NoReturn:
    """Entry point of an executable: run with sys.argv and exit with the state."""
    sys.exit(HostRun(check)(sys.argv[1:]))  # type: ignore[arg-type]
