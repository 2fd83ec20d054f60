"""Paired, interleaved rounds on one target: snapshot hit, refresh, direct, peer, floor.

Per form (the Debian package under /usr/bin/python3, the virtualenv) each
check of a VM runs three ways, every round, in one state directory per form:

- DIRECT: `--snapshot-max-age 0`: the check reads its domain from libvirt
  and stores its baseline; the snapshot is not touched;
- REFRESH: the default `--snapshot-max-age` (15 s), right after that direct
  run (and a pause longer than --sample-interval): the snapshot is older
  than the check's own baseline, so the run refreshes it, once, and measures
  against its stored baseline (steady state).  `--snapshot-max-age 0.001`
  refreshes on every run too (prepare() counts how often one such run
  refreshes, once per form, and reports it);
- HIT: the default `--snapshot-max-age`, right after another check's
  refresh: the snapshot is seconds old and newer than the check's own
  baseline by more than --sample-interval, so the run reads its domain's
  part and nothing else.

A round chains them: DIRECT of check i, (untimed pause), REFRESH of check i,
HIT of check i-1 (whose baseline came from the previous refresh); so each
check gets one of each per round. Then check_vm_host, a check of the whole
hypervisor, which has no baseline and so no refresh of its own: its HIT
(the default `--snapshot-max-age`, right after those refreshes: it reads the
snapshot's host summary, g-<n>/host) and its DIRECT run (`--snapshot-max-age
0`). Every HIT is verified: the snapshot's generation number
(hostsnap-*/current) must be the same after it as before; every REFRESH must
add exactly one, every DIRECT none. A check of a VM must exit 0; check_vm_host
0 to 2, a state it judged (the exits are recorded either way).

Beside them, each round times the peer, Debian's check_libvirt (-l cpu, io,
net), and the floor, `python3 -c 'import nagiosplugin, argparse, json'` under
each form's interpreter; on the import target (node-1) also the other import
costs: the interpreter's start, libcheck's runtime, libvirt and lxml. The
order of the forms alternates between rounds.

After the rounds, hits run under `python -X importtime`, each verified as a
hit (bench/snapshot/hitimports.py): on the import target, every check's hit
and the floor program BREAKDOWN_RUNS times per form, for the import
breakdown; elsewhere one hit of the last check and one of check_vm_host per
form. Every one of them must import neither libvirt nor lxml.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

from harness.package import debpackage
from harness.paths import REPO

from bench.common.timing import Runner, Sample
from bench.snapshot.hitimports import FLOOR, ImportRuns, self_times
from libcheck.registry import CHECKS as REGISTERED
from libcheck.registry import by_name

# Every registered check of a VM, by its short name.
CHECKS = tuple(entry.name for entry in REGISTERED)
# check_vm_host: its hit reads the snapshot's host summary; it has no refresh of its own.
HOST = by_name("host").name
TIMED_CHECKS = (*CHECKS, HOST)
JUDGED_EXITS = frozenset({0, 1, 2})  # OK, WARNING, CRITICAL: a state the host check judged
SAMPLE_INTERVAL = "0.05"
PAUSE = 0.08  # a little over --sample-interval
MAX_AGE = {"direct": "0", "always": "0.001"}  # hit and refresh: the default
BREAKDOWN_RUNS = 5
CHECK_LIBVIRT = "/usr/lib/nagios/plugins/check_libvirt"
PEER_METRICS = ("cpu", "io", "net")
DEB_LIBRARY = "/usr/share/check-vm"


class Form(NamedTuple):
    """How a check is installed: its interpreter, executables and library path."""

    key: str
    python: str
    executables: str  # a format string with {check}
    library: str  # the directory holding libcheck/
    options: tuple[str, ...] = ()  # the interpreter's options on the executables' #! line

    def argv(self, check: str) -> list[str]:
        """The command that runs `check` in this form, as the kernel runs its #! line."""
        return [self.python, *self.options, self.executables.format(check=check)]


def forms() -> list[Form]:
    """The Debian package's plugins, started as their #! line says (the daemons
    run them by path), and the virtualenv's checkout, under its python."""
    deb = "/usr/lib/nagios/plugins/check_vm_{check}"
    return [Form("deb", "/usr/bin/python3", deb, DEB_LIBRARY,
                 debpackage.shebang(Path(deb.format(check=CHECKS[0])))[1:]),
            Form("venv", sys.executable, str(REPO / "checks" / "check_vm_{check}"), str(REPO))]


def accepted_exits(check: str) -> frozenset[int]:
    """The exits of a timed run of `check` that count as a run that did its work."""
    return JUDGED_EXITS if check == HOST else frozenset({0})


class ImportProgram(NamedTuple):
    """A program of the import-cost table: `python -c code`, and whether it
    starts as the form's executables do (with the options of their #! line)."""

    label: str
    code: str
    as_plugins_start: bool = False


