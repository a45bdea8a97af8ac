"""Pure rate-window arithmetic: the rolling minute, concurrency slots, the day, 429 blocks, unseen calls."""

from __future__ import annotations

import random
from dataclasses import replace

import pytest

from xero_bridge.domain.rate_window import (
    Decision,
    RateLimits,
    Reason,
    WindowState,
    admit,
    concurrency_free_at,
    decide,
    live_leases,
    minute_free_at,
    minute_used,
    next_utc_midnight_ms,
    prune,
    unseen_calls,
    utc_day,
)

T0 = 1_767_225_600_000 + 3_600_000  # 2026-01-01T01:00:00Z in epoch ms
EXACT = RateLimits(padding_ms=0)  # the window as Xero states it, no padding


def full_minute(start: int = T0, step: int = 10) -> WindowState:
    """60 calls, one every ``step`` ms from ``start``."""
    return WindowState(calls=tuple(start + i * step for i in range(60)), day=utc_day(start), day_count=60)


# --- RateLimits ----------------------------------------------------------------------------------------


def test_defaults_are_xeros_limits_with_one_second_padding() -> None:
    limits = RateLimits()
    assert (limits.per_minute, limits.concurrent, limits.per_day, limits.safety_margin) == (60, 5, 5000, 0)
    assert limits.minute_capacity == 60
    assert limits.span_ms == 61_000
    assert limits.retention_ms == 61_000 + 30_000


