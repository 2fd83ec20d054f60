"""The tables and target verdicts of the snapshot benchmark, as plain text."""

from __future__ import annotations

import math
from typing import Optional, Sequence

from bench.common.timing import Summary
from bench.snapshot.rounds import CHECKS, IMPORTS, PEER_METRICS, Result

HIT_LIMIT = 0.75
REFRESH_LIMIT = 1.2
SCALE_LIMIT = 1.1
PEER_KEY = ("check_libvirt", "cpu", "peer")


def _summary(values: Sequence[float]) -> Optional[Summary]:
    return Summary.of(values) if values else None


def _median(result: Result, key: tuple[str, str, str]) -> float:
    walls = result.walls(key)
    return Summary.of(walls).median if walls else math.nan


def _cell(values: Sequence[float]) -> str:
    """`median [q1-q3]` of wall ms, or '-'."""
    summary = _summary(values)
    if summary is None:
        return "-"
    return f"{summary.median:7.1f} [{summary.q1:.1f}-{summary.q3:.1f}]"


def _ratio(value: float, base: float) -> str:
    return "    -" if math.isnan(value) or not base or math.isnan(base) else f"{value / base:5.2f}"


def peer_wall(result: Result) -> float:
    """The median wall time of check_libvirt -l cpu on the result's target."""
    return _median(result, PEER_KEY)


def check_table(results: Sequence[Result], form_keys: Sequence[str]) -> list[str]:
    """Hit, refresh, direct per target, form and check; ratios to check_libvirt -l cpu."""
    head = (f"{'target':<10} {'form':<5} {'check':<8} {'hit ms [IQR]':<24} {'x cl':>5}  "
            f"{'refresh ms [IQR]':<26} {'x cl':>5}  {'direct ms [IQR]':<26} {'x cl':>5} "
            f"{'hit CPU':>7} {'hit RSS':>7}")
    lines = [head, "-" * len(head)]
    for result in results:
        peer = peer_wall(result)
        for form in form_keys:
            for check in CHECKS:
                cells = []
                for mode in ("hit", "refresh", "direct"):
                    key = (form, check, mode)
                    cells.append(f"{_cell(result.walls(key)):<{24 if mode == 'hit' else 26}} "
                                 f"{_ratio(_median(result, key), peer)}")
                hit = result.samples.get((form, check, "hit"), [])
                cpu = _summary([s.cpu_ms for s in hit])
                rss = _summary([s.rss_mib for s in hit])
                lines.append(f"{result.target.key:<10} {form:<5} {check:<8} {'  '.join(cells)} "
                             f"{cpu.median if cpu else math.nan:7.1f} "
                             f"{rss.median if rss else math.nan:7.1f}")
    return lines


def peer_table(results: Sequence[Result]) -> list[str]:
    """check_libvirt -l cpu, io, net per target."""
    head = (f"{'target':<10} {'check_libvirt':<14} {'wall ms [IQR]':<26} {'CPU ms':>7} "
            f"{'RSS MiB':>7}")
    lines = [head, "-" * len(head)]
    for result in results:
        for metric in PEER_METRICS:
            samples = result.samples.get(("check_libvirt", metric, "peer"), [])
            cpu = _summary([s.cpu_ms for s in samples])
            rss = _summary([s.rss_mib for s in samples])
            lines.append(f"{result.target.key:<10} {'-l ' + metric:<14} "
                         f"{_cell([s.wall_ms for s in samples]):<26} "
                         f"{cpu.median if cpu else math.nan:7.1f} "
                         f"{rss.median if rss else math.nan:7.1f}")
    return lines


def import_table(result: Result, form_keys: Sequence[str]) -> list[str]:
    """The import-cost breakdown, each program on its own, against check_libvirt -l cpu."""
    head = f"{'form':<5} {'program (python -c)':<38} {'wall ms [IQR]':<26} {'x cl':>5}"
    lines = [head, "-" * len(head)]
    peer = peer_wall(result)
    for form in form_keys:
        for label, _code in IMPORTS:
            key = (form, label, "import")
            lines.append(f"{form:<5} {label:<38} {_cell(result.walls(key)):<26} "
                         f"{_ratio(_median(result, key), peer)}")
    return lines


def _met(ok: bool) -> str:
    return "met   " if ok else "MISSED"


def _ratios(result: Result, form: str, mode: str) -> dict[str, float]:
    peer = peer_wall(result)
    return {check: _median(result, (form, check, mode)) / peer for check in CHECKS}


