"""Snapshots, per-second rates and the choice of a baseline (libcheck.rates)."""

from __future__ import annotations

import json
import math

import pytest
from harness.fakes import snapshot
from hypothesis import given
from hypothesis import strategies as st

from libcheck.rates import (
    BaselinePolicy,
    Snapshot,
    UnusableSnapshot,
    group_rates,
    interval,
)
from libcheck.samples import MAX_COUNTER

NOW = 1_700_000_000.0
BOOT_NOW = 10_000.0
BOOT = "3f1c2f0e-5c1d-4a57-9d2b-0f6f7f4f0a11"
POLICY = BaselinePolicy(shortest_age=1.5, settled_age=5.0, max_age=3600.0)


def at_age(age: float, domain_id=1, *, step: float = 0.0, boot: str = BOOT) -> Snapshot:
    """A stored snapshot taken `age` seconds (by the boot-time clock) before NOW,
    with the wall clock stepped `step` seconds since (negative: back)."""
    return Snapshot(NOW - age - step, domain_id, {"": {"time": 0}}, BOOT_NOW - age, boot)


def timed(wall: float, boot: float, **groups) -> Snapshot:
    """A snapshot at `wall` and `boot` seconds, with the given counter groups."""
    return Snapshot(wall, 1, groups, boot, BOOT)


CURRENT = at_age(0)


# -- Snapshot JSON ---------------------------------------------------------------

def test_a_snapshot_survives_the_json_round_trip():
    original = Snapshot(1.5, 3, {"": {"time": 10, "user": 2}, "vda": {"rd_bytes": 4096}})
    restored = Snapshot.from_json(json.loads(json.dumps(original.to_json())))
    assert restored == original
    assert restored.counters == original.counters


def test_the_stored_form_keeps_the_boot_time_and_boot_id():
    stored = Snapshot(1.0, None, {}, 99.5, BOOT).to_json()
    assert stored == {"wall_time": 1.0, "boot_time": 99.5, "boot_id": BOOT,
                      "domain_id": None, "counters": {}}
    assert Snapshot.from_json(stored) == Snapshot(1.0, None, {}, 99.5, BOOT)


def test_a_snapshot_stored_by_an_earlier_version_reads_without_boot_time():
    restored = Snapshot.from_json({"wall_time": 7, "domain_id": 1, "counters": {}})
    assert (restored.boot_time, restored.boot_id) == (None, None)


def test_an_inactive_domain_without_id_round_trips():
    assert Snapshot.from_json({"wall_time": 7, "domain_id": None, "counters": {}}).domain_id \
        is None


_GOOD = {"wall_time": 1.0, "domain_id": 1, "counters": {"": {"time": 5}}}


@pytest.mark.parametrize("data", [
    None, [], "snapshot", 42,
    {},
    {**_GOOD, "wall_time": True},
    {**_GOOD, "wall_time": float("nan")},
    {**_GOOD, "wall_time": float("inf")},
    {**_GOOD, "wall_time": "1.0"},
    {**_GOOD, "domain_id": "1"},
    {**_GOOD, "domain_id": 1.0},
    {**_GOOD, "counters": None},
    {**_GOOD, "counters": []},
    {**_GOOD, "counters": {"": [5]}},
    {**_GOOD, "counters": {"": {"time": True}}},
    {**_GOOD, "counters": {"": {"time": "5"}}},
    {**_GOOD, "counters": {"": {"time": None}}},
    {**_GOOD, "counters": {"": {"time": float("nan")}}},
    {**_GOOD, "counters": {"": {"time": float("-inf")}}},
    {key: value for key, value in _GOOD.items() if key != "counters"},
    {**_GOOD, "boot_time": "5"},
    {**_GOOD, "boot_time": True},
    {**_GOOD, "boot_time": float("nan")},
    {**_GOOD, "boot_id": 5},
    {**_GOOD, "boot_id": ["a"]},
    {**_GOOD, "boot_id": "x" * 65},
], ids=repr)
def test_from_json_rejects_every_wrong_shape(data):
    with pytest.raises(ValueError):
        Snapshot.from_json(data)


