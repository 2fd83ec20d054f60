"""Helpers of the fault matrix (tests/faults), shared by its modules.

Every case runs the real executables and checks the same four things: the
exit code, one clear line naming the problem (no traceback), the time it
took, and that the state files are still whole afterwards.

A stepped wall clock comes from libfaketime, which moves the clock a whole
process reads; libvirt's test driver derives its counters from that same
clock, so it steps with it.  Clock cases therefore also run the check against
a VM whose CPU time follows the boot-time clock, which libfaketime leaves
alone, as a real guest's does: `boot_clock_vm_check`.
"""

from __future__ import annotations

import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from harness.checknames import TITLES
from harness.checkrun import CheckRun, run_check
from harness.paths import REPO

# Every registered check: executable -> its status line's title.
CHECKS = TITLES
STATE_FORMAT = "check_vm-state/1"
FAKETIME_LIBRARY = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")
# The boot-clock VM: two vCPUs, one CPU-second of work per second, steadily.
BOOT_CLOCK_VM_CPUS = 1.0
BOOT_CLOCK_VM_VCPUS = 2


class TimedRun:
    """A check run and how long it took."""

    def __init__(self, run: CheckRun, seconds: float) -> None:
        self.run = run
        self.seconds = seconds


def measured_without_the_baseline(stdout: str, why: str) -> bool:
    """Whether the run refused its stored baseline for `why` (or a reason that
    begins so) and measured within itself or, when the host snapshot's two
    newest generations lie far enough apart, between them."""
    return any(f"{basis} ({why}" in stdout
               for basis in ("within this run", "between the two newest host snapshots"))


def timed_check(check: str, *args: str, state_dir: Path, **kwargs) -> TimedRun:
    started = time.monotonic()
    run = run_check(check, *args, state_dir=state_dir, **kwargs)
    return TimedRun(run, time.monotonic() - started)


def assert_one_line(run: CheckRun, check: str, state: str, *fragments: str) -> None:
    """Exactly one line, of the given state, naming the problem; no traceback."""
    assert run.stdout.count("\n") == 1, run.stdout
    assert run.stdout.startswith(f"{CHECKS[check]} {state} - "), run.stdout
    assert "Traceback" not in run.stdout + run.stderr
    assert run.stderr == "", run.stderr
    for fragment in fragments:
        assert fragment in run.stdout, (fragment, run.stdout)


def assert_state_valid(state_dir: Path) -> list[dict]:
    """Every state file parses, has our format and a bounded history."""
    documents = []
    if not state_dir.exists():
        return documents
    for path in state_dir.glob("*.json"):
        document = json.loads(path.read_bytes())
        assert document["format"] == STATE_FORMAT, path
        assert 1 <= len(document["snapshots"]) <= 3, path
        for snapshot in document["snapshots"]:
            assert isinstance(snapshot["wall_time"], float)
            assert isinstance(snapshot["boot_time"], float)
            assert isinstance(snapshot["boot_id"], str)
        documents.append(document)
    return documents


class SilentServer:
    """A unix socket that accepts connections and never answers (a hung libvirtd)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self._socket.bind(str(path))
        self._socket.listen(16)
        self._clients: list[socket.socket] = []
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._socket.accept()
            except OSError:
                return
            self._clients.append(client)  # held open, never read or answered

    def close(self) -> None:
        for client in self._clients:
            client.close()
        self._socket.close()


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (CI runs as root)")


# -- clocks ------------------------------------------------------------------------------

def faketime_library() -> Path:
    """libfaketime, installed from Debian's `faketime` package when missing."""
    if not FAKETIME_LIBRARY.exists():
        from harness.vm.host import CommandFailed, TierUnavailable, ensure_packages
        try:
            ensure_packages(("faketime",))
        except (TierUnavailable, CommandFailed) as problem:
            pytest.fail(f"libfaketime is needed to step the clock: {problem}")
    return FAKETIME_LIBRARY


