"""Many runs of one check executable for the price of one interpreter start.

A batch is one Python process that imports the library once, then forks a
child per case: each case still has a process of its own, with its own exit
code, standard output and standard error, and runs the executable's own entry
point (`libcheck.commands.run`) with `sys.argv` set, as the launcher does. A
watchdog's `os._exit` or a hang ends only that child.

Cases travel to the batch as JSON, which carries the lone surrogates Python
makes of argv bytes that are not UTF-8 (os.fsencode gives the bytes back), so
a case holds exactly what the executable would get from such a command line.

Run the module itself only through `run_batch`.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import traceback
from pathlib import Path

from harness.checkrun import CheckRun
from harness.paths import REPO


def run_batch(executable: str, cases: list[list[str]], state_dir: Path | None,
              timeout: float = 300) -> list[CheckRun]:
    """Run `executable` once per case (its arguments after `--state-dir state_dir`,
    unless that is None), each in a child process of one batch; the runs in the
    order of `cases`."""
    state = ["--state-dir", str(state_dir)] if state_dir is not None else []
    with tempfile.TemporaryDirectory(prefix="check_vm-batch-") as scratch:
        work = Path(scratch)
        (work / "cases.json").write_text(json.dumps([[*state, *case] for case in cases]))
        environment = {**os.environ, "COLUMNS": "100",
                       "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])}
        completed = subprocess.run(
            [sys.executable, "-m", "harness.batchrun", executable, str(work)],
            capture_output=True, text=True, timeout=timeout, env=environment, check=False)
        assert completed.returncode == 0, completed.stderr
        results = json.loads((work / "results.json").read_text())
    return [CheckRun(*result) for result in results]


# -- inside the batch ----------------------------------------------------------------

def _serve(executable: str, work: Path) -> None:
    from libcheck import commands  # noqa: F401 (imported once, before the forks)

    cases = json.loads((work / "cases.json").read_text())
    cwd = work / "cwd"  # where a relative --state-dir lands
    cwd.mkdir()
    os.chdir(cwd)
    results = [_run_case(executable, argv, work) for argv in cases]
    (work / "results.json").write_text(json.dumps(results))


def _run_case(executable: str, argv: list[str], work: Path) -> tuple[int, str, str]:
    out, err = work / "stdout", work / "stderr"
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        _child(executable, argv, out, err)
    _, status = os.waitpid(pid, 0)
    return (os.waitstatus_to_exitcode(status),
            out.read_text(errors="backslashreplace"), err.read_text(errors="backslashreplace"))


def _child(executable: str, argv: list[str], out: Path, err: Path) -> None:
    """Run the entry point as the interpreter would run the launcher, then leave."""
    code = 1
    try:
        for descriptor, path in ((1, out), (2, err)):
            opened = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            os.dup2(opened, descriptor)
            os.close(opened)
        from libcheck import commands

        sys.argv = [executable, *argv]
        commands.run(executable)
    except SystemExit as exited:
        code = commands.exit_status(exited.code)
    except BaseException:  # what the interpreter prints for an uncaught exception
        traceback.print_exc()
    finally:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # a stream the case broke
                stream.flush()
        os._exit(code)


if __name__ == "__main__":
    _serve(sys.argv[1], Path(sys.argv[2]))
