"""A daemon of the tier: started in the foreground in a session of its own, stopped by PID.

Each daemon gets a clean environment (Debian's PATH, no PYTHONPATH or
INFLUXDB_* of the caller's), its configuration and every file it writes under
one directory, and its output in `<root>/<name>.out`. Whatever it listens on
is read from /proc for the processes of its session, so a test can hold it
to loopback, and can see that none of them is left after stop().
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from pathlib import Path
from typing import Optional

from harness.icinga.environment import stop_session
from harness.polling import poll

SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
START_TIMEOUT = 30
STOP_TIMEOUT = 15
# /proc/net/<protocol>: the state of a socket that waits for peers.
WAITING_STATES = {"tcp": "0A", "tcp6": "0A", "udp": "07", "udp6": "07"}


def clean_environment(**extra: str) -> dict[str, str]:
    """What a daemon sees besides its own settings: a system PATH and a UTF-8 locale."""
    return {"PATH": SYSTEM_PATH, "LANG": "C.UTF-8", **extra}


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports on 127.0.0.1 that were free a moment ago."""
    with contextlib.ExitStack() as probes:
        ports = []
        for _ in range(count):
            probe = probes.enter_context(socket.socket())
            probe.bind(("127.0.0.1", 0))
            ports.append(probe.getsockname()[1])
        return ports


def port_answers(port: int) -> bool:
    """Whether a TCP connection to 127.0.0.1:port is accepted."""
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
        return True
    return False


def _stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command name: state, ppid, pgrp, session..."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return text[text.rindex(")") + 2:].split()


def alive(pid: int) -> bool:
    """Whether `pid` is a process that is neither gone nor a zombie."""
    try:
        return _stat_fields(pid)[0] != "Z"
    except (OSError, ValueError):
        return False


def parent_pid(pid: int) -> Optional[int]:
    """The parent of `pid`, or None when it is gone."""
    try:
        return int(_stat_fields(pid)[1])
    except (OSError, ValueError, IndexError):
        return None


def session_pids(session: int) -> set[int]:
    """The living processes of session `session`."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                fields = _stat_fields(int(entry.name))
                if fields[0] != "Z" and int(fields[3]) == session:
                    pids.add(int(entry.name))
    return pids


def _socket_inodes(pids: set[int]) -> set[str]:
    inodes = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[len("socket:["):-1])
    return inodes


def _address(hex_address: str) -> tuple[str, int]:
    """/proc/net's `0100007F:1F90` as ('127.0.0.1', 8080); IPv6 alike."""
    host, port = hex_address.split(":")
    raw = bytes.fromhex(host)
    # The kernel prints the address as 32-bit words in host (little-endian) order.
    raw = b"".join(raw[index:index + 4][::-1] for index in range(0, len(raw), 4))
    family = socket.AF_INET if len(raw) == 4 else socket.AF_INET6
    return socket.inet_ntop(family, raw), int(port, 16)


def waiting_sockets(pids: set[int]) -> set[tuple[str, str, int]]:
    """(protocol, address, port) of every listening TCP or bound UDP socket of `pids`."""
    inodes = _socket_inodes(pids)
    found = set()
    for protocol, state in WAITING_STATES.items():
        lines = Path(f"/proc/net/{protocol}").read_text().splitlines()[1:]
        for fields in (line.split() for line in lines):
            if fields[3] == state and fields[9] in inodes:
                found.add((protocol, *_address(fields[1])))
    return found


class DaemonFailed(RuntimeError):
    """A daemon exited or did not become ready in time; the message holds its output."""


class Daemon:
    """One daemon in the foreground under `root`; subclasses say how to run it."""

    name = "daemon"

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.process: Optional[subprocess.Popen] = None
        self.session: Optional[int] = None

    # What a subclass provides.
    def prepare(self) -> None:
        """Write the configuration and create the directories, before the start."""

    def command(self) -> list[str]:
        raise NotImplementedError

    def environment(self) -> dict[str, str]:
        return clean_environment()

    def ready(self) -> bool:
        raise NotImplementedError

    # The life of the daemon.
    @property
    def output_path(self) -> Path:
        return self.root / f"{self.name}.out"

    @property
    def pid(self) -> Optional[int]:
        return self.process.pid if self.process else None

    def start(self, timeout: float = START_TIMEOUT) -> Daemon:
        """Prepare, start, and wait (bounded) until ready() answers."""
        self.prepare()
        with self.output_path.open("ab") as output:
            self.process = subprocess.Popen(
                self.command(), stdin=subprocess.DEVNULL, stdout=output,
                stderr=subprocess.STDOUT, cwd=self.root, env=self.environment(),
                start_new_session=True)
        self.session = self.process.pid
        if not poll(self._ready_or_exited, timeout):
            self.stop()
            raise DaemonFailed(f"{self.name} did not get ready within {timeout} s:\n"
                               + self.output_tail())
        if self.process.poll() is not None:
            code = self.process.returncode
            self.stop()
            raise DaemonFailed(f"{self.name} exited with {code}:\n" + self.output_tail())
        return self

    def _ready_or_exited(self) -> bool:
        return self.process.poll() is not None or self.ready()

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """SIGTERM to the main process, SIGKILL to what is left of its group."""
        process, self.process = self.process, None
        if process is not None:
            stop_session(process, timeout)

    def pids(self) -> set[int]:
        """The living processes of the daemon's session (none once stopped)."""
        return session_pids(self.session) if self.session else set()

    def sockets(self) -> set[tuple[str, str, int]]:
        """Every socket the daemon's processes listen on: (protocol, address, port)."""
        return waiting_sockets(self.pids())

    def output_tail(self, lines: int = 30) -> str:
        text = self.output_path.read_text(errors="replace") if self.output_path.exists() else ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> Daemon:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
