"""Helpers of the host snapshot's tests: custom test nodes, and the snapshot as
the tests read it from outside (its directory, generations, parts, modes).

The snapshot's directory is found by the URI its index names, and a domain's
part by the store's own `lookup_keys`, so these helpers pin what the store
documents (one directory per URI, `current`, `g-<n>`, one file per key) and
not how it hashes.
"""

from __future__ import annotations

import json
import math
import os
import stat
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path
from typing import Optional

from harness.checkrun import CheckRun
from harness.paths import CHECKS as CHECKS_DIR
from harness.testnode import domain_xml, node_xml
from libcheck.hostsnapshot import SNAPSHOT_FORMAT, lookup_keys


def domain_name(index: int) -> str:
    return f"vm-{index:05d}"


def domain_uuid(index: int) -> str:
    return str(uuid.UUID(int=index + 1))


def write_node(path: Path, count: int) -> str:
    """Write (or rewrite) a test node of `count` domains at `path`; its URI."""
    domains = [domain_xml(domain_name(i), domain_uuid(i),
                          f"52:54:00:{(i >> 16) & 0xFF:02x}:{(i >> 8) & 0xFF:02x}:{i & 0xFF:02x}",
                          f"eth{i}")
               for i in range(count)]
    path.write_text(node_xml(domains))
    return f"test://{path}"


# -- the snapshot, from outside -----------------------------------------------------------

def snapshot_dirs(state_dir: Path) -> list[Path]:
    """Every snapshot directory (or whatever holds such a name) in the state dir."""
    if not state_dir.exists():
        return []
    return sorted(path for path in state_dir.iterdir()
                  if path.name.startswith("hostsnap-") and not path.name.endswith(".lock"))


def read_index(top: Path) -> Optional[dict]:
    try:
        return json.loads((top / "current").read_bytes())
    except (OSError, ValueError):
        return None


def snapshot_dir(state_dir: Path, uri: str) -> Path:
    """The one snapshot directory whose index names `uri`."""
    matching = [top for top in snapshot_dirs(state_dir)
                if (read_index(top) or {}).get("uri") == uri]
    assert len(matching) == 1, (uri, snapshot_dirs(state_dir))
    return matching[0]


def generation(top: Path) -> int:
    """The generation `current` names (0: no index)."""
    index = read_index(top)
    return index["generation"] if index else 0


def current_dir(top: Path) -> Path:
    return top / f"g-{generation(top)}"


def part_path(top: Path, reference: str) -> Path:
    """The file a name, UUID or ID is found under in the current generation
    (the first of the store's keys that exists)."""
    directory = current_dir(top)
    for key in lookup_keys(reference):
        if (directory / key).exists():
            return directory / key
    raise AssertionError(f"no part of {reference} in {directory}")


def read_part(top: Path, reference: str) -> dict:
    return json.loads(part_path(top, reference).read_bytes())


def assert_complete(directory: Path, uri: str, domains: int) -> None:
    """A whole generation: one part per domain, each of our format and URI,
    its name and ID links, and the device list."""
    names = [entry.name for entry in directory.iterdir()]
    parts = [name for name in names if name.startswith("u-")]
    assert len(parts) == domains, (directory, len(parts))
    assert len([name for name in names if name.startswith("n-")]) == domains
    assert "devices" in names
    for name in parts:
        document = json.loads((directory / name).read_bytes())
        assert (document["format"], document["uri"]) == (SNAPSHOT_FORMAT, uri), name


def assert_private(state_dir: Path) -> int:
    """Every snapshot directory 0700 and file 0600, all of the running user's;
    returns how many entries were looked at."""
    seen = 0
    for top in snapshot_dirs(state_dir):
        lock = top.with_name(top.name + ".lock")
        for path in [top, lock, *top.rglob("*")]:
            info = path.lstat()
            expected = 0o700 if stat.S_ISDIR(info.st_mode) else 0o600
            assert stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode), path
            assert stat.S_IMODE(info.st_mode) == expected, (path, oct(info.st_mode))
            assert info.st_uid == os.geteuid(), path
            seen += 1
    return seen


def tree(path: Path) -> dict[str, tuple[int, int, bytes]]:
    """A directory's files with their mode, mtime and content: to show it untouched."""
    return {str(entry.relative_to(path)): (entry.lstat().st_mode, entry.lstat().st_mtime_ns,
                                           entry.read_bytes() if entry.is_file() else b"")
            for entry in sorted(path.rglob("*"))}


# -- runs -----------------------------------------------------------------------------------

