"""Where a check's time goes beyond the framework baseline (test:///default).

    PYTHONPATH=tests .venv/bin/python -m bench.profiling.main [--runs N] [--checks cpu,mem]

Four views, each of a steady-state run (a stored baseline, no pause):

1. ladder: whole-process wall/CPU/RSS medians, round-robin, of programs that
   each add one stage: floor, bare, framework, + importing the check's libcheck
   modules, + building the parser and parsing the options, the whole check;
2. imports: `python -X importtime` self times (median of 5 runs) of the
   modules the check imports and the framework baseline does not;
3. run phase: cProfile of the check's run after its imports, top functions;
4. costs of single candidates: one import each on top of `import libvirt,
   nagiosplugin`, timed inside the process; the time spent creating @dataclass
   classes while libcheck imports; and what compiling libcheck costs a run that
   finds no bytecode cache.

Prints the findings and writes them to bench/profiling/profile.txt.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import io
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Sequence

from harness.paths import REPO

from bench.common.machine import child_env, say
from bench.common.timing import Runner, Sample, Summary
from bench.profiling import baselines
from bench.profiling.rows import Row, Target, prepare
from libcheck.registry import by_name

DEFAULT = Target("default", "test:///default", "test", True, "test:///default, domain test")
BASE = "import libvirt, nagiosplugin"
CANDIDATES = {
    "hashlib (state_key's sha256)": "import hashlib",
    "argparse": "import argparse",
    "dataclasses": "import dataclasses",
    "lxml.etree": "import lxml.etree",
    "xml.etree.ElementTree (stdlib)": "import xml.etree.ElementTree",
    "libcheck.samples": "import libcheck.samples",
    "libcheck.runtime (all shared modules)": "import libcheck.runtime",
}


def ladder_programs(row: Row) -> dict[str, list[str]]:
    """Each stage's command line; every stage adds one thing to the one before."""
    python = row.argv["floor"][0]
    framework = baselines.framework(row.calls, row.xml_parsers)
    imports = (f"{framework}\nfrom libcheck import commands, runtime\n"
               f"from {by_name(row.check).module} import CHECK")
    options = row.argv["check"][2:]
    parse = f"{imports}\nruntime.Run(CHECK)._parse({options!r})"
    return {"floor": row.argv["floor"], "bare": row.argv["bare"],
            "framework": row.argv["framework"], "+ libcheck imports": [python, "-c", imports],
            "+ parser built, options parsed": [python, "-c", parse],
            "whole check": row.argv["check"]}


def round_robin(programs: dict[str, list[str]], runs: int,
                runner: Runner) -> dict[str, list[Sample]]:
    """`runs` rounds over every program."""
    samples: dict[str, list[Sample]] = {name: [] for name in programs}
    for _ in range(runs):
        for name, argv in programs.items():
            samples[name].append(runner.run(argv))
    return samples


def _median(samples: Sequence[Sample], metric: str) -> float:
    return Summary.of([getattr(s, metric) for s in samples]).median


def ladder_lines(check: str, samples: dict[str, list[Sample]]) -> list[str]:
    """The ladder as a table with each stage's added cost."""
    lines = [f"ladder: check_vm_{check} on test:///default (medians; + = added by the stage)",
             f"  {'stage':<32} {'wall ms':>8} {'+wall':>7} {'CPU ms':>7} {'+CPU':>6} "
             f"{'RSS MiB':>8} {'+RSS':>6}"]
    previous = None
    for name, runs in samples.items():
        now = [_median(runs, metric) for metric in ("wall_ms", "cpu_ms", "rss_mib")]
        added = [f"{a - b:+.1f}" for a, b in zip(now, previous)] if previous else ["", "", ""]
        lines.append(f"  {name:<32} {now[0]:8.1f} {added[0]:>7} {now[1]:7.1f} "
                     f"{added[1]:>6} {now[2]:8.2f} {added[2]:>6}")
        previous = now
    return lines