def test_from_json_reads_nan_from_a_real_json_text_as_wrong():
    # Python's json accepts the NaN literal; the snapshot must not.
    data = json.loads('{"wall_time": 1, "domain_id": 1, "counters": {"": {"time": NaN}}}')
    with pytest.raises(ValueError, match="not numbers"):
        Snapshot.from_json(data)


@pytest.mark.parametrize(("value", "why"), [
    (-1, "a counter is negative"), (-10**17, "a counter is negative"),
    (-0.5, "a counter is not a whole number"), (0.5, "a counter is not a whole number"),
    (MAX_COUNTER + 1, "a counter is beyond 64 bits"), (10**400, "a counter is beyond 64 bits"),
    (1e300, "a counter is beyond 64 bits"),
], ids=["-1", "-1e17", "-0.5", "0.5", "2**64", "10**400", "1e300"])
def test_from_json_refuses_a_counter_out_of_its_range(value, why):
    data = {**_GOOD, "counters": {"": {"time": 5}, "vda\n| x=1": {"rd_bytes": value}}}
    with pytest.raises(UnusableSnapshot) as refused:
        Snapshot.from_json(data)
    assert str(refused.value) == why  # never the file's own names


@pytest.mark.parametrize("value", [0, 1, MAX_COUNTER, 1e9, float(2**60)])
def test_from_json_reads_every_counter_in_range_as_a_whole_number(value):
    restored = Snapshot.from_json({**_GOOD, "counters": {"vda": {"rd_bytes": value}}})
    assert restored.counters["vda"]["rd_bytes"] == value
    assert type(restored.counters["vda"]["rd_bytes"]) is int


@pytest.mark.parametrize("domain_id", [-1, 2**31, 10**30])
def test_from_json_refuses_a_domain_id_out_of_range(domain_id):
    with pytest.raises(UnusableSnapshot, match="a domain ID is out of range"):
        Snapshot.from_json({**_GOOD, "domain_id": domain_id})


def test_a_wrong_shape_names_none_of_the_files_own_names():
    with pytest.raises(ValueError) as refused:
        Snapshot.from_json({**_GOOD, "counters": {"x" * 10_000 + "\n|": {"time": "5"}}})
    assert str(refused.value) == "snapshot counters are not numbers"


@pytest.mark.parametrize("step", [0.0, 3600.0, -3600.0])
def test_a_baseline_after_now_on_its_own_clock_is_refused_as_such(step):
    # An hour ahead on the boot-time clock: whatever the wall clock says, no
    # step explains it, and the next write leaves it out.
    ahead = at_age(-3600, step=step)
    assert POLICY.choose([ahead], CURRENT) is None
    assert POLICY.refusal([ahead], CURRENT) == "the previous sample is not older than this one"
    assert POLICY.retain([ahead], CURRENT) == [CURRENT]


def test_from_json_rejects_a_bool_domain_id():
    with pytest.raises(ValueError):
        Snapshot.from_json({**_GOOD, "domain_id": True})


# -- interval and group_rates -------------------------------------------------------

def test_interval_is_timed_on_the_boot_time_clock_not_the_wall_clock():
    assert interval(timed(0.0, 100.0), timed(1000.0, 110.0)) == 10.0


@pytest.mark.parametrize(("old", "new"), [
    (Snapshot(0.0, 1, {}), timed(30.0, 110.0)),
    (timed(0.0, 100.0), Snapshot(30.0, 1, {})),
    (timed(0.0, 100.0), Snapshot(30.0, 1, {}, 130.0, "another-boot")),
], ids=["old-without-boot-time", "new-without-boot-time", "another-boot"])
def test_interval_is_unknown_without_both_boot_times_of_one_boot(old, new):
    assert interval(old, new) is None


def test_group_rates_divides_each_delta_by_the_interval():
    old = timed(100.0, 50.0, **{"": {"time": 1e9}, "vda": {"rd": 0, "wr": 100}})
    new = timed(110.0, 60.0, **{"": {"time": 6e9}, "vda": {"rd": 5000, "wr": 100}})
    assert group_rates(old, new, "") == {"time": 5e8}
    assert group_rates(old, new, "vda") == {"rd": 500.0, "wr": 0.0}


def test_group_rates_uses_the_boot_time_interval_over_the_wall_one():
    old = timed(100.0, 50.0, **{"": {"time": 0}})
    new = timed(200.0, 52.0, **{"": {"time": 10}})
    assert group_rates(old, new, "") == {"time": 5.0}


