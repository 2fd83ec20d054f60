"""Snapshots, per-second rates and the choice of a baseline (libcheck.rates)."""

from __future__ import annotations

import json
import math

import pytest
from fakes import snapshot
from hypothesis import given
from hypothesis import strategies as st

from libcheck.rates import BaselinePolicy, Snapshot, group_rates, interval

NOW = 10_000.0
POLICY = BaselinePolicy(shortest_age=1.5, settled_age=5.0, max_age=3600.0)


def at_age(age: float, domain_id=1) -> Snapshot:
    """A stored snapshot taken `age` seconds before NOW."""
    return snapshot(NOW - age, domain_id=domain_id)


CURRENT = snapshot(NOW)


# -- Snapshot JSON ---------------------------------------------------------------

def test_a_snapshot_survives_the_json_round_trip():
    original = Snapshot(1.5, 3, {"": {"time": 10, "user": 2.5}, "vda": {"rd_bytes": 4096}})
    restored = Snapshot.from_json(json.loads(json.dumps(original.to_json())))
    assert restored == original
    assert restored.counters == original.counters


def test_the_stored_form_leaves_out_the_monotonic_time():
    stored = Snapshot(1.0, None, {}, monotonic_time=99.0).to_json()
    assert stored == {"wall_time": 1.0, "domain_id": None, "counters": {}}
    assert Snapshot.from_json(stored).monotonic_time is None


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
], ids=repr)
def test_from_json_rejects_every_wrong_shape(data):
    with pytest.raises(ValueError):
        Snapshot.from_json(data)


def test_from_json_reads_nan_from_a_real_json_text_as_wrong():
    # Python's json accepts the NaN literal; the snapshot must not.
    data = json.loads('{"wall_time": 1, "domain_id": 1, "counters": {"": {"time": NaN}}}')
    with pytest.raises(ValueError, match="not numbers"):
        Snapshot.from_json(data)


def test_from_json_rejects_a_bool_domain_id():
    with pytest.raises(ValueError):
        Snapshot.from_json({**_GOOD, "domain_id": True})


# -- interval and group_rates -------------------------------------------------------

def test_interval_prefers_the_monotonic_clock_when_both_have_it():
    old = Snapshot(0.0, 1, {}, monotonic_time=100.0)
    new = Snapshot(1000.0, 1, {}, monotonic_time=110.0)
    assert interval(old, new) == 10.0


def test_interval_falls_back_to_wall_time_when_one_lacks_the_monotonic_time():
    old = Snapshot(0.0, 1, {})
    new = Snapshot(30.0, 1, {}, monotonic_time=110.0)
    assert interval(old, new) == 30.0


def test_group_rates_divides_each_delta_by_the_interval():
    old = snapshot(100.0, cpu_ns=1e9, vda={"rd": 0, "wr": 100})
    new = snapshot(110.0, cpu_ns=6e9, vda={"rd": 5000, "wr": 100})
    assert group_rates(old, new, "") == {"time": 5e8}
    assert group_rates(old, new, "vda") == {"rd": 500.0, "wr": 0.0}


def test_group_rates_uses_the_monotonic_interval_over_the_wall_one():
    old = Snapshot(100.0, 1, {"": {"time": 0}}, monotonic_time=50.0)
    new = Snapshot(200.0, 1, {"": {"time": 10}}, monotonic_time=52.0)
    assert group_rates(old, new, "") == {"time": 5.0}


def test_a_counter_that_went_down_makes_the_whole_group_none():
    old = snapshot(100.0, vda={"rd": 5000, "wr": 10})
    new = snapshot(110.0, vda={"rd": 4000, "wr": 20})
    assert group_rates(old, new, "vda") is None


def test_a_group_missing_on_either_side_has_no_rates():
    old = snapshot(100.0, vda={"rd": 1})
    new = snapshot(110.0, vdb={"rd": 2})
    assert group_rates(old, new, "vdb") is None
    assert group_rates(old, new, "vda") is None


def test_a_counter_only_in_the_new_snapshot_makes_the_group_unsound():
    # Nothing to compare the new counter with: the group is measured afresh.
    old = snapshot(100.0, vda={"rd": 1})
    new = snapshot(110.0, vda={"rd": 11, "wr": 99})
    assert group_rates(old, new, "vda") is None


@pytest.mark.parametrize("seconds", [0.0, -5.0])
def test_a_zero_or_negative_interval_has_no_rates(seconds):
    old = snapshot(100.0, cpu_ns=0)
    new = snapshot(100.0 + seconds, cpu_ns=10)
    assert group_rates(old, new, "") is None


_COUNTER = st.integers(min_value=0, max_value=2**64 - 1)


@given(before=st.dictionaries(st.sampled_from("abcdef"), _COUNTER, max_size=6),
       growth=st.lists(st.integers(min_value=0, max_value=2**64 - 1), min_size=6,
                       max_size=6),
       seconds=st.floats(min_value=1e-6, max_value=1e7))
def test_rates_are_never_negative_nan_or_infinite_for_growing_counters(before, growth,
                                                                         seconds):
    after = {name: value + growth[index] for index, (name, value) in enumerate(before.items())}
    old = Snapshot(1000.0, 1, {"g": before}, monotonic_time=10.0)
    new = Snapshot(1000.0, 1, {"g": after}, monotonic_time=10.0 + seconds)
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


@pytest.mark.parametrize(("history", "reason"), [
    ([], "no previous sample"),
    ([at_age(0.5), at_age(1.0)], "the previous sample is only moments old"),
    ([at_age(-30)], "the clock went back since the previous sample"),
    ([at_age(0)], "the clock went back since the previous sample"),
    ([at_age(3601), at_age(7200)], "the previous sample is older than --max-age"),
    ([at_age(60, domain_id=2), at_age(30, domain_id=None)],
     "the domain was restarted since the previous sample"),
], ids=["empty", "too-young", "future", "same-instant", "stale", "other-domain-id"])
def test_no_baseline_is_chosen_and_the_refusal_says_why(history, reason):
    assert POLICY.choose(history, CURRENT) is None
    assert POLICY.refusal(history, CURRENT) == reason


def test_unfit_snapshots_are_skipped_in_favour_of_a_fit_one():
    history = [at_age(-10), at_age(60, domain_id=9), at_age(9000), at_age(20)]
    assert POLICY.choose(history, CURRENT) == at_age(20)


# -- BaselinePolicy.retain ---------------------------------------------------------------

def test_retain_keeps_the_newest_settled_the_oldest_young_and_the_current():
    history = [at_age(90), at_age(60), at_age(30), at_age(4), at_age(3), at_age(1)]
    assert POLICY.retain(history, CURRENT) == [at_age(30), at_age(4), CURRENT]


def test_retain_drops_future_stale_and_other_domain_snapshots():
    history = [at_age(-5), at_age(4000), at_age(10, domain_id=2), at_age(10)]
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
    assert kept == sorted(kept, key=lambda item: item.wall_time)
    chosen = POLICY.choose(history, CURRENT)
    if chosen is not None:
        # What this run measured against stays available for the next one.
        assert chosen in kept
