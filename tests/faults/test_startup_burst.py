"""The start-up burst: every check of a hypervisor due at once, none with a baseline.

After a restart Icinga runs every service of every VM within a second, and
with an empty state directory each run is a first run: it needs two samples
--sample-interval apart.  Here 4 checks x 50 domains of a test node (200 runs
of the real executables, the library imported before they are let go) run
at one moment, or in waves spread over more than --sample-interval, as the
interpreters' start spreads a real burst.  Every run must end with a
judgement (OK, WARNING or CRITICAL, never UNKNOWN) within its --timeout on
the test's own clock, none may give up on the host snapshot, and the whole
burst must cost a bounded number of refreshes: one for the first samples,
one for the second, and at most one more for a run that came late to both.
"""

from __future__ import annotations

import statistics
from pathlib import Path

from harness.checkrun import CheckRun
from harness.faultkit import CHECKS
from harness.snapshotkit import (
    check_command,
    domain_name,
    generation,
    run_in_waves,
    run_together_timed,
    snapshot_dir,
    write_node,
)

DOMAINS = 50
TIMEOUT = 10.0
SAMPLE_INTERVAL = 1.5
MOST_REFRESHES = 3
WAVES = 5
WAVE_GAP = 1.0
BETWEEN_SNAPSHOTS = "between the two newest host snapshots"


def burst_commands(uri: str, state_dir: Path, domains: range) -> list[list[str]]:
    """Every check of every domain in `domains`, as Icinga's services run them."""
    return [check_command(check, uri, domain_name(index), state_dir, "--timeout",
                          f"{TIMEOUT:g}", "--sample-interval", f"{SAMPLE_INTERVAL:g}")
            for index in domains for check in sorted(CHECKS)]


def assert_cleared(results: list[tuple[CheckRun, float]], refreshes: int) -> None:
    """Print what the burst cost, then hold it to its bounds."""
    durations = [seconds for _run, seconds in results]
    print(f"\nstart-up burst of {len(results)} first runs: {refreshes} refreshes, a run took "
          f"{statistics.median(durations):.2f} s at the median and {max(durations):.2f} s "
          "at most")
    unjudged = [run.stdout or run.stderr for run, _seconds in results
                if run.returncode not in (0, 1, 2) or "timed out" in run.stdout]
    assert not unjudged, f"{len(unjudged)} runs without a judgement, e.g. {unjudged[0]}"
    late = [seconds for seconds in durations if seconds > TIMEOUT]
    assert not late, f"{len(late)} runs ended after their --timeout of {TIMEOUT:g} s"
    gave_up = [run.stdout for run, _seconds in results if "host snapshot not used" in run.stdout]
    assert not gave_up, f"{len(gave_up)} runs read libvirt on their own, e.g. {gave_up[0]}"
    assert refreshes <= MOST_REFRESHES, (
        f"{refreshes} refreshes for one burst: one for the first samples and one "
        "for the second should serve every run")


def test_a_burst_of_first_runs_at_one_moment_ends_in_time_with_few_refreshes(tmp_path,
                                                                             state_dir):
    uri = write_node(tmp_path / "node.xml", DOMAINS)
    commands = burst_commands(uri, state_dir, range(DOMAINS))
    assert len(commands) == 4 * DOMAINS
    results = run_together_timed(commands, timeout=120)
    print(f"\nthe burst took {max(seconds for _run, seconds in results):.2f} s in all")
    assert_cleared(results, generation(snapshot_dir(state_dir, uri)))


def test_a_burst_spread_over_seconds_costs_no_more_refreshes(tmp_path, state_dir):
    # Five waves a second apart: the runs of the waves after the second
    # refresh are measured between the two newest generations, without a
    # refresh (and a pause) of their own.
    uri = write_node(tmp_path / "node.xml", DOMAINS)
    size = DOMAINS // WAVES
    waves = [[[*command, "-vv"] for command in
              burst_commands(uri, state_dir, range(wave * size, (wave + 1) * size))]
             for wave in range(WAVES)]
    results = [run for wave in run_in_waves(waves, WAVE_GAP, timeout=120) for run in wave]
    served = sum(BETWEEN_SNAPSHOTS in run.stdout for run, _seconds in results)
    print(f"\n{served} of {len(results)} runs measured {BETWEEN_SNAPSHOTS}")
    assert_cleared(results, generation(snapshot_dir(state_dir, uri)))
    assert served > 0