def test_group_rates_across_two_boots_are_none():
    old = timed(100.0, 50.0, **{"": {"time": 0}})
    new = Snapshot(110.0, 1, {"": {"time": 10}}, 60.0, "another-boot")
    assert group_rates(old, new, "") is None


def test_a_counter_that_went_down_makes_the_whole_group_none():
    old = timed(100.0, 50.0, vda={"rd": 5000, "wr": 10})
    new = timed(110.0, 60.0, vda={"rd": 4000, "wr": 20})
    assert group_rates(old, new, "vda") is None


def test_a_group_missing_on_either_side_has_no_rates():
    old = timed(100.0, 50.0, vda={"rd": 1})
    new = timed(110.0, 60.0, vdb={"rd": 2})
    assert group_rates(old, new, "vdb") is None
    assert group_rates(old, new, "vda") is None


def test_a_counter_only_in_the_new_snapshot_makes_the_group_unsound():
    # Nothing to compare the new counter with: the group is measured afresh.
    old = timed(100.0, 50.0, vda={"rd": 1})
    new = timed(110.0, 60.0, vda={"rd": 11, "wr": 99})
    assert group_rates(old, new, "vda") is None


@pytest.mark.parametrize("seconds", [0.0, -5.0])
def test_a_zero_or_negative_interval_has_no_rates(seconds):
    old = timed(100.0, 50.0, **{"": {"time": 0}})
    new = timed(100.0 + seconds, 50.0 + seconds, **{"": {"time": 10}})
    assert group_rates(old, new, "") is None


_COUNTER = st.integers(min_value=0, max_value=2**64 - 1)


@given(before=st.dictionaries(st.sampled_from("abcdef"), _COUNTER, max_size=6),
       growth=st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=6,
                       max_size=6),
       seconds=st.floats(min_value=1e-6, max_value=1e7))
def test_rates_are_never_negative_nan_or_infinite_for_growing_counters(before, growth,
                                                                         seconds):
    after = {name: value + growth[index] for index, (name, value) in enumerate(before.items())}
    old = timed(1000.0, 10.0, g=before)
    new = timed(1000.0, 10.0 + seconds, g=after)
    rates = group_rates(old, new, "g")
    assert rates is not None
    assert set(rates) == set(before)
    assert all(math.isfinite(rate) and rate >= 0 for rate in rates.values())


# -- BaselinePolicy.choose ------------------------------------------------------------

def test_a_settled_baseline_beats_a_young_one_and_the_newest_settled_wins():
    history = [at_age(60), at_age(30), at_age(2)]
    assert POLICY.choose(history, CURRENT) == at_age(30)


def test_the_oldest_young_baseline_is_used_when_nothing_has_settled():
    history = [at_age(2), at_age(4), at_age(1)]
    assert POLICY.choose(history, CURRENT) == at_age(4)


def test_a_baseline_exactly_at_the_shortest_or_settled_age_counts():
    assert POLICY.choose([at_age(1.5)], CURRENT) == at_age(1.5)
    assert POLICY.choose([at_age(5.0), at_age(4.0)], CURRENT) == at_age(5.0)


def test_a_baseline_exactly_max_age_old_is_still_used():
    assert POLICY.choose([at_age(3600.0)], CURRENT) == at_age(3600.0)


def test_ages_are_on_the_boot_time_clock():
    # 5 s by the boot-time clock, 4 s by a wall clock stepped back 1 s: settled.
    assert POLICY.choose([at_age(5.0, step=-1.0), at_age(4.5)], CURRENT) == at_age(5.0, step=-1.0)


def test_max_age_is_judged_by_the_wall_clock():
    # 3599 s by the boot-time clock, 3601 s by the wall clock (within the tolerance).
    assert POLICY.choose([at_age(3599.0, step=2.0)], CURRENT) is None
    assert POLICY.refusal([at_age(3599.0, step=2.0)], CURRENT) == \
        "the previous sample is older than --max-age"


@pytest.mark.parametrize(("age", "step"), [
    (60.0, 2.0), (60.0, -2.0), (1000.0, 10.0), (1000.0, -10.0), (3.0, -2.0)])