# The floor: what any plugin of the form pays before it reads anything, under
# the interpreter's default start. Timed on every target; the other programs
# on the import target only.
FLOOR_PROGRAM = ImportProgram("import nagiosplugin, argparse, json",
                              "import nagiosplugin, argparse, json")
_LIBRARY_ON_PATH = "import sys; sys.path.insert(0, {library!r}); "
IMPORTS = (
    ImportProgram("python3 -c pass", "pass"),
    FLOOR_PROGRAM,
    ImportProgram("the plugins' start: import libcheck", _LIBRARY_ON_PATH + "import libcheck",
                  as_plugins_start=True),
    ImportProgram("import libcheck.runtime", _LIBRARY_ON_PATH + "import libcheck.runtime",
                  as_plugins_start=True),
    ImportProgram("import libvirt", "import libvirt"),
    ImportProgram("import lxml.etree", "import lxml.etree"),
)
FLOOR_LABEL = FLOOR_PROGRAM.label


class Target(NamedTuple):
    """A URI, the domain checked there, and how many rounds it gets."""

    key: str
    uri: str
    domain: str
    label: str
    rounds: int
    test_driver: bool = True
    imports: bool = False  # the import-cost rows and the import breakdown on this target
    domains: int = 1  # on the URI; one: a lone check (one VM, one check) refreshes every run


