"""Count the libvirt RPCs a process makes, from the client library's debug log.

libvirt's RPC client logs every message it queues with the probe line
`RPC_CLIENT_MSG_TX_QUEUE: ... prog=P vers=V proc=N type=T ...` when run with
LIBVIRT_LOG_FILTERS="1:rpc" and a log output. A call is type=0 of the remote
program (0x20008086); keepalive pings belong to another program and are left
out. Opening a connection costs a fixed handful of calls (auth list, open,
feature probes) and closing one more: those are measured by a process that only
opens and closes, and taken off, so what remains is what the check itself asks.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path
from typing import NamedTuple, Sequence

REMOTE_PROGRAM = 0x20008086
_TX = re.compile(r"RPC_CLIENT_MSG_TX_QUEUE: .*?prog=(\d+) .*?proc=(\d+) type=(\d+)")
# remote_protocol.x numbers of the procedures these processes use (for display).
PROCEDURES = {
    1: "CONNECT_OPEN", 2: "CONNECT_CLOSE", 14: "DOMAIN_GET_XML_DESC",
    16: "DOMAIN_GET_INFO", 22: "DOMAIN_LOOKUP_BY_ID", 23: "DOMAIN_LOOKUP_BY_NAME",
    24: "DOMAIN_LOOKUP_BY_UUID", 60: "CONNECT_SUPPORTS_FEATURE", 66: "AUTH_LIST",
    273: "CONNECT_LIST_ALL_DOMAINS", 344: "CONNECT_GET_ALL_DOMAIN_STATS",
}


class RpcTally(NamedTuple):
    """The RPCs of one process: all of them, and those after connecting."""

    calls: tuple[int, ...]
    after_connect: tuple[int, ...]

    def names(self) -> str:
        """The procedures after connecting, by name."""
        return ", ".join(PROCEDURES.get(proc, f"proc {proc}") for proc in self.after_connect)


def calls_in_log(text: str) -> tuple[int, ...]:
    """The procedure numbers of the remote-program calls in a debug log, in order."""
    return tuple(int(proc) for prog, proc, kind in _TX.findall(text)
                 if int(prog) == REMOTE_PROGRAM and kind == "0")


def logged_calls(argv: Sequence[str], log: Path) -> tuple[int, ...]:
    """Run `argv` with libvirt's RPC debug log on; the calls it made."""
    log.unlink(missing_ok=True)
    env = {**os.environ, "LIBVIRT_LOG_FILTERS": "1:rpc",
           "LIBVIRT_LOG_OUTPUTS": f"1:file:{log}"}
    subprocess.run(list(argv), env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL, check=False, timeout=60)
    return calls_in_log(log.read_text(errors="replace")) if log.exists() else ()


def tally(argv: Sequence[str], connect_only: Sequence[int], log: Path) -> RpcTally:
    """The RPCs of `argv`, and those left after the open/close ones of `connect_only`."""
    calls = logged_calls(argv, log)
    opening = [proc for proc in connect_only if proc != 2]
    after = list(calls[len(opening):]) if list(calls[:len(opening)]) == opening else list(calls)
    if after and after[-1] == 2:
        after.pop()
    return RpcTally(calls, tuple(after))
