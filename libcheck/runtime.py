"""One run of a check: options -> inspector -> state -> measurement -> output.

It owns the pieces a single check does not: the time limit (a watchdog
thread, because a libvirt call blocked in C never returns to Python's
signal handlers), the mapping of every failure to one UNKNOWN line, and
printing the status line, perfdata and long output exactly once.
"""

from __future__ import annotations

import os
import sys
import threading
import traceback
from functools import partial

from nagiosplugin.state import ServiceState, Unknown

from libcheck import cli
from libcheck.checkbase import Check
from libcheck.clocks import SYSTEM_CLOCKS, Clocks
from libcheck.errors import CheckError, DomainNotFound, DomainVanished, UsageError
from libcheck.evaluation import Outcome, Unmeasured, judge
from libcheck.measure import Measurement, Measurer
from libcheck.policy import STATE_NAMES, StatePolicy
from libcheck.rates import BaselinePolicy
from libcheck.sampler import Sampler, open_sampler
from libcheck.state import StateStore, state_key
from libcheck.thresholds import Thresholds

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable, NoReturn, Optional, Sequence, TextIO

    from libcheck.inspector import Inspector

# A baseline this old is measured against in preference to younger ones.
SETTLED_AGE = 5.0
# Nagios keeps 8 KiB of a plugin's output: status line, perfdata and long output.
OUTPUT_LIMIT = 8192
# The status text keeps at least this many bytes beside the perfdata.
STATUS_ROOM = 256
CUT = "..."


class Reporter:
    """Prints the result once, whether the run or the watchdog gets there first."""

    def __init__(self, title: str, stream: TextIO) -> None:
        self._title = title
        self._stream = stream
        self._lock = threading.Lock()
        self._done = False

    def emit(self, state: ServiceState, text: str, perfdata: Sequence[str] = (),
             long_output: Sequence[str] = ()) -> int:
        """Write the plugin output unless something was written already."""
        encoding = _encoding(self._stream)
        head = _encodable(f"{self._title} {str(state).upper()} - ", encoding)
        lines = bounded_output(head, _encodable(_one_line(text), encoding),
                               [_encodable(item, encoding) for item in perfdata],
                               [_encodable(_one_line(line), encoding) for line in long_output],
                               encoding, OUTPUT_LIMIT)
        with self._lock:
            if not self._done:
                self._stream.write("\n".join(lines) + "\n")
                self._stream.flush()
                self._done = True
        return state.code

    def emit_and_exit(self, state: ServiceState, text: str) -> None:
        """For the watchdog: write straight to the file descriptor and exit now,
        unless the result was written already."""
        with self._lock:
            if not self._done:
                self._done = True
                _write_unbuffered(self._stream, _encodable(
                    f"{self._title} {str(state).upper()} - {text}\n", _encoding(self._stream)))
                os._exit(state.code)


def bounded_output(head: str, text: str, perfdata: Sequence[str], long_output: Sequence[str],
                   encoding: str = "utf-8", limit: int = OUTPUT_LIMIT) -> list[str]:
    """The lines to print, `limit` bytes in all with their newlines.

    The perfdata items stay whole (those that would leave the status text less
    than its least room go, the last first: the judgement has fitted them
    already); the status text is cut only where the rest leaves it no room;
    the long output keeps whole lines from the first and says how many more
    there were.
    """
    items = list(perfdata)
    while items and _size(head + " " * STATUS_ROOM + _tail(items), encoding) >= limit:
        items.pop()
    first = _cut(head + text, limit - 1 - _size(_tail(items), encoding), encoding) + _tail(items)
    return [first, *_whole_lines(long_output, limit - _size(first, encoding) - 1, encoding)]


def _tail(items: Sequence[str]) -> str:
    return " | " + " ".join(items) if items else ""


