"""Paired, interleaved rounds on one target: snapshot hit, refresh, direct, peer.

Per form (the Debian package under /usr/bin/python3, the virtualenv) each
check runs three ways, every round, in one state directory per form:

- DIRECT: `--snapshot-max-age 0`: the check reads its domain from libvirt
  and stores its baseline; the snapshot is not touched;
- REFRESH: the default `--snapshot-max-age` (15 s), right after that direct
  run (and a pause longer than --sample-interval): the snapshot is older
  than the check's own baseline, so the run refreshes it, once, and measures
  against its stored baseline (steady state).  `--snapshot-max-age 0.001`
  would refresh too, but twice per run: the part its refresh read is older
  than 1 ms when the check samples it, so it refreshes again (prepare()
  counts this once per form and reports it);
- HIT: the default `--snapshot-max-age`, right after another check's
  refresh: the snapshot is seconds old and newer than the check's own
  baseline by more than --sample-interval, so the run reads its domain's
  part and nothing else.

A round chains them: DIRECT of check i, (untimed pause), REFRESH of check i,
HIT of check i-1 (whose baseline came from the previous refresh); so each
check gets one of each per round. Every HIT is verified: the snapshot's
generation number (hostsnap-*/current) must be the same after it as before;
every REFRESH must add exactly one, every DIRECT none. After the rounds, one
more hit per form runs under `python -X importtime`, to show that a hit
imports neither libvirt nor lxml.

Beside them, each round times the peer, Debian's check_libvirt (-l cpu, io,
net), and on the 1-domain node the import costs of the interpreter's start,
the plugin framework, libcheck's runtime, libvirt and lxml. The order of the
forms alternates between rounds.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, NamedTuple, Sequence

from harness.paths import REPO

from bench.common.timing import Runner, Sample
from libcheck.registry import CHECKS as REGISTERED

# Every registered check, by its short name.
CHECKS = tuple(entry.name for entry in REGISTERED)
SAMPLE_INTERVAL = "0.05"
PAUSE = 0.08  # a little over --sample-interval
MAX_AGE = {"direct": "0", "always": "0.001"}  # hit and refresh: the default
HEAVY_MODULES = ("libvirt", "lxml")
CHECK_LIBVIRT = "/usr/lib/nagios/plugins/check_libvirt"
PEER_METRICS = ("cpu", "io", "net")
DEB_LIBRARY = "/usr/share/check-vm"


class Form(NamedTuple):
    """How a check is installed: its interpreter, executables and library path."""

    key: str
    python: str
    executables: str  # a format string with {check}
    library: str  # the directory holding libcheck/

    def argv(self, check: str) -> list[str]:
        """The command that runs `check` in this form."""
        return [self.python, self.executables.format(check=check)]


def forms() -> list[Form]:
    """The Debian package's plugins and the virtualenv's checkout."""
    return [Form("deb", "/usr/bin/python3", "/usr/lib/nagios/plugins/check_vm_{check}",
                 DEB_LIBRARY),
            Form("venv", sys.executable, str(REPO / "checks" / "check_vm_{check}"), str(REPO))]


IMPORTS = (
    ("python3 -c pass", "pass"),
    ("import nagiosplugin, argparse, json", "import nagiosplugin, argparse, json"),
    ("import libcheck.runtime", "import sys; sys.path.insert(0, {library!r}); "
                                "import libcheck.runtime"),
    ("import libvirt", "import libvirt"),
    ("import lxml.etree", "import lxml.etree"),
)


class Target(NamedTuple):
    """A URI, the domain checked there, and how many rounds it gets."""

    key: str
    uri: str
    domain: str
    label: str
    rounds: int
    test_driver: bool = True
    imports: bool = False  # time the import-cost rows on this target


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
    hit_imports: dict[str, list[str]] = field(default_factory=dict)
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
        options = ["--connect", self.target.uri, "-d", self.target.domain,
                   "--state-dir", str(self.state[form.key]),
                   "--sample-interval", SAMPLE_INTERVAL]
        if mode in MAX_AGE:
            options += ["--snapshot-max-age", MAX_AGE[mode]]
        if check == "mem" and self.target.test_driver:
            options += ["--balloon-max-age", "0"]  # the test driver's balloon has no clock
        return [*form.argv(check), *options]

    def peer_command(self, metric: str) -> list[str]:
        """Debian's check_libvirt on the same domain."""
        return [CHECK_LIBVIRT, "-H", self.target.uri, "-N", self.target.domain, "-l", metric]

    def prepare(self) -> None:
        """Untimed: every check's baseline, the peer's spool, and how many
        refreshes one `--snapshot-max-age 0.001` run makes."""
        for form in self.forms:
            for check in CHECKS:
                self.runner.run(self.command(form, check, "hit"))
                time.sleep(PAUSE)
            before = generation(self.state[form.key])
            self.runner.run(self.command(form, CHECKS[0], "always"))
            self.result.always_generations[form.key] = generation(self.state[form.key]) - before
            time.sleep(PAUSE)
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
            if self.target.imports:
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

    def _direct(self, form: Form, check: str) -> None:
        before = generation(self.state[form.key])
        status = self._timed((form.key, check, "direct"), self.command(form, check, "direct"))
        self.result.directs += 1
        self.result.quiet_directs += status == 0 and generation(self.state[form.key]) == before

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
        if status == 0 and generation(state) == before:
            self.result.real_hits += 1
        else:
            self.result.notes.append(f"{form.key} {check}: a timed hit was no hit: exit "
                                     f"{status}, generation {before} -> {generation(state)}")

    def _probe_imports(self, form: Form) -> None:
        """One more chain step, untimed; its hit under -X importtime."""
        state = self.state[form.key]
        self.runner.run(self.command(form, CHECKS[0], "direct"))
        time.sleep(PAUSE)
        self.runner.run(self.command(form, CHECKS[0], "refresh"))
        before = generation(state)
        argv = self.command(form, CHECKS[-1], "hit")
        done = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=self.runner.env,
                              capture_output=True, text=True, timeout=120, check=False)
        names = {line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()
                 if line.startswith("import time:")}
        heavy = sorted(name for name in names if name.split(".")[0] in HEAVY_MODULES)
        if generation(state) != before:
            heavy.append("(not a hit: the generation changed)")
        self.result.hit_imports[form.key] = heavy

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
        for form in order:
            for label, code in IMPORTS:
                program = code.format(library=form.library)
                self._timed((form.key, label, "import"), [form.python, "-c", program])

    def _timed(self, key: tuple[str, str, str], argv: list[str]) -> int:
        sample = self.runner.run(argv)
        self.result.add(key, sample)
        return sample.status