@pytest.mark.parametrize(
    "kwargs",
    [
        {"safety_margin": 60},
        {"safety_margin": -1},
        {"padding_ms": -1},
        {"concurrent": 0},
        {"per_day": 0},
        {"lease_ms": 0},
        {"window_ms": 0},
    ],
)
def test_impossible_limits_are_refused(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        RateLimits(**kwargs)


# --- the minute window ---------------------------------------------------------------------------------


def test_empty_state_goes_now() -> None:
    assert decide(WindowState(), T0, EXACT) == Decision(Reason.GO, T0)


def test_59_calls_leave_one_slot() -> None:
    state = WindowState(calls=tuple(T0 + i for i in range(59)))
    assert decide(state, T0 + 100, EXACT).go


def test_60th_call_fills_the_window_until_exactly_60_s_after_the_first() -> None:
    state = full_minute()
    decision = decide(state, T0 + 1_000, EXACT)
    assert decision == Decision(Reason.MINUTE, T0 + 60_000)
    assert not decide(state, T0 + 59_999, EXACT).go
    assert decide(state, T0 + 60_000, EXACT).go


def test_padding_holds_each_slot_one_second_longer() -> None:
    assert decide(full_minute(), T0 + 1_000, RateLimits()) == Decision(Reason.MINUTE, T0 + 61_000)


def test_safety_margin_lowers_the_capacity() -> None:
    limits = RateLimits(safety_margin=2, padding_ms=0)
    state = WindowState(calls=tuple(T0 + i for i in range(58)))
    assert decide(state, T0 + 100, limits) == Decision(Reason.MINUTE, T0 + 60_000)
    assert decide(replace(state, calls=state.calls[:57]), T0 + 100, limits).go


def test_when_several_calls_share_an_instant_the_wait_is_for_the_first_to_leave() -> None:
    # Given 30 calls at T0 and 30 at T0 + 5 s: the 30 at T0 all leave at T0 + 60 s
    state = WindowState(calls=(T0,) * 30 + (T0 + 5_000,) * 30)
    assert minute_free_at(state, T0 + 10_000, EXACT) == T0 + 60_000
    assert minute_used(state, T0 + 60_000, EXACT) == 30


def test_minute_used_counts_unseen_calls_until_they_expire() -> None:
    state = WindowState(calls=(T0,), unseen_calls=3, unseen_until=T0 + 30_000)
    assert minute_used(state, T0 + 1, EXACT) == 4
    assert minute_used(state, T0 + 30_000, EXACT) == 1


def test_unseen_calls_can_be_the_binding_limit() -> None:
    # Given 57 of our calls over the last 56 s and 3 unseen ones that leave Xero's window at T0 + 58 s
    calls = tuple(T0 + i * 1_000 for i in range(57))
    state = WindowState(calls=calls, unseen_calls=3, unseen_until=T0 + 58_000)
    # Then the next slot is the unseen calls' expiry, before our first call leaves (T0 + 60 s)
    assert decide(state, T0 + 56_500, EXACT) == Decision(Reason.MINUTE, T0 + 58_000)


def test_unseen_calls_wait_for_the_earliest_sufficient_instant() -> None:
    # Given 55 calls at T0 + 10 s and 10 unseen until T0 + 80 s: 65 taken
    state = WindowState(calls=(T0 + 10_000,) * 55, unseen_calls=10, unseen_until=T0 + 80_000)
    # Then our calls leaving at T0 + 70 s leave only the 10 unseen: free then, not at T0 + 80 s
    assert minute_free_at(state, T0 + 20_000, EXACT) == T0 + 70_000


# --- concurrency ---------------------------------------------------------------------------------------


def test_five_live_leases_wait_for_the_earliest_expiry() -> None:
    leases = {f"l{i}": T0 + 10_000 + i for i in range(5)}
    state = WindowState(leases=leases)
    assert decide(state, T0, EXACT) == Decision(Reason.CONCURRENT, T0 + 10_000)
    assert live_leases(state, T0) == 5


def test_an_expired_lease_frees_its_slot() -> None:
    leases = {"dead": T0 - 1, **{f"l{i}": T0 + 10_000 for i in range(4)}}
    state = WindowState(leases=leases)
    assert live_leases(state, T0) == 4
    assert decide(state, T0, EXACT).go


def test_more_live_leases_than_slots_wait_for_enough_expiries() -> None:
    # Given 7 live leases (a lowered limit), then 3 must expire before a sixth... a fifth slot frees
    leases = {f"l{i}": T0 + 1_000 * (i + 1) for i in range(7)}
    assert concurrency_free_at(WindowState(leases=leases), T0, EXACT) == T0 + 3_000


def test_release_poll_shortens_only_a_concurrency_wait() -> None:
    leases = {f"l{i}": T0 + 30_000 for i in range(5)}
    state = WindowState(leases=leases)
    assert decide(state, T0, EXACT, release_poll_ms=250) == Decision(Reason.CONCURRENT, T0 + 250)
    # A full minute window is exact: the poll does not shorten it
    full = replace(full_minute(), leases=leases)
    assert decide(full, T0 + 1_000, EXACT, release_poll_ms=250) == Decision(Reason.MINUTE, T0 + 60_000)


# --- 429 blocks and the day ----------------------------------------------------------------------------


def test_a_429_block_is_honoured_until_it_ends() -> None:
    state = WindowState(blocked_until=T0 + 5_000)
    assert decide(state, T0, EXACT) == Decision(Reason.BLOCKED, T0 + 5_000)
    assert decide(state, T0 + 5_000, EXACT).go


def test_the_latest_limit_wins() -> None:
    state = replace(full_minute(), blocked_until=T0 + 70_000)
    assert decide(state, T0 + 1_000, EXACT) == Decision(Reason.BLOCKED, T0 + 70_000)
    state = replace(full_minute(), blocked_until=T0 + 5_000)
    assert decide(state, T0 + 1_000, EXACT) == Decision(Reason.MINUTE, T0 + 60_000)


def test_a_day_429_stops_until_retry_after() -> None:
    state = WindowState(day_blocked_until=T0 + 3_600_000)
    assert decide(state, T0, EXACT) == Decision(Reason.DAY, T0 + 3_600_000)
    assert decide(state, T0 + 3_600_000, EXACT).go


def test_our_day_count_stops_at_per_day_until_utc_midnight() -> None:
    state = WindowState(day=utc_day(T0), day_count=5_000)
    decision = decide(state, T0, EXACT)
    assert decision == Decision(Reason.DAY, next_utc_midnight_ms(T0))
    assert decision.at_ms == 1_767_225_600_000 + 86_400_000


def test_yesterdays_count_does_not_stop_today() -> None:
    state = WindowState(day="2025-12-31", day_count=5_000)
    assert decide(state, T0, EXACT).go


def test_utc_day_and_midnight() -> None:
    assert utc_day(T0) == "2026-01-01"
    assert next_utc_midnight_ms(1_767_225_600_000) == 1_767_312_000_000  # midnight itself: the next one
    assert next_utc_midnight_ms(1_767_312_000_000 - 1) == 1_767_312_000_000


# --- prune and admit -----------------------------------------------------------------------------------


def test_prune_forgets_only_what_no_longer_matters() -> None:
    limits = RateLimits()  # retention = 61 s + 30 s
    state = WindowState(
        calls=(T0 - 91_000, T0 - 90_999, T0 - 61_000, T0 - 1),
        leases={"gone": T0, "live": T0 + 1},
        blocked_until=T0,
        day_blocked_until=T0 + 1,
        day="2025-12-31",
        day_count=4_000,
        unseen_calls=2,
        unseen_until=T0,
    )
    pruned = prune(state, T0, limits)
    assert pruned.calls == (T0 - 90_999, T0 - 61_000, T0 - 1)
    assert dict(pruned.leases) == {"live": T0 + 1}
    assert (pruned.blocked_until, pruned.day_blocked_until) == (0, T0 + 1)
    assert (pruned.day, pruned.day_count) == ("2026-01-01", 0)
    assert (pruned.unseen_calls, pruned.unseen_until) == (0, 0)


def test_admit_records_the_call_the_lease_and_the_day() -> None:
    state = WindowState(calls=(T0 + 5,), day=utc_day(T0), day_count=7)
    after = admit(state, T0 + 10, "lease-1", RateLimits(lease_ms=30_000))
    assert after.calls == (T0 + 5, T0 + 10)
    assert dict(after.leases) == {"lease-1": T0 + 30_010}
    assert after.day_count == 8
    assert admit(replace(state, day="2025-12-31"), T0, "x", EXACT).day_count == 1


def test_admit_keeps_calls_sorted_when_clocks_disagree_slightly() -> None:
    after = admit(WindowState(calls=(T0 + 50,)), T0 + 40, "x", EXACT)
    assert after.calls == (T0 + 40, T0 + 50)


# --- X-MinLimit-Remaining ------------------------------------------------------------------------------


def test_no_unseen_calls_when_xero_agrees_with_us() -> None:
    calls = [T0 + i * 100 for i in range(10)]
    assert (
        unseen_calls(
            calls, call_started_ms=calls[-1], observed_ms=T0 + 1_500, minute_remaining=50, limits=EXACT
        )
        == 0
    )


def test_unseen_calls_when_xero_counts_more() -> None:
    calls = [T0 + i * 100 for i in range(10)]
    count = unseen_calls(
        calls, call_started_ms=calls[-1], observed_ms=T0 + 1_500, minute_remaining=45, limits=EXACT
    )
    assert count == 5


def test_unseen_estimate_counts_every_call_xero_could_have_seen() -> None:
    # Our calls from up to one span before the call started count as "ours", even if they left our window.
    calls = [T0 - 59_000, T0]
    count = unseen_calls(calls, call_started_ms=T0, observed_ms=T0 + 2_000, minute_remaining=58, limits=EXACT)
    assert count == 0
    # A call older than that cannot have been in Xero's window.
    count = unseen_calls(
        [T0 - 61_000, T0], call_started_ms=T0, observed_ms=T0 + 2_000, minute_remaining=58, limits=EXACT
    )
    assert count == 1


def test_fewer_calls_at_xero_than_ours_is_not_negative() -> None:
    calls = [T0 + i for i in range(30)]
    assert (
        unseen_calls(calls, call_started_ms=T0 + 29, observed_ms=T0 + 100, minute_remaining=59, limits=EXACT)
        == 0
    )


# --- properties (seeded random, no extra dependency) ----------------------------------------------------


def random_state(rng: random.Random, now: int) -> WindowState:
    calls = tuple(sorted(now - rng.randrange(0, 95_000) for _ in range(rng.randrange(0, 75))))
    leases = {f"l{i}": now + rng.randrange(-5_000, 30_000) for i in range(rng.randrange(0, 8))}
    unseen = rng.choice([0, 0, rng.randrange(1, 10)])
    return WindowState(
        calls=calls,
        leases=leases,
        blocked_until=rng.choice([0, now + rng.randrange(-1_000, 20_000)]),
        day=utc_day(now),
        day_count=rng.randrange(0, 100),
        unseen_calls=unseen,
        unseen_until=now + rng.randrange(1, 60_000) if unseen else 0,
    )


@pytest.mark.parametrize("seed", range(400))
def test_a_wait_ends_exactly_when_every_limit_allows(seed: int) -> None:
    rng = random.Random(seed)
    limits = RateLimits(padding_ms=rng.choice([0, 1_000]), safety_margin=rng.choice([0, 3]))
    now = T0 + rng.randrange(0, 10_000)
    state = random_state(rng, now)
    decision = decide(state, now, limits)
    if decision.go:
        assert minute_used(state, now, limits) < limits.minute_capacity
        assert live_leases(state, now) < limits.concurrent
        return
    assert decision.at_ms > now
    assert decide(state, decision.at_ms, limits).go  # free then...
    assert not decide(state, decision.at_ms - 1, limits).go  # ...and not a millisecond before


@pytest.mark.parametrize("seed", range(200))
def test_pruning_never_changes_a_decision(seed: int) -> None:
    rng = random.Random(1_000 + seed)
    limits = RateLimits(padding_ms=rng.choice([0, 1_000]))
    now = T0 + rng.randrange(0, 10_000)
    state = random_state(rng, now)
    assert decide(prune(state, now, limits), now, limits) == decide(state, now, limits)


@pytest.mark.parametrize("seed", range(20))
def test_greedy_callers_run_at_the_limit_and_never_over_it(seed: int) -> None:
    # Given callers that start a call whenever decide() allows, each call lasting a random time
    rng = random.Random(seed)
    limits = RateLimits(padding_ms=0)
    now, state = T0, WindowState()
    starts: list[int] = []
    intervals: list[tuple[int, int]] = []
    ends: dict[str, int] = {}
    while len(starts) < 200:
        # release every call that has ended by now
        leases = {k: v for k, v in state.leases.items() if ends[k] > now}
        state = prune(replace(state, leases=leases), now, limits)
        decision = decide(state, now, limits)
        if decision.go:
            lease_id = f"c{len(starts)}"
            duration = rng.randrange(100, 3_000)
            ends[lease_id] = now + duration
            state = admit(state, now, lease_id, limits)
            starts.append(now)
            intervals.append((now, now + duration))
            continue
        pending_ends = [e for k, e in ends.items() if k in state.leases and e > now]
        now = min([decision.at_ms, *pending_ends])
    # Then no rolling 60 s holds more than 60 calls, nor any instant more than 5
    for i in range(len(starts) - 60):
        assert starts[i + 60] - starts[i] >= 60_000
    for start, _ in intervals:
        assert sum(1 for s, e in intervals if s <= start < e) <= 5
    # And no slot is ever left idle: each call starts with the previous one, the instant the window frees,
    # or the instant a call ends and frees a concurrency slot
    ends_at = {e for _, e in intervals}
    for i in range(60, len(starts)):
        assert starts[i] in {starts[i - 1], starts[i - 60] + 60_000} | ends_at