def _whole_lines(lines: Sequence[str], room: int, encoding: str) -> list[str]:
    """As many lines as fit `room` bytes with their newlines, and a closing line
    that says how many more there were."""
    sizes = [_size(line, encoding) + 1 for line in lines]
    if sum(sizes) <= room:
        return list(lines)
    if len(_more(len(lines))) + 1 > room:
        return []
    kept, used = 0, 0
    while used + sizes[kept] + len(_more(len(lines))) + 1 <= room:
        used += sizes[kept]
        kept += 1
    return [*lines[:kept], _more(len(lines) - kept)]


def _more(count: int) -> str:
    return f"... {count} more line{'s' if count != 1 else ''}"


def _cut(text: str, room: int, encoding: str) -> str:
    """`text`, or as much of it as fits `room` bytes with `...` after it."""
    if _size(text, encoding) <= room:
        return text
    encoded = text.encode(encoding)[:max(room - len(CUT), 0)]
    return encoded.decode(encoding, "ignore") + CUT


def _size(text: str, encoding: str) -> int:
    return len(text.encode(encoding))


def _write_unbuffered(stream: TextIO, text: str) -> None:
    # The main thread may hold the stream's buffer lock: go around it.
    try:
        os.write(stream.fileno(), text.encode(getattr(stream, "encoding", None) or "utf-8",
                                              "backslashreplace"))
    except (AttributeError, OSError, ValueError):
        stream.write(text)
        stream.flush()


def _encoding(stream: TextIO) -> str:
    return getattr(stream, "encoding", None) or "utf-8"


def _encodable(text: str, encoding: str) -> str:
    # A name from the command line may hold bytes the output encoding cannot.
    return text.encode(encoding, "backslashreplace").decode(encoding)


def _one_line(text: str) -> str:
    return " ".join(str(text).replace("|", "/").split())


class Watchdog:
    """Ends the process with UNKNOWN when the time limit runs out."""

    def __init__(self, seconds: float, reporter: Reporter) -> None:
        self._timer = threading.Timer(seconds, self._fire, args=(seconds,))
        self._timer.daemon = True
        self._reporter = reporter

    def _fire(self, seconds: float) -> None:
        self._reporter.emit_and_exit(
            Unknown, f"timed out after {seconds:g} s (raise --timeout, or check that "
                     "libvirtd answers: virsh -r list)")

    def __enter__(self) -> Watchdog:
        self._timer.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self._timer.cancel()


