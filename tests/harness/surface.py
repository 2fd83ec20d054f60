"""The record of what operators see (tests/data/surface/): its text, and how two differ."""

from __future__ import annotations

import json


def differences(found: dict, recorded: dict) -> list[str]:
    """Per executable, case and run: the labels printed but not recorded (+), and recorded
    but not printed (-)."""
    lines = []
    for executable in sorted({*found, *recorded}):
        now, then = found.get(executable, {}), recorded.get(executable, {})
        for case in sorted({*now, *then}):
            for run in sorted({*now.get(case, {}), *then.get(case, {})}):
                printed = set(now.get(case, {}).get(run, ()))
                kept = set(then.get(case, {}).get(run, ()))
                if printed != kept:
                    changes = [f"+{label}" for label in sorted(printed - kept)]
                    changes += [f"-{label}" for label in sorted(kept - printed)]
                    lines.append(f"{executable} {case} {run}: {' '.join(changes)}")
    return lines


def written(data: dict) -> str:
    """The record's text: sorted keys, one item a line, so that diffs read well."""
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