def importtime(argv: Sequence[str], env: dict[str, str]) -> dict[str, tuple[int, int, str]]:
    """Module -> (self us, cumulative us, importer) from one -X importtime run."""
    done = subprocess.run([argv[0], "-X", "importtime", *argv[1:]], env=env,
                          capture_output=True, text=True, check=False)
    entries = []
    for line in done.stderr.splitlines():
        if line.startswith("import time:") and "self [us]" not in line:
            self_us, cumulative, name = line.split(":", 1)[1].split("|")
            depth = (len(name) - len(name.lstrip())) // 2
            entries.append((name.strip(), int(self_us), int(cumulative), depth))
    return {name: (self_us, cumulative, _importer(entries, index))
            for index, (name, self_us, cumulative, _d) in enumerate(entries)}


def _importer(entries: list, index: int) -> str:
    # -X importtime prints a module after the modules it imported, one level deeper.
    depth = entries[index][3]
    for name, _s, _c, other in entries[index + 1:]:
        if other < depth:
            return name
    return "(main)"


def import_lines(row: Row, env: dict[str, str], repeats: int = 5) -> list[str]:
    """Modules the check imports beyond the framework baseline, by median self time."""
    check_runs = [importtime(row.argv["check"], env) for _ in range(repeats)]
    framework = importtime(row.argv["framework"], env)
    extra = sorted(set(check_runs[0]) - set(framework))
    rows = [(statistics.median(run.get(name, (0, 0, ""))[0] for run in check_runs) / 1000,
             name, check_runs[0][name][2]) for name in extra]
    rows.sort(reverse=True)
    total = sum(ms for ms, _n, _i in rows)
    lines = [f"imports beyond the framework baseline: check_vm_{row.check}, {len(rows)} "
             f"modules, {total:.1f} ms self time in all (-X importtime, median of {repeats})"]
    lines += [f"  {ms:6.2f} ms  {name:<28} imported by {importer}" for ms, name, importer in rows]
    return lines


def profile_lines(row: Row, top: int = 18) -> list[str]:
    """cProfile of one steady-state run, after the check's modules are imported."""
    from libcheck import commands
    __import__(by_name(row.check).module)
    sys.argv = [f"check_vm_{row.check}", *row.argv["check"][2:]]
    profiler, output = cProfile.Profile(), io.StringIO()
    stdout, sys.stdout = sys.stdout, io.StringIO()
    try:
        profiler.runcall(_run_quietly, getattr(commands, f"check_vm_{row.check}"))
    finally:
        sys.stdout = stdout
    stats = pstats.Stats(profiler, stream=output)
    stats.sort_stats("cumulative").print_stats(top)
    text = [line for line in output.getvalue().splitlines() if line.strip()]
    return [f"run phase (cProfile, imports of libcheck already done): check_vm_{row.check}",
            *("  " + line for line in text[2:])]


def _run_quietly(function) -> None:
    # The check's reporter holds the real sys.stdout: silence file descriptor 1.
    saved, null = os.dup(1), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 1)
    try:
        with contextlib.suppress(SystemExit):
            function()
    finally:
        os.dup2(saved, 1)
        os.close(saved)
        os.close(null)


def _in_process_ms(python: str, env: dict[str, str], code: str, runs: int) -> float:
    """Median of `runs` fresh processes' own timing of `code` after BASE."""
    program = (f"{BASE}\nimport time\nstarted = time.perf_counter()\n{code}\n"
               "print((time.perf_counter() - started) * 1000)")
    times = [float(subprocess.run([python, "-c", program], env=env, capture_output=True,
                                  text=True, check=True).stdout) for _ in range(runs)]
    return statistics.median(times)