class Run:
    """The wiring of one check run, with its parts injectable for tests.

    `open_inspector` opens libvirt for a URI (by default read-only, importing
    libvirt only then); `clocks` time the host snapshot's ages and must be
    the inspector's.
    """

    def __init__(self, check: Check, stream: TextIO = sys.stdout,
                 open_inspector: Optional[Callable[[str], Inspector]] = None,
                 sleep: Optional[Callable[[float], None]] = None,
                 clocks: Clocks = SYSTEM_CLOCKS) -> None:
        self._check = check
        self._reporter = Reporter(check.title, stream)
        self._open_inspector = open_inspector or _open_read_only
        self._sleep = sleep
        self._clocks = clocks

    def __call__(self, argv: Optional[Sequence[str]] = None) -> int:
        try:
            options = self._parse(argv)
        except UsageError as error:
            return self._reporter.emit(Unknown, str(error))
        with Watchdog(options.timeout, self._reporter):
            return self._guarded(options)

    def _parse(self, argv):
        return cli.parse(cli.check_parser(self._check), argv)

    def _guarded(self, options) -> int:
        try:
            outcome = self._evaluate(options)
        except CheckError as error:
            return self._reporter.emit(Unknown, str(error))
        except Exception as error:  # the last line of defence: still one line
            details = traceback.format_exc().splitlines() if options.verbose >= 3 else []
            return self._reporter.emit(
                Unknown, f"internal error: {type(error).__name__}: {error} "
                         "(run with -vvv for a traceback)", long_output=details)
        return self._reporter.emit(outcome.state, outcome.text, outcome.perfdata,
                                   outcome.details)

    def _evaluate(self, options) -> Outcome:
        thresholds = Thresholds(self._check.specs, options.warning, options.critical)
        policy = StatePolicy.from_options(options)
        sampler = self._sampler(options)
        try:
            measurement, store = self._measure_settled(sampler, options)
        except DomainNotFound as missing:
            verdict = policy.for_missing(str(missing))
            return Outcome(verdict.state, verdict.text, details=tuple(sampler.notes))
        finally:
            sampler.close()
        notes = [*store.notes, *sampler.notes]
        not_running = policy.for_identity(measurement.sample.identity)
        if not_running is not None:
            return Outcome(not_running.state, not_running.text, details=tuple(notes))
        return self._judge(measurement, thresholds, options, store.trouble, notes)

    def _sampler(self, options) -> Sampler:
        # A refresh may wait for another run's for half the time limit.
        return open_sampler(options.connect, options.state_dir, options.snapshot_max_age,
                            options.timeout / 2, self._open_inspector, self._clocks)

    def _measure_settled(self, sampler: Sampler, options) -> tuple[Measurement, StateStore]:
        """Measure; if the domain stopped or vanished meanwhile, look again once,
        so that the state policy (stopped, missing) judges where it now stands."""
        try:
            return self._measure(sampler, options)
        except DomainVanished:
            return self._measure(sampler, options)

    def _measure(self, sampler: Sampler, options) -> tuple[Measurement, StateStore]:
        domain = sampler.domain(options.domain)
        store = StateStore(options.state_dir, lock_timeout=options.timeout / 4)
        baseline_policy = BaselinePolicy(shortest_age=options.sample_interval,
                                         settled_age=max(SETTLED_AGE, options.sample_interval),
                                         max_age=options.max_age)
        kwargs = {"sleep": self._sleep} if self._sleep else {}
        measurer = Measurer(partial(domain.sample, self._check.groups),
                            self._check.counters, baseline_policy,
                            options.sample_interval, **kwargs)
        stem = state_key(sampler.uri, domain.uuid, self._check.name, options.baseline_name)
        # Without a baseline of its own, the host snapshot's previous generation may serve.
        earlier = partial(domain.earlier_sample, self._check.groups)
        with store.slot(stem) as slot:
            measurement = measurer.measure(slot, earlier)
        return measurement, store

    def _judge(self, measurement: Measurement, thresholds: Thresholds, options,
               trouble: Optional[str], notes: list[str]) -> Outcome:
        check = self._check
        own = check.read_options(options)
        thresholds.check_devices(check.devices(measurement.sample))
        readings = check.readings(measurement, own)
        outcome = judge(check.name, measurement.sample.identity.name,
                        check.ok_text(measurement, readings), readings, thresholds,
                        check.condition(measurement, own),
                        self._unmeasured(measurement, own, options))
        details = notes + list(outcome.notes)
        if options.verbose >= 1:
            details += list(outcome.details) + check.details(measurement, own)
        if options.verbose >= 2:
            details.append(_basis_line(measurement))
        return Outcome(outcome.state, _with_trouble(outcome.text, trouble),
                       outcome.perfdata, tuple(details))

    def _unmeasured(self, measurement: Measurement, own: Any, options) -> Unmeasured:
        """The check's reasons for labels without a value, and the state they make."""
        return Unmeasured(partial(self._check.unmeasured_reason, measurement, own),
                          STATE_NAMES[options.state_if_unmeasured_threshold])


def _open_read_only(uri: str) -> Inspector:
    # Imported here: a run that the host snapshot serves never loads libvirt.
    from libcheck.inspector import Inspector

    return Inspector.open(uri)


def _with_trouble(text: str, trouble: Optional[str]) -> str:
    # A store that does not work makes every run measure within itself: that
    # must show where the operator looks, not only in the long output.
    return f"{text} ({trouble})" if trouble else text


def _basis_line(measurement: Measurement) -> str:
    seconds = f"{measurement.interval:.2f} s" if measurement.interval else "an unknown interval"
    return f"rates measured over {seconds} {measurement.basis}"


def main(check: Check) -> NoReturn:
    """Entry point of an executable: run with sys.argv and exit with the state."""
    sys.exit(Run(check)(sys.argv[1:]))