def test_a_step_within_the_tolerance_keeps_the_baseline_and_its_true_interval(age, step):
    old = at_age(age, step=step)
    assert POLICY.choose([old], CURRENT) == old
    assert interval(old, CURRENT) == age


@pytest.mark.parametrize(("age", "step", "words"), [
    (60.0, -50.0, "50 s back"), (60.0, 300.0, "300 s forward"), (60.0, 2.5, "2 s forward"),
    (1000.0, -10.5, "10 s back"), (60.0, -86400.0, "86400 s back")])
def test_a_stepped_wall_clock_refuses_the_baseline(age, step, words):
    assert POLICY.choose([at_age(age, step=step)], CURRENT) is None
    assert POLICY.refusal([at_age(age, step=step)], CURRENT) == \
        f"the clock was stepped since the previous sample, {words}"


@pytest.mark.parametrize(("history", "reason"), [
    ([], "no previous sample"),
    ([at_age(0.5), at_age(1.0)], "the previous sample is only moments old"),
    ([at_age(-30)], "the previous sample is not older than this one"),
    ([at_age(0)], "the previous sample is not older than this one"),
    ([at_age(3601), at_age(7200)], "the previous sample is older than --max-age"),
    ([at_age(60, domain_id=2), at_age(30, domain_id=None)],
     "the domain was restarted since the previous sample"),
    ([at_age(60, boot="c0ffee00-0000-4000-8000-000000000000")],
     "the monitoring host was restarted since the previous sample"),
    ([snapshot(NOW - 60)],
     "the previous sample was stored by an earlier version, without a boot-time clock reading"),
    ([at_age(60, domain_id=2), at_age(20, step=-10)],
     "the clock was stepped since the previous sample, 10 s back"),
], ids=["empty", "too-young", "future", "same-instant", "stale", "other-domain-id",
        "other-boot", "no-boot-time", "newest-reason"])
def test_no_baseline_is_chosen_and_the_refusal_says_why(history, reason):
    assert POLICY.choose(history, CURRENT) is None
    assert POLICY.refusal(history, CURRENT) == reason


def test_unfit_snapshots_are_skipped_in_favour_of_a_fit_one():
    history = [at_age(-10), at_age(60, domain_id=9), at_age(9000), at_age(40, step=-30),
               at_age(30, boot="another"), snapshot(NOW - 25), at_age(20)]
    assert POLICY.choose(history, CURRENT) == at_age(20)


# -- BaselinePolicy.retain ---------------------------------------------------------------

def test_retain_keeps_the_newest_settled_the_oldest_young_and_the_current():
    history = [at_age(90), at_age(60), at_age(30), at_age(4), at_age(3), at_age(1)]
    assert POLICY.retain(history, CURRENT) == [at_age(30), at_age(4), CURRENT]


def test_retain_drops_future_stale_and_other_domain_snapshots():
    history = [at_age(-5), at_age(4000), at_age(10, domain_id=2), at_age(10)]
    assert POLICY.retain(history, CURRENT) == [at_age(10), CURRENT]


def test_retain_drops_stepped_other_boot_and_earlier_version_snapshots():
    history = [at_age(60, step=-50), at_age(50, boot="another"), snapshot(NOW - 40),
               at_age(10)]
    assert POLICY.retain(history, CURRENT) == [at_age(10), CURRENT]


def test_retain_does_not_store_the_current_snapshot_twice():
    assert POLICY.retain([CURRENT, at_age(10)], CURRENT) == [at_age(10), CURRENT]


_AGES = st.lists(st.floats(min_value=-100, max_value=5000, allow_nan=False), max_size=12)


@given(ages=_AGES, ids=st.lists(st.sampled_from([1, 2, None]), min_size=12, max_size=12))
def test_retain_keeps_at_most_three_and_always_the_current(ages, ids):
    history = [at_age(age, domain_id=ids[index]) for index, age in enumerate(ages)]
    kept = POLICY.retain(history, CURRENT)
    assert len(kept) <= 3
    assert kept[-1] == CURRENT
    assert kept == sorted(kept, key=lambda item: item.boot_time)
    chosen = POLICY.choose(history, CURRENT)
    if chosen is not None:
        # What this run measured against stays available for the next one.
        assert chosen in kept