def _import_cause(imports: Optional[Result], form: str) -> str:
    """The import costs, the measured cause of a missed target: a run pays at
    least its interpreter, the framework and libcheck's runtime."""
    if imports is None:
        return ""
    peer = peer_wall(imports)
    costs = {label: _median(imports, (form, label, "import")) for label, _code in IMPORTS}
    parts = ", ".join(f"{label} {cost:.1f}" for label, cost in costs.items())
    runtime = costs["import libcheck.runtime"]
    return (f"; cause: imports alone (ms, {form}, {imports.target.key}): {parts}; "
            f"`import libcheck.runtime` alone is {runtime / peer:.2f}x check_libvirt -l cpu "
            f"there ({peer:.1f} ms)")


def ratio_verdicts(results: Sequence[Result], form_keys: Sequence[str],
                   imports: Optional[Result]) -> list[str]:
    """Hit <= 0.75x and refresh <= 1.2x check_libvirt -l cpu, per target and form."""
    lines = []
    for mode, limit in (("hit", HIT_LIMIT), ("refresh", REFRESH_LIMIT)):
        for result in results:
            peer = peer_wall(result)
            for form in form_keys:
                ratios = _ratios(result, form, mode)
                ok = all(ratio <= limit for ratio in ratios.values())
                numbers = ", ".join(f"{check} {ratio:.2f}x" for check, ratio in ratios.items())
                line = (f"{_met(ok)} {mode} <= {limit}x check_libvirt -l cpu "
                        f"({result.target.key}, {form}; cl {peer:.1f} ms): {numbers}")
                if not ok:
                    line += _miss_cause(result, form, mode, imports)
                lines.append(line)
    return lines


def _miss_cause(result: Result, form: str, mode: str, imports: Optional[Result]) -> str:
    if mode == "hit":
        return _import_cause(imports, form)
    gaps = {check: _median(result, (form, check, "refresh"))
            - _median(result, (form, check, "hit")) for check in CHECKS}
    extra = ", ".join(f"{check} {gap:.1f}" for check, gap in gaps.items())
    return (f"; refresh minus hit (ms): {extra} (importing libvirt, opening the URI, "
            f"reading every domain, writing every domain's part)"
            f"{_import_cause(imports, form)}")


def scale_verdicts(results: Sequence[Result], form_keys: Sequence[str]) -> list[str]:
    """A hit on the 2000-domain node <= 1.1x a hit on the 1-domain node."""
    by_key = {result.target.key: result for result in results}
    one, big = by_key.get("node-1"), by_key.get("node-2000")
    if one is None or big is None:
        return []
    lines = []
    for form in form_keys:
        pairs = {check: (_median(big, (form, check, "hit")), _median(one, (form, check, "hit")))
                 for check in CHECKS}
        ok = all(b / o <= SCALE_LIMIT for b, o in pairs.values())
        numbers = ", ".join(f"{check} {b:.1f}/{o:.1f} ms = {b / o:.2f}x"
                            for check, (b, o) in pairs.items())
        lines.append(f"{_met(ok)} hit on node-2000 <= {SCALE_LIMIT}x hit on node-1 ({form}): "
                     f"{numbers}")
    return lines


def hit_verdicts(results: Sequence[Result]) -> tuple[list[str], bool]:
    """Every timed hit kept the generation, every timed refresh made one."""
    hits = sum(r.hits for r in results)
    real = sum(r.real_hits for r in results)
    refreshes = sum(r.refreshes for r in results)
    real_refreshes = sum(r.real_refreshes for r in results)
    rate = 100.0 * real / hits if hits else math.nan
    ok = hits > 0 and real == hits
    per = "; ".join(f"{r.target.key} {r.real_hits}/{r.hits}" for r in results)
    directs = sum(r.directs for r in results)
    quiet = sum(r.quiet_directs for r in results)
    failed = [f"{r.target.key} {key} {sorted(codes)}" for r in results
              for key, codes in r.statuses.items() if codes != {0}]
    lines = [f"{_met(not failed)} every timed run exited 0 (OK)"
             + (f"; not: {', '.join(failed)}" if failed else ""),
             f"{_met(ok)} hit rate {rate:.1f}% ({real} of {hits} timed hits exited 0 and left "
             f"the snapshot generation unchanged: {per})",
             f"{_met(real_refreshes == refreshes)} refreshes: {real_refreshes} of {refreshes} "
             "timed refresh runs made exactly one new generation",
             f"{_met(quiet == directs)} direct: {quiet} of {directs} timed direct runs left the "
             "snapshot alone"]
    for result in results:
        for form, heavy in result.hit_imports.items():
            lines.append(f"{_met(not heavy)} a hit imports neither libvirt nor lxml "
                         f"({result.target.key}, {form}, python -X importtime): "
                         + (", ".join(heavy) if heavy else "neither imported"))
    return lines, ok and not failed


def always_notes(results: Sequence[Result]) -> list[str]:
    """How many refreshes one --snapshot-max-age 0.001 run made (untimed)."""
    return [f"{result.target.key} {form}: one --snapshot-max-age 0.001 run made {count} "
            "new generations" for result in results
            for form, count in result.always_generations.items()]
