"""Helpers of the fault matrix (tests/faults), shared by its modules.

Every case runs the real executables and checks the same four things: the
exit code, one clear line naming the problem (no traceback), the time it
took, and that the state files are still whole afterwards.
"""

from __future__ import annotations

import json
import os
import socket
import threading
import time
from pathlib import Path

import pytest
from checkrun import CheckRun, run_check

CHECKS = {"check_vm_cpu": "VM_CPU", "check_vm_mem": "VM_MEM",
          "check_vm_disk_io": "VM_DISK_IO", "check_vm_nic": "VM_NIC"}
STATE_FORMAT = "check_vm-state/1"


class TimedRun:
    """A check run and how long it took."""

    def __init__(self, run: CheckRun, seconds: float) -> None:
        self.run = run
        self.seconds = seconds


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
