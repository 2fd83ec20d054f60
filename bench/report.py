"""The tables and verdicts of a benchmark run, as plain text."""

from __future__ import annotations

import math
from typing import Optional, Sequence

from baselines import framework_label
from rows import STEADY, Row
from statefile import VariantResult

WALL_LIMIT = 1.2
RSS_LIMIT = 1.2
SCALE_LIMIT = 1.1
RPC_LIMIT = 3
STATE_LIMIT_MS = 1.0
JUDGED_TARGETS = ("default", "qemu")


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else math.nan


def _cell(value: float, width: int, digits: int = 2) -> str:
    """A number, or '-' where it was not measured."""
    return f"{'-':>{width}}" if math.isnan(value) else f"{value:{width}.{digits}f}"


def calls_cell(row: Row) -> str:
    """RPCs after connecting (remote) or API calls (in-process test driver)."""
    if row.rpc is not None:
        return f"RPC {len(row.rpc.after_connect)} (API {len(row.api_calls())})"
    return f"RPC 0 (API {len(row.api_calls())})"


def check_table(rows: Sequence[Row]) -> list[str]:
    """The main table: one line per check and target."""
    head = (f"{'check':<8} {'target':<10} {'wall ms median [IQR]':<24} {'CPU ms':>7} "
            f"{'RSS MiB':>8} {'x fw':>5} {'x fw RSS':>8} {'x bare':>6} {'x floor':>7}  "
            "libvirt calls")
    lines = [head, "-" * len(head)]
    for row in rows:
        wall = row.summary("check", "wall_ms")
        rss = row.median("check", "rss_mib")
        cell = f"{wall.median:7.1f} [{wall.q1:.1f}-{wall.q3:.1f}]"
        lines.append(
            f"{row.check:<8} {row.target.key:<10} {cell:<24} "
            f"{row.median('check', 'cpu_ms'):7.1f} {rss:8.1f} "
            f"{_cell(_ratio(wall.median, row.median('framework')), 5)} "
            f"{_cell(_ratio(rss, row.median('framework', 'rss_mib')), 8)} "
            f"{_cell(_ratio(wall.median, row.median('bare')), 6)} "
            f"{_cell(_ratio(wall.median, row.median('floor')), 7)}  {calls_cell(row)}")
    return lines


def _triple(row: Row, kind: str) -> str:
    if not row.has(kind):
        return "-"
    return (f"{row.median(kind):6.1f} {row.median(kind, 'cpu_ms'):6.1f} "
            f"{row.median(kind, 'rss_mib'):5.1f}")


def baseline_table(rows: Sequence[Row]) -> list[str]:
    """The baselines of each row: wall ms, CPU ms, RSS MiB (medians)."""
    head = (f"{'check':<8} {'target':<10} {'floor wall/CPU/RSS':>20} "
            f"{'bare wall/CPU/RSS':>20} {'framework wall/CPU/RSS':>22}  framework imports")
    lines = [head, "-" * len(head)]
    for row in (row for row in rows if row.has("bare")):
        lines.append(f"{row.check:<8} {row.target.key:<10} {_triple(row, 'floor'):>20} "
                     f"{_triple(row, 'bare'):>20} {_triple(row, 'framework'):>22}  "
                     f"{framework_label(row.calls, row.xml_parsers)}")
    return lines


def _by(rows: Sequence[Row], check: str, target: str) -> Optional[Row]:
    return next((r for r in rows if r.check == check and r.target.key == target), None)


def _methods(row: Row) -> list[str]:
    return [code.split("(", 1)[0] for code in row.api_calls()]


def _own_cells(row: Row, one: Row, metric: str) -> str:
    """own, and own - bare's own, with their ratios to the 1-domain node."""
    excess = row.own_excess(metric) if row.has("bare") else math.nan
    return (f"{row.own(metric):8.1f} {_cell(excess, 8, 1)} "
            f"{_ratio(row.own(metric), one.own(metric)):6.2f} "
            f"{_cell(_ratio(excess, one.own_excess(metric)), 6)}")


