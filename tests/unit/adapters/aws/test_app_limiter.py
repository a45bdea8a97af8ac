"""The app-wide limiter on moto: sharded buckets, priorities, X-AppMinLimit-Remaining, app-minute 429s, and
its place beside the per-tenant limiter in every metered attempt."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from moto import mock_aws

from tests.support.tables import create_template_table
from tests.unit.adapters.aws.test_rate_limiter import TABLE, FakeClock, item, make_limiter
from xero_bridge.adapters.aws.app_limiter import (
    AppGrant,
    AppLimiter,
    AppWait,
    DynamoDBBudgetStore,
    InMemoryBudgetStore,
)
from xero_bridge.adapters.xero.metered import LimiterAttempts
from xero_bridge.domain.app_budget import AppLimits, Priority, catch_up_interval_seconds
from xero_bridge.errors import RateLimitWaitExceeded

#: 600 a minute less 10 %: 9 calls a second over 3 shards of 3 (ceilings: sync 1, catch-up 2, urgent 3).
SMALL = AppLimits(per_minute=600, shards=3)


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_template_table(client, "ConnectionsTable", TABLE)
        yield client


def app_limiter(client: Any, clock: FakeClock, limits: AppLimits = SMALL, seed: int = 1) -> AppLimiter:
    return AppLimiter(
        DynamoDBBudgetStore(TABLE, client=client),
        limits=limits,
        clock=clock,
        sleep=clock.sleep,
        tries=limits.shards,
        rng=random.Random(seed),
    )


def granted_per_bucket(client: Any) -> Counter[str]:
    items = client.scan(TableName=TABLE)["Items"]
    counts: Counter[str] = Counter()
    for row in items:
        if row["pk"]["S"].startswith("RATE#APP#"):
            counts[row["sk"]["S"]] += int(row["n"]["N"])
    return counts


# --- the arithmetic --------------------------------------------------------------------------------------


def test_default_budget_cannot_exceed_xeros_app_minute() -> None:
    limits = AppLimits()
    assert limits.budget_per_minute == 9_000
    assert limits.bucket_budget == 150
    assert limits.worst_case_per_window() == 9_300
    assert limits.worst_case_per_window() <= limits.per_minute
    assert [limits.cap(0, p) for p in Priority] == [15, 12, 9]


def test_a_configuration_that_could_exceed_the_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="could reach Xero"):
        AppLimits(headroom=0.0)
    with pytest.raises(ValueError, match="could reach Xero"):
        AppLimits(headroom=0.05, bucket_ms=5_000)


def test_squeeze_pauses_syncs_then_catch_ups() -> None:
    limits = AppLimits()
    assert limits.squeeze_level(800) == 0
    assert [limits.cap(0, p, limits.squeeze_level(400)) for p in Priority] == [15, 6, 0]
    assert [limits.cap(0, p, limits.squeeze_level(100)) for p in Priority] == [7, 0, 0]


def test_catch_up_interval_grows_with_the_tenants() -> None:
    limits = AppLimits()
    interval = [
        catch_up_interval_seconds(n, calls_per_catch_up=7, limits=limits) for n in (100, 1_000, 10_000)
    ]
    assert interval[:2] == [300, 300]
    assert interval[2] == 1_200  # 70,000 calls at half of the catch-ups' 7,200 a minute
    # and the pace it sets never asks for more than the share
    assert 10_000 * 7 / (interval[2] / 60) <= limits.priority_budget_per_minute(Priority.CATCH_UP) * 0.5


# --- the buckets on DynamoDB ------------------------------------------------------------------------------


def test_one_second_grants_at_most_its_budget_across_shards(dynamodb: Any) -> None:
    clock = FakeClock()
    limiter = app_limiter(dynamodb, clock)
    answers = [limiter.try_acquire(Priority.URGENT) for _ in range(20)]
    assert sum(isinstance(a, AppGrant) for a in answers) == SMALL.bucket_budget == 9
    assert len({a.shard for a in answers if isinstance(a, AppGrant)}) == 3  # spread over every shard
    wait = answers[-1]
    assert isinstance(wait, AppWait) and wait.reason == "budget"
    assert wait.at_ms == (int(clock.now * 1000) // 1000 + 1) * 1000  # the next bucket
    clock.advance(1)
    assert isinstance(limiter.try_acquire(Priority.URGENT), AppGrant)
    assert max(granted_per_bucket(dynamodb).values()) == 9


def test_two_containers_share_one_budget(dynamodb: Any) -> None:
    clock = FakeClock()
    first, second = app_limiter(dynamodb, clock, seed=1), app_limiter(dynamodb, clock, seed=2)
    grants = sum(
        isinstance(lim.try_acquire(Priority.URGENT), AppGrant) for _ in range(10) for lim in (first, second)
    )
    assert grants == 9


def test_lower_priorities_leave_the_rest_of_each_bucket_to_higher_ones(dynamodb: Any) -> None:
    # Given initial syncs asking for far more than the budget
    clock = FakeClock()
    limiter = app_limiter(dynamodb, clock)
    syncs = sum(isinstance(limiter.try_acquire(Priority.SYNC), AppGrant) for _ in range(20))
    # Then they get their ceiling only, catch-ups the next share, exports and webhooks the rest
    catch_ups = sum(isinstance(limiter.try_acquire(Priority.CATCH_UP), AppGrant) for _ in range(20))
    urgent = sum(isinstance(limiter.try_acquire(Priority.URGENT), AppGrant) for _ in range(20))
    assert (syncs, catch_ups, urgent) == (3, 3, 3)


def test_a_low_app_minute_remaining_squeezes_every_container(dynamodb: Any) -> None:
    clock = FakeClock()
    seen_by, other = app_limiter(dynamodb, clock, seed=1), app_limiter(dynamodb, clock, seed=2)
    other.signal()  # the other container read the signal before the low reading
    seen_by.observe(int(SMALL.per_minute * SMALL.squeeze_below) - 1)
    sync = seen_by.try_acquire(Priority.SYNC)
    assert isinstance(sync, AppWait) and sync.reason == "squeezed"
    assert isinstance(seen_by.try_acquire(Priority.URGENT), AppGrant)
    clock.advance(1.0)  # its cached signal is a second old: it reads the new one
    assert isinstance(other.try_acquire(Priority.SYNC), AppWait)
    clock.advance(SMALL.squeeze_ms / 1000)  # the squeeze ends when no low reading renews it
    assert isinstance(other.try_acquire(Priority.SYNC), AppGrant)


def test_an_app_minute_429_stops_every_call_until_retry_after(dynamodb: Any) -> None:
    clock = FakeClock()
    limiter = app_limiter(dynamodb, clock)
    limiter.note_app_limited(12)
    answer = limiter.try_acquire(Priority.URGENT)
    assert isinstance(answer, AppWait) and answer.reason == "appminute"
    with pytest.raises(RateLimitWaitExceeded) as raised:
        limiter.acquire(Priority.URGENT, tenant_id="t-1", max_wait=5)
    assert raised.value.reason == "appminute"
    grant = limiter.acquire(Priority.URGENT, tenant_id="t-1")  # waits it out
    assert grant.at_ms >= int((clock.now - 0.5) * 1000) and sum(clock.sleeps) >= 12


def test_the_in_memory_store_behaves_as_dynamodb(dynamodb: Any) -> None:
    results = []
    for store in (DynamoDBBudgetStore(TABLE, client=dynamodb), InMemoryBudgetStore()):
        clock = FakeClock()
        limiter = AppLimiter(store, limits=SMALL, clock=clock, sleep=clock.sleep, rng=random.Random(3))
        answers = []
        for step in range(60):
            answer = limiter.try_acquire(Priority(step % 3))
            answers.append(type(answer).__name__)
            clock.advance(0.05)
        results.append(answers)
    assert results[0] == results[1]


# --- beside the per-tenant limiter -------------------------------------------------------------------


def response(status: int = 200, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, headers=headers or {})


def test_an_attempt_takes_the_tenants_slot_then_the_apps(dynamodb: Any) -> None:
    clock = FakeClock()
    tenants, app = make_limiter(dynamodb, clock), app_limiter(dynamodb, clock)
    attempts = LimiterAttempts(tenants, "t-1", app=app, priority=Priority.URGENT)
    with attempts.attempt() as observe:
        observe(response(headers={"X-AppMinLimit-Remaining": "9000"}))
    assert attempts.calls == 1 and app.granted == 1
    assert item(dynamodb, "t-1")["calls"]["S"]


def test_no_app_budget_gives_the_tenants_slot_back(dynamodb: Any) -> None:
    # Given a second whose sync share is spent
    clock = FakeClock()
    tenants, app = make_limiter(dynamodb, clock), app_limiter(dynamodb, clock)
    while isinstance(app.try_acquire(Priority.SYNC), AppGrant):
        pass
    app.note_app_limited(30)
    # When a sync's attempt may wait only 5 s
    attempts = LimiterAttempts(tenants, "t-1", app=app, priority=Priority.SYNC, max_wait=lambda: 5.0)
    with pytest.raises(RateLimitWaitExceeded), attempts.attempt():
        pass
    # Then the tenant's window holds no call of it, and no lease
    state = item(dynamodb, "t-1")
    assert state.get("calls", {}).get("S", "") == ""
    assert state.get("leases", {}).get("M", {}) == {}


def test_an_app_minute_429_blocks_the_app_not_the_tenant(dynamodb: Any) -> None:
    clock = FakeClock()
    tenants, app = make_limiter(dynamodb, clock), app_limiter(dynamodb, clock)
    attempts = LimiterAttempts(tenants, "t-1", app=app, priority=Priority.URGENT)
    with attempts.attempt() as observe:
        observe(response(429, {"X-Rate-Limit-Problem": "appminute", "Retry-After": "20"}))
    assert attempts.rate_limited == 1
    assert app.signal().blocked_until == int(clock.now * 1000) + 20_000
    assert "blocked_until" not in item(dynamodb, "t-1")
    assert tenants.status("t-2").blocked_until is None
    assert isinstance(app.try_acquire(Priority.URGENT), AppWait)


def test_a_peek_sees_a_spent_bucket_without_taking_anything(dynamodb: Any) -> None:
    clock = FakeClock()
    limiter = app_limiter(dynamodb, clock, limits=AppLimits(per_minute=600, shards=1))
    assert limiter.peek(Priority.SYNC) is None
    while isinstance(limiter.try_acquire(Priority.SYNC), AppGrant):
        pass
    full = limiter.peek(Priority.SYNC)
    assert isinstance(full, AppWait) and full.reason == "budget"
    assert limiter.peek(Priority.URGENT) is None  # the rest of the bucket is the others'
    assert granted_per_bucket(dynamodb).total() == 5  # peeks took nothing


def test_catch_ups_refused_make_the_syncs_give_way(dynamodb: Any) -> None:
    # Given a bucket the syncs and catch-ups filled to their ceilings
    clock = FakeClock()
    limits = AppLimits(per_minute=1_200, shards=1)  # 18 a second: syncs 11, catch-ups 15
    limiter = app_limiter(dynamodb, clock, limits=limits)
    for priority in (Priority.SYNC, Priority.CATCH_UP):
        while isinstance(limiter.try_acquire(priority), AppGrant):
            pass
    # When the next second comes, the syncs' ceiling is halved while the catch-ups are short
    clock.advance(1)
    signal = limiter.signal()
    assert signal.pressure(int(clock.now * 1000)) is Priority.CATCH_UP
    syncs = sum(isinstance(limiter.try_acquire(Priority.SYNC), AppGrant) for _ in range(20))
    assert syncs == limits.cap(0, Priority.SYNC, 0, Priority.CATCH_UP) == 5
    clock.advance(limits.squeeze_ms / 1000 + 1)  # and recovers once they are no longer refused
    assert sum(isinstance(limiter.try_acquire(Priority.SYNC), AppGrant) for _ in range(20)) == 11