def check_command(check: str, uri: str, domain: str, state_dir: Path, *extra: str) -> list[str]:
    mem = ["--balloon-max-age", "0"] if check == "check_vm_mem" else []
    return [sys.executable, str(CHECKS_DIR / check), "--connect", uri, "-d", domain,
            "--state-dir", str(state_dir), *mem, *extra]


# Runs a check once the test lets every run go: the interpreter's start and the
# library's import (what a loaded machine spreads over seconds) come before.
_AT_THE_GATE = """
import os, runpy, sys
ready, gate, script = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
sys.argv = sys.argv[3:]
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.realpath(script))))
import libcheck.commands, libcheck.runtime
os.write(ready, b"r")
os.close(ready)
os.read(gate, 1)
os.close(gate)
runpy.run_path(script, run_name="__main__")
"""


def run_together(commands: list[list[str]], timeout: float = 60) -> list[CheckRun]:
    """Start every command, each `[python, check, args...]`, and let them run at
    one moment once all are up; what each printed and returned."""
    return [run for run, _seconds in run_together_timed(commands, timeout)]


def run_together_timed(commands: list[list[str]],
                       timeout: float = 60) -> list[tuple[CheckRun, float]]:
    """As run_together; with each run, the seconds from the moment the runs
    were let go to its end, on the test's own clock."""
    return run_in_waves([commands], 0.0, timeout)[0]


def run_in_waves(waves: list[list[list[str]]], gap: float,
                 timeout: float = 60) -> list[list[tuple[CheckRun, float]]]:
    """Start every command of every wave and, once all are up, let the waves
    run one after another, `gap` seconds apart; by wave, each run with the
    seconds from the moment its wave was let go to its end."""
    ready_read, ready_write = os.pipe()
    gates = [os.pipe() for _wave in waves]
    ends: list[list[_End]] = []
    try:
        try:
            for wave, (gate_read, _gate_write) in zip(waves, gates):
                ends.append([_End(_at_the_gate(command, ready_write, gate_read), timeout)
                             for command in wave])
        finally:
            # Only the runs hold these ends now: a run that ends early closes its own.
            os.close(ready_write)
            for gate_read, _gate_write in gates:
                os.close(gate_read)
        arrived, expected = 0, sum(map(len, waves))
        while arrived < expected and os.read(ready_read, 1):
            arrived += 1
    finally:
        let_go = []
        for number, (_gate_read, gate_write) in enumerate(gates):
            if number:
                time.sleep(gap)
            let_go.append(time.monotonic())
            os.close(gate_write)  # every run of the wave reads the gate's end at once
        os.close(ready_read)
    return [[end.timed(moment) for end in wave] for wave, moment in zip(ends, let_go)]


def _at_the_gate(command: list[str], ready: int, gate: int) -> subprocess.Popen:
    return subprocess.Popen([command[0], "-c", _AT_THE_GATE, str(ready), str(gate), *command[1:]],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            pass_fds=(ready, gate))


class _End:
    """A run's output and the moment it ended, taken by a thread of its own
    from its start: every end is timed as it comes."""

    def __init__(self, process: subprocess.Popen, timeout: float) -> None:
        self._process = process
        self._timeout = timeout
        self._run = CheckRun(-1, "", "")
        self._moment = math.inf
        self._thread = threading.Thread(target=self._wait, daemon=True)
        self._thread.start()

    def _wait(self) -> None:
        stdout, stderr = self._process.communicate()
        self._moment = time.monotonic()
        self._run = CheckRun(self._process.returncode, stdout, stderr)

    def timed(self, let_go: float) -> tuple[CheckRun, float]:
        """The run, and the seconds from `let_go` to its end; a run still going
        `timeout` seconds after `let_go` is killed and never ended (infinity)."""
        self._thread.join(max(0.0, let_go + self._timeout - time.monotonic()))
        if self._thread.is_alive():
            self._process.kill()
            self._thread.join()
            return self._run, math.inf
        return self._run, self._moment - let_go


def poisoned_path(directory: Path) -> Path:
    """A directory whose `libvirt` and `lxml` fail on import."""
    poison = 'raise ImportError("poisoned")\n'
    (directory / "lxml").mkdir(parents=True)
    (directory / "libvirt.py").write_text(poison)
    (directory / "lxml" / "__init__.py").write_text(poison)
    return directory


def poisoned_env(directory: Path) -> dict[str, str]:
    existing = os.environ.get("PYTHONPATH")
    return {"PYTHONPATH": os.pathsep.join(filter(None, [str(directory), existing]))}
