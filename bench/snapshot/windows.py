"""libvirt calls per refresh window, for nodes of 1, 50 and 500 domains and the real guest.

Each window runs bench/snapshot/window.py in a fresh state directory: 4 checks x N
domains with their baselines stored, in one window of --snapshot-max-age.
On a remote URI (the real guest) the same process also runs with libvirt's
RPC debug log (counted from its RPC debug log), so the calls are also counted on the wire.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import NamedTuple, Optional, Sequence

from bench.snapshot.rounds import CHECKS

WINDOW_PROGRAM = Path(__file__).resolve().parent / "window.py"
# libvirt's RPC client logs every message it queues with the probe line
# `RPC_CLIENT_MSG_TX_QUEUE: ... prog=P vers=V proc=N type=T ...` when run with
# LIBVIRT_LOG_FILTERS="1:rpc" and a log output. A call is type=0 of the remote
# program; keepalive pings belong to another program and are left out.
REMOTE_PROGRAM = 0x20008086
_TX = re.compile(r"RPC_CLIENT_MSG_TX_QUEUE: .*?prog=(\d+) .*?proc=(\d+) type=(\d+)")
# remote_protocol.x numbers of the procedures these processes use (for display).
PROCEDURES = {
    1: "CONNECT_OPEN", 2: "CONNECT_CLOSE", 14: "DOMAIN_GET_XML_DESC",
    16: "DOMAIN_GET_INFO", 22: "DOMAIN_LOOKUP_BY_ID", 23: "DOMAIN_LOOKUP_BY_NAME",
    24: "DOMAIN_LOOKUP_BY_UUID", 60: "CONNECT_SUPPORTS_FEATURE", 66: "AUTH_LIST",
    273: "CONNECT_LIST_ALL_DOMAINS", 344: "CONNECT_GET_ALL_DOMAIN_STATS",
}
WINDOW_SIZES = (1, 50, 500)


def calls_in_log(text: str) -> tuple[int, ...]:
    """The procedure numbers of the remote-program calls in a debug log, in order."""
    return tuple(int(proc) for prog, proc, kind in _TX.findall(text)
                 if int(prog) == REMOTE_PROGRAM and kind == "0")


class Window(NamedTuple):
    """What one window cost."""

    label: str
    domains: int
    record: dict
    rpcs: Optional[tuple[int, ...]] = None

    @property
    def refreshes(self) -> int:
        before, after = self.record["generations"]
        return after - before

    def per_window(self, kind: str) -> float:
        """Calls of `kind` per refresh window."""
        return self.record["kinds"].get(kind, 0) / max(self.refreshes, 1)


def run_window(python: str, env: dict[str, str], label: str, uri: str, domains: Sequence[str],
               scratch: Path, rpc_log: bool = False) -> Window:
    """One window over `domains` of `uri`, in a fresh state directory."""
    state = scratch / "window-state" / label
    record = scratch / f"window-{label}.json"
    env = dict(env)
    log = scratch / f"window-{label}.rpc.log"
    if rpc_log:
        env.update(LIBVIRT_LOG_FILTERS="1:rpc", LIBVIRT_LOG_OUTPUTS=f"1:file:{log}")
    done = subprocess.run([python, str(WINDOW_PROGRAM), str(record), uri, str(state),
                           ",".join(CHECKS), *domains], env=env, capture_output=True,
                          text=True, timeout=600, check=False)
    if done.returncode != 0 or not record.exists():
        raise RuntimeError(f"window {label} failed ({done.returncode}): "
                           f"{done.stderr.strip()[-600:]}")
    data = json.loads(record.read_text())
    rpcs = None
    if rpc_log and log.exists():
        with open(log, "rb") as text:
            text.seek(data.get("log_offset", 0))
            rpcs = calls_in_log(text.read().decode(errors="replace"))
    return Window(label, len(domains), data, rpcs)


def table(windows: Sequence[Window]) -> list[str]:
    """One line per window: calls by kind, per refresh window."""
    head = (f"{'node':<10} {'domains':>7} {'runs':>5} {'seconds':>7} {'refreshes':>9} "
            f"{'connections':>11} {'bulk':>5} {'XML reads':>9} {'XML parsed':>10} "
            f"{'lookups':>7} {'per-domain':>10}  exits")
    lines = [head, "-" * len(head)]
    for w in windows:
        r = w.record
        lines.append(f"{w.label:<10} {w.domains:>7} {r['runs']:>5} {r['seconds']:7.2f} "
                     f"{w.refreshes:>9} {w.per_window('connections'):>11.0f} "
                     f"{w.per_window('bulk'):>5.0f} {w.per_window('xml'):>9.0f} "
                     f"{r['parses'] / max(w.refreshes, 1):>10.0f} "
                     f"{w.per_window('lookups'):>7.0f} {w.per_window('per_domain'):>10.0f}  "
                     f"{', '.join(f'{k}: {v}' for k, v in sorted(r['statuses'].items()))}")
    return lines


def methods(windows: Sequence[Window]) -> list[str]:
    """Which libvirt methods each window called, and the RPCs on the wire."""
    lines = []
    for w in windows:
        calls = ", ".join(f"{name} x{count}" for name, count in w.record["methods"].items())
        lines.append(f"{w.label}: {calls}")
        if w.rpcs is not None:
            names: dict[str, int] = {}
            for proc in w.rpcs:
                name = PROCEDURES.get(proc, f"proc {proc}")
                names[name] = names.get(name, 0) + 1
            lines.append(f"  RPCs of the window, from libvirt's client log: "
                         f"{', '.join(f'{k} x{v}' for k, v in names.items()) or 'none'} "
                         "(ID, name and UUIDString are answered from the domain handle)")
    return lines


def verdicts(windows: Sequence[Window]) -> list[str]:
    """One bulk call and one autostart listing, plus the XML of changed domains
    (none changed), per window."""
    lines = []
    for w in windows:
        bulk, parsed, xml = w.per_window("bulk"), w.record["parses"], w.per_window("xml")
        listings = w.per_window("listings")
        ok = w.refreshes == 1 and bulk == 1 and listings <= 1 and parsed == 0
        reads = ("" if xml == 0 else f"; {xml:.0f} XMLDesc reads as the device signature: "
                 "the test driver's bulk call has no device list")
        lines.append(f"{'met   ' if ok else 'MISSED'} {w.label}: {w.refreshes} refresh in "
                     f"{w.record['runs']} runs ({w.record['seconds']:.1f} s), {bulk:.0f} bulk "
                     f"call, {listings:.0f} autostart listing, {parsed} XML parsed (0 domains "
                     f"changed){reads}")
    return lines


def child_env() -> dict[str, str]:
    """The windows' environment: bytecode on, no inherited libvirt logging."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("LIBVIRT_") and k != "PYTHONDONTWRITEBYTECODE"}
