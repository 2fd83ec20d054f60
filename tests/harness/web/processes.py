"""What the stack leaves on the machine: listening sockets and living processes.

A snapshot taken before the stack starts says what listened already (the
machine's own services) and which processes ran; afterwards, what the stack's
processes (the sessions of its daemons, and any Chromium or chromedriver
started since) listen on beyond loopback, and which of them are still alive.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path

from harness.graphs.process import alive, session_pids, waiting_sockets

BROWSER_NAMES = frozenset({"chromium", "chrome", "chromedriver"})


def listening_now() -> set[tuple[str, str, int]]:
    """(protocol, address, port) of every listening TCP and bound UDP socket of any process."""
    return waiting_sockets(process_ids())


def process_ids() -> set[int]:
    return {int(entry.name) for entry in Path("/proc").iterdir() if entry.name.isdigit()}


def command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def loopback(address: str) -> bool:
    return ipaddress.ip_address(address.split("%")[0]).is_loopback


def describe(pid: int) -> str:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        cmdline = ""
    return f"{pid} {command_name(pid)}: {cmdline.strip()[:200]}"


@dataclass
class Snapshot:
    """The machine before the stack: its listening sockets and its processes."""

    sockets: set[tuple[str, str, int]] = field(default_factory=listening_now)
    pids: set[int] = field(default_factory=process_ids)

    def new_browsers(self) -> set[int]:
        """Living Chromium and chromedriver processes that were not there before."""
        return {pid for pid in process_ids() - self.pids
                if command_name(pid) in BROWSER_NAMES and alive(pid)}

    def stack_pids(self, sessions: set[int]) -> set[int]:
        """The living processes of `sessions` and the new browsers."""
        pids = set().union(*(session_pids(session) for session in sessions))
        return pids | self.new_browsers()

    def beyond_loopback(self, sessions: set[int]) -> list[str]:
        """'protocol address:port' that the stack's processes wait on beyond loopback,
        or that is new since the snapshot and not on loopback."""
        mine = waiting_sockets(self.stack_pids(sessions))
        new = listening_now() - self.sockets
        return sorted(f"{protocol} {address}:{port}" for protocol, address, port in mine | new
                      if not loopback(address))

    def left_running(self, sessions: set[int]) -> list[str]:
        """The stack's processes still alive: 'PID name: command line'."""
        return [describe(pid) for pid in sorted(self.stack_pids(sessions))]