def scaling_table(rows: Sequence[Row], checks: Sequence[str]) -> list[str]:
    """1, 500 and 2000 domains: whole process, libvirt's open, the check's own cost."""
    head = (f"{'check':<8} {'domains':>7} {'wall':>7} {'open':>7} | {'own':>8} {'- bare':>8} "
            f"{'x1':>6} {'x1':>6} | {'CPU own':>8} {'- bare':>8} {'x1':>6} {'x1':>6}  "
            "same calls")
    lines = [head, "-" * len(head)]
    for check in checks:
        one = _by(rows, check, "node-1")
        for count in (1, 500, 2000):
            row = _by(rows, check, f"node-{count}")
            if row is None or one is None:
                continue
            lines.append(
                f"{check:<8} {count:>7} {row.median('check'):7.1f} "
                f"{row.median('check', 'open_wall_ms'):7.1f} | {_own_cells(row, one, 'wall_ms')} "
                f"| {_own_cells(row, one, 'cpu_ms')}  "
                f"{'yes' if _methods(one) == _methods(row) else 'NO'}")
    return lines


def state_table(results: Sequence[VariantResult]) -> list[str]:
    """The state-file micro-measurement."""
    head = f"{'state file':<32} {'bytes':>6}  " + "  ".join(
        f"{t.name:>20}" for t in results[0].timings) if results else ""
    lines = [head, "-" * len(head)]
    for result in results:
        cells = "  ".join(f"{t.median_ms:>14.3f} ms   " for t in result.timings)
        lines.append(f"{result.variant:<32} {result.size:>6}  {cells}")
    return lines


def _verdict(ok: bool, text: str) -> str:
    return f"{'PASS' if ok else 'FAIL'}  {text}"


def row_verdicts(row: Row) -> list[str]:
    """Wall and RSS against the framework baseline, and the RPC budget."""
    wall = _ratio(row.median("check"), row.median("framework"))
    rss = _ratio(row.median("check", "rss_mib"), row.median("framework", "rss_mib"))
    where = f"{row.check} on {row.target.key}"
    verdicts = [_verdict(wall <= WALL_LIMIT, f"{where}: wall {wall:.2f}x framework "
                                              f"(limit {WALL_LIMIT}x)"),
                _verdict(rss <= RSS_LIMIT, f"{where}: peak RSS {rss:.2f}x framework "
                                           f"(limit {RSS_LIMIT}x)")]
    if row.rpc is not None:
        count = len(row.rpc.after_connect)
        verdicts.append(_verdict(count <= RPC_LIMIT, f"{where}: {count} RPCs after "
                                                     f"connecting ({row.rpc.names()})"))
    return verdicts


def verdicts(rows: Sequence[Row], checks: Sequence[str],
             state: Sequence[VariantResult]) -> list[str]:
    """Every target of the brief, PASS or FAIL with its number."""
    lines = []
    for row in rows:
        if row.target.key in JUDGED_TARGETS:
            lines += row_verdicts(row)
    for check in checks:
        one, big = _by(rows, check, "node-1"), _by(rows, check, "node-2000")
        if one and big and big.has("bare"):
            cpu = _ratio(big.own_excess("cpu_ms"), one.own_excess("cpu_ms"))
            wall = _ratio(big.own_excess(), one.own_excess())
            raw = _ratio(big.median("check"), one.median("check"))
            lines.append(_verdict(cpu <= SCALE_LIMIT, f"{check}: 2000-domain node: what the "
                                  f"check adds to libvirt (own - bare's own) is {cpu:.2f}x CPU, "
                                  f"{wall:.2f}x wall of the 1-domain node's (limit "
                                  f"{SCALE_LIMIT}x, judged on CPU; whole process {raw:.2f}x, "
                                  "libvirt parsing the node's domains)"))
    unsteady = [f"{r.check} on {r.target.key}" for r in rows
                if STEADY not in r.basis or STEADY not in r.basis_after]
    if rows:
        lines.append(_verdict(not unsteady, "steady state: every row's -vv run before and "
                              "after timing measured 'since the previous run'"
                              + (f" (not: {', '.join(unsteady)})" if unsteady else "")))
    for result in state:
        cycle = result.timings[0].median_ms
        lines.append(_verdict(cycle < STATE_LIMIT_MS, f"state {result.variant}: read+write "
                                                      f"{cycle:.3f} ms (limit 1 ms)"))
    return lines


def details(rows: Sequence[Row]) -> list[str]:
    """Per row: steady-state evidence, the calls, RPCs, notes."""
    lines = []
    for row in rows:
        lines.append(f"{row.check} on {row.target.key} ({row.target.label}), exit {row.status}")
        lines.append(f"  before timing: {row.basis}")
        lines.append(f"  after timing:  {row.basis_after}")
        lines.append(f"  libvirt API calls: {', '.join(row.api_calls())}")
        if row.rpc is not None:
            lines.append(f"  RPCs after connecting: check {row.rpc.names()}; "
                         f"bare baseline {row.bare_rpc.names()}")
        lines += [f"  note: {note}" for note in row.notes]
    return lines