@dataclass
class Result:
    """Every sample of one target, and the verification of hits and refreshes."""

    target: Target
    samples: dict[tuple[str, str, str], list[Sample]] = field(default_factory=dict)
    hits: int = 0
    real_hits: int = 0
    refreshes: int = 0
    real_refreshes: int = 0
    directs: int = 0
    quiet_directs: int = 0
    hit_imports: dict[str, ImportRuns] = field(default_factory=dict)
    always_generations: dict[str, int] = field(default_factory=dict)
    statuses: dict[str, set[int]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def add(self, key: tuple[str, str, str], sample: Sample) -> None:
        """Keep `sample` under (form or peer, check or metric, mode)."""
        self.samples.setdefault(key, []).append(sample)
        self.statuses.setdefault("/".join(key), set()).add(sample.status)

    def walls(self, key: tuple[str, str, str]) -> list[float]:
        """The wall times (ms) of one series."""
        return [sample.wall_ms for sample in self.samples.get(key, [])]


def generation(state_dir: Path) -> int:
    """The newest snapshot generation in a state directory (0: none)."""
    numbers = [json.loads(path.read_text())["generation"]
               for path in state_dir.glob("hostsnap-*/current")]
    return max(numbers, default=0)


class TargetRounds:
    """The rounds of one target: commands, state directories, verification."""

    def __init__(self, target: Target, runner: Runner, scratch: Path,
                 say: Callable[[str], None]) -> None:
        self.target = target
        self.runner = runner
        self.say = say
        self.forms = forms()
        self.result = Result(target)
        self.state = {form.key: scratch / "state" / target.key / form.key for form in self.forms}
        self._peer_second: dict[str, int] = {}

    def command(self, form: Form, check: str, mode: str) -> list[str]:
        """One check run of `form` in `mode`."""
        if check == HOST:
            return self.host_command(form, mode)
        options = ["--connect", self.target.uri, "-d", self.target.domain,
                   "--state-dir", str(self.state[form.key]),
                   "--sample-interval", SAMPLE_INTERVAL]
        if mode in MAX_AGE:
            options += ["--snapshot-max-age", MAX_AGE[mode]]
        if check == "mem" and self.target.test_driver:
            options += ["--balloon-max-age", "0"]  # the test driver's balloon has no clock
        return [*form.argv(check), *options]

    def host_command(self, form: Form, mode: str) -> list[str]:
        """One check_vm_host run of `form` in `mode` (hit or direct)."""
        options = ["--connect", self.target.uri, "--state-dir", str(self.state[form.key])]
        if mode in MAX_AGE:
            options += ["--snapshot-max-age", MAX_AGE[mode]]
        return [*form.argv(HOST), *options]

    def peer_command(self, metric: str) -> list[str]:
        """Debian's check_libvirt on the same domain."""
        return [CHECK_LIBVIRT, "-H", self.target.uri, "-N", self.target.domain, "-l", metric]

    def prepare(self) -> None:
        """Untimed: every check's baseline, check_vm_host's first runs, the peer's
        spool, and how many refreshes one `--snapshot-max-age 0.001` run makes."""
        for form in self.forms:
            for check in CHECKS:
                self.runner.run(self.command(form, check, "hit"))
                time.sleep(PAUSE)
            before = generation(self.state[form.key])
            self.runner.run(self.command(form, CHECKS[0], "always"))
            self.result.always_generations[form.key] = generation(self.state[form.key]) - before
            time.sleep(PAUSE)
            for mode in ("hit", "direct"):
                self.runner.run(self.command(form, HOST, mode))
        for metric in PEER_METRICS:
            # Its first -l cpu run stores, a second one within the same second
            # divides by zero: warm each metric, a second apart.
            self._peer(metric, timed=False)

    def run(self) -> Result:
        """Prepare, then every round."""
        self.prepare()
        for number in range(1, self.target.rounds + 1):
            order = self.forms if number % 2 else list(reversed(self.forms))
            for form in order:
                self._chain(form)
            for metric in PEER_METRICS:
                self._peer(metric, timed=True)
            self._imports(order)
            if number in (1, self.target.rounds) or number % 5 == 0:
                self.say(f"  round {number}/{self.target.rounds}")
        for form in self.forms:
            self._probe_imports(form)
        return self.result

    def _chain(self, form: Form) -> None:
        for index, check in enumerate(CHECKS):
            self._direct(form, check)
            time.sleep(PAUSE)
            self._refresh(form, check)
            self._hit(form, CHECKS[index - 1])
        self._hit(form, HOST)
        self._direct(form, HOST)

    def _direct(self, form: Form, check: str) -> None:
        before = generation(self.state[form.key])
        status = self._timed((form.key, check, "direct"), self.command(form, check, "direct"))
        self.result.directs += 1
        self.result.quiet_directs += (status in accepted_exits(check)
                                      and generation(self.state[form.key]) == before)

    def _refresh(self, form: Form, check: str) -> None:
        state = self.state[form.key]
        before = generation(state)
        status = self._timed((form.key, check, "refresh"), self.command(form, check, "refresh"))
        self.result.refreshes += 1
        self.result.real_refreshes += status == 0 and generation(state) == before + 1

    def _hit(self, form: Form, check: str) -> None:
        state = self.state[form.key]
        before = generation(state)
        status = self._timed((form.key, check, "hit"), self.command(form, check, "hit"))
        self.result.hits += 1
        if status in accepted_exits(check) and generation(state) == before:
            self.result.real_hits += 1
        else:
            self.result.notes.append(f"{form.key} {check}: a timed hit was no hit: exit "
                                     f"{status}, generation {before} -> {generation(state)}")

    def _probe_imports(self, form: Form) -> None:
        """Verified hits under -X importtime, each right after another check's refresh,
        check_vm_host's after the VM checks': on the import target every VM check's,
        with the floor program, BREAKDOWN_RUNS times; elsewhere the last one's, once."""
        checks, repeats = (CHECKS, BREAKDOWN_RUNS) if self.target.imports else (CHECKS[-1:], 1)
        record = self.result.hit_imports.setdefault(form.key, ImportRuns())
        for _ in range(repeats):
            for check in checks:
                self._untimed_refresh(form, CHECKS[(CHECKS.index(check) + 1) % len(CHECKS)])
                self._importtime_hit(form, check, record)
            self._importtime_hit(form, HOST, record)
            if self.target.imports:
                record.add(FLOOR, self._importtime([form.python, "-c", FLOOR_PROGRAM.code])[1])

    def _untimed_refresh(self, form: Form, check: str) -> None:
        """A chain step without its hit: `check`'s direct run, a pause, its refresh."""
        self.runner.run(self.command(form, check, "direct"))
        time.sleep(PAUSE)
        self.runner.run(self.command(form, check, "refresh"))

    def _importtime_hit(self, form: Form, check: str, record: ImportRuns) -> None:
        """A hit of `check` under -X importtime, kept if it was one."""
        state = self.state[form.key]
        before = generation(state)
        status, times = self._importtime(self.command(form, check, "hit"))
        if status in accepted_exits(check) and generation(state) == before:
            record.add(check, times)
        else:
            record.not_hits.append(f"{check}: not a hit: exit {status}, generation "
                                   f"{before} -> {generation(state)}")

    def _importtime(self, argv: list[str]) -> tuple[int, dict[str, int]]:
        """Run `argv` (an interpreter first) under -X importtime: its exit and self times."""
        done = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=self.runner.env,
                              capture_output=True, text=True, timeout=120, check=False)
        return done.returncode, self_times(done.stderr)

    def _peer(self, metric: str, timed: bool) -> None:
        # check_libvirt divides by the whole seconds between two runs.
        while int(time.time()) <= self._peer_second.get(metric, -1):
            time.sleep(0.05)
        argv = self.peer_command(metric)
        if timed:
            self._timed(("check_libvirt", metric, "peer"), argv)
        else:
            self.runner.run(argv)
        self._peer_second[metric] = int(time.time())

    def _imports(self, order: Sequence[Form]) -> None:
        programs = IMPORTS if self.target.imports else (FLOOR_PROGRAM,)
        for form in order:
            for program in programs:
                options = form.options if program.as_plugins_start else ()
                code = program.code.format(library=form.library)
                self._timed((form.key, program.label, "import"),
                            [form.python, *options, "-c", code])

    def _timed(self, key: tuple[str, str, str], argv: list[str]) -> int:
        sample = self.runner.run(argv)
        self.result.add(key, sample)
        return sample.status