def candidate_lines(python: str, env: dict[str, str], runner: Runner, runs: int) -> list[str]:
    """Cost of single imports on top of libvirt + nagiosplugin: time in-process, RSS whole."""
    programs = {"base": [python, "-c", BASE]}
    programs.update({name: [python, "-c", f"{BASE}\n{code}"] for name, code in
                     CANDIDATES.items()})
    samples = round_robin(programs, max(runs // 4, 3), runner)
    base_rss = _median(samples["base"], "rss_mib")
    lines = [f"single imports after `{BASE}` (import time measured inside the process, "
             f"median of {runs}; peak RSS added, whole process)",
             f"  {'import':<40} {'ms':>6} {'+RSS MiB':>8}"]
    for name, code in CANDIDATES.items():
        lines.append(f"  {name:<40} {_in_process_ms(python, env, code, runs):6.1f} "
                     f"{_median(samples[name], 'rss_mib') - base_rss:8.2f}")
    return lines


DATACLASS_PROBE = """\
import time, dataclasses
spent = [0.0, 0]
original = dataclasses._process_class
def timed(*args, **kwargs):
    started = time.perf_counter()
    try:
        return original(*args, **kwargs)
    finally:
        spent[0] += time.perf_counter() - started
        spent[1] += 1
dataclasses._process_class = timed
started = time.perf_counter()
import libcheck.commands, libcheck.runtime, {module}
total = time.perf_counter() - started
print(spent[0] * 1000, spent[1], total * 1000)
"""


def dataclass_lines(row: Row, env: dict[str, str], runs: int) -> list[str]:
    """Time spent creating @dataclass classes while the check's modules import."""
    program = BASE + "\n" + DATACLASS_PROBE.format(module=by_name(row.check).module)
    results = [subprocess.run([row.argv["floor"][0], "-c", program], env=env,
                              capture_output=True, text=True, check=True).stdout.split()
               for _ in range(runs)]
    spent = statistics.median(float(r[0]) for r in results)
    total = statistics.median(float(r[2]) for r in results)
    return [f"dataclass creation: check_vm_{row.check} imports {results[0][1]} @dataclass "
            f"classes; creating them takes {spent:.1f} ms of the {total:.1f} ms its libcheck "
            f"modules take to import (after libvirt and nagiosplugin; medians of {runs})"]


MODULE_FILES = """\
import sys, libcheck.commands, {module}
print("\\n".join(m.__file__ for n, m in sys.modules.items() if n.startswith("libcheck")))
"""


def bytecode_lines(row: Row, env: dict[str, str], repeats: int = 5) -> list[str]:
    """What a run pays when no .pyc of libcheck can be found or written: compiling it."""
    listing = subprocess.run([row.argv["floor"][0], "-c",
                              MODULE_FILES.format(module=by_name(row.check).module)],
                             env=env, capture_output=True, text=True, check=True).stdout
    sources = [(path, Path(path).read_text()) for path in listing.split()]
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        for path, text in sources:
            compile(text, path, "exec")
        times.append((time.perf_counter() - started) * 1000)
    lines = sum(text.count("\n") for _p, text in sources)
    return [f"bytecode: check_vm_{row.check} imports {len(sources)} libcheck modules "
            f"({lines} lines); compiling them takes {statistics.median(times):.1f} ms, paid "
            "by every run that finds no .pyc (e.g. PYTHONDONTWRITEBYTECODE, or a user who "
            "cannot write libcheck/__pycache__)"]


def profile_check(check: str, scratch: Path, runs: int) -> list[str]:
    """Every view for one check."""
    env = child_env(scratch)
    row = Row(check, DEFAULT, scratch / "state" / check)
    prepare(row, sys.executable, env)
    runner = Runner(scratch, env)
    say(f"profiling check_vm_{check}")
    lines = ladder_lines(check, round_robin(ladder_programs(row), runs, runner))
    lines += ["", *import_lines(row, env)]
    lines += ["", *dataclass_lines(row, env, runs)]
    os.environ.update({"PYTHONPYCACHEPREFIX": env["PYTHONPYCACHEPREFIX"]})
    lines += ["", *profile_lines(row)]
    lines += ["", *bytecode_lines(row, env)]
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    """Profile the asked-for checks and the candidate imports."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--checks", default="cpu,mem")
    parser.add_argument("--output", type=Path, default=REPO / "bench" / "profiling" / "profile.txt")
    options = parser.parse_args(argv)
    lines = []
    with tempfile.TemporaryDirectory(prefix="check_vm-profile-") as where:
        scratch = Path(where)
        for check in options.checks.split(","):
            lines += [*profile_check(check, scratch, options.runs), ""]
        say("single imports")
        env = child_env(scratch)
        lines += candidate_lines(sys.executable, env, Runner(scratch, env), options.runs)
    text = "\n".join(lines) + "\n"
    print(text, end="")
    options.output.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