def stepped_clock(library: Path, seconds: float) -> dict[str, str]:
    """The environment that shows a process a wall clock `seconds` off (negative:
    back), with its monotonic and boot-time clocks left as they are."""
    return {"LD_PRELOAD": str(library), "FAKETIME": f"{seconds:+g}s",
            "DONT_FAKE_MONOTONIC": "1"}


def boot_clock_vm_check(*args: str, state_dir: Path, earlier: float = 0.0,
                        env: dict | None = None) -> TimedRun:
    """check_vm_cpu's real runtime, inspector and state store, in a process of its
    own, against a VM whose CPU time follows the boot-time clock.

    The libvirt side is the unit tier's fake connection: the test driver's
    counters step with a faked wall clock, and a real guest needs the realvm
    tier's daemon.  `earlier` runs the check
    as if it ran that many seconds ago: every clock it reads, the VM's
    included, is set back; with 0 it reads the production clocks.
    """
    command = [sys.executable, "-c", "from harness import faultkit; faultkit.boot_clock_vm_main()",
               str(earlier), "-d", "vm1", "--connect", "fake:///system",
               "--state-dir", str(state_dir), *args]
    environment = {**os.environ, "COLUMNS": "100",
                   "PYTHONPATH": os.pathsep.join([str(REPO / "tests"), str(REPO)]), **(env or {})}
    started = time.monotonic()
    completed = subprocess.run(command, capture_output=True, text=True, timeout=30,
                               env=environment, check=False)
    return TimedRun(CheckRun(completed.returncode, completed.stdout, completed.stderr),
                    time.monotonic() - started)


def boot_clock_vm_main() -> None:
    """The process `boot_clock_vm_check` starts: argv is `earlier`, then the options."""
    from harness.fakes import NS, FakeConnection, FakeDomain
    from libcheck.clocks import Clocks
    from libcheck.cpu import CHECK
    from libcheck.inspector import Inspector
    from libcheck.runtime import Run

    earlier, argv = float(sys.argv[1]), sys.argv[2:]

    def boot_clock() -> float:
        return time.clock_gettime(time.CLOCK_BOOTTIME) - earlier

    def stats() -> dict:
        return {"state.state": 1, "state.reason": 1, "vcpu.current": BOOT_CLOCK_VM_VCPUS,
                "vcpu.maximum": BOOT_CLOCK_VM_VCPUS,
                "cpu.time": int(boot_clock() * BOOT_CLOCK_VM_CPUS * NS)}

    clocks = Clocks(lambda: time.time() - earlier, boot_clock) if earlier else Clocks()
    connection = FakeConnection([FakeDomain()], stats=stats)
    sys.exit(Run(CHECK, open_inspector=lambda uri: Inspector(
        connection, uri, clock=clocks.wall, boot_time=clocks.boot_time),
                 sleep=_pause, clocks=clocks)(argv))


def _pause(seconds: float) -> None:
    # time.sleep waits for an absolute time on CLOCK_MONOTONIC, which libfaketime
    # 0.9.10 with DONT_FAKE_MONOTONIC shifts anyway: EINVAL (wolfcw/libfaketime#426).
    # select waits for a relative time on that same clock, which it leaves alone.
    select.select([], [], [], seconds)


def steady_usage_bounds(timed: TimedRun, pause: float, cpus: float, vcpus: int
                        ) -> tuple[float, float]:
    """The CPU usage (%) a run that measured within itself can report for a VM
    that uses `cpus` CPUs steadily, from the test's own timing of the run.

    Both samples, each a counter read between two clock readings, and the pause
    between them fit in the run as the test timed it; so the work the counter
    saw spans the measured interval give or take what of the run is not the
    pause, and that interval is at least the pause.
    """
    slack = max(timed.seconds - pause, 0.0)
    true_usage = 100.0 * cpus / vcpus
    return true_usage * (1 - slack / pause), true_usage * (1 + slack / pause)
