"""The DynamoDB rate limiter on moto: minute window, concurrency, expired leases, 429s, the day, tenants."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, cast

import boto3
import pytest
from moto import mock_aws

from tests.support.atomic_dynamodb import FairLock, SerializedClient
from tests.support.tables import create_template_table
from xero_bridge.adapters.aws.rate_limiter import DynamoDBRateLimiter, Lease, pack_calls, unpack_calls
from xero_bridge.domain.rate_window import RateLimits
from xero_bridge.errors import DailyLimitReached, RateLimitWaitExceeded

TABLE = "xero-bridge-connections"
START = 1_767_225_600.0 + 3_600.0  # 2026-01-01T01:00:00Z
EXACT = RateLimits(padding_ms=0)


class FakeClock:
    """Limiter time that moves only when the limiter sleeps (or the test says so)."""

    def __init__(self, start: float = START) -> None:
        self.now = start
        self.sleeps: list[float] = []
        self.on_sleep: Callable[[], None] | None = None

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += max(0.0, seconds)
        if self.on_sleep is not None:
            self.on_sleep()


@pytest.fixture
def raw_client() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("dynamodb", region_name="eu-west-1")
        create_template_table(client, "ConnectionsTable", TABLE)
        yield client


@pytest.fixture
def client(raw_client: Any) -> SerializedClient:
    return SerializedClient(raw_client)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make_limiter(
    client: Any, clock: FakeClock, limits: RateLimits = EXACT, **kwargs: Any
) -> DynamoDBRateLimiter:
    return DynamoDBRateLimiter(
        TABLE, client=client, limits=limits, clock=clock, sleep=clock.sleep, jitter_seconds=0, **kwargs
    )


def item(raw_client: Any, tenant_id: str) -> dict[str, Any]:
    key = {"pk": {"S": f"RATE#{tenant_id}"}, "sk": {"S": "LIMITER"}}
    return raw_client.get_item(TableName=TABLE, Key=key, ConsistentRead=True).get("Item", {})


def ms(seconds: float) -> int:
    return int(seconds * 1000)


# --- construction and encoding -------------------------------------------------------------------------


def test_no_client_is_built_until_first_use(raw_client: Any) -> None:
    limiter = DynamoDBRateLimiter(TABLE)
    assert limiter._client_instance is None
    limiter.acquire("tenant-a").release()  # built now, inside moto
    assert limiter._client_instance is not None


def test_a_scale_and_an_explicit_clock_are_exclusive(clock: FakeClock) -> None:
    with pytest.raises(ValueError):
        DynamoDBRateLimiter(TABLE, clock=clock, time_scale=60)


def test_the_scaled_clock_runs_faster_and_every_limiter_agrees() -> None:
    fast, other = DynamoDBRateLimiter(TABLE, time_scale=60), DynamoDBRateLimiter(TABLE, time_scale=60)
    before = fast.now()
    time.sleep(0.05)
    assert 2.9 < fast.now() - before < 6.0
    assert abs(fast.now() - other.now()) < 0.5


def test_a_scaled_clock_keeps_the_real_time_allowances_real() -> None:
    # The padding (latency from grant to Xero) and the lease (HTTP timeout) are real seconds: under a clock
    # three times faster they are three times longer in the limiter's time, the same in real time.
    real = DynamoDBRateLimiter(TABLE).limits
    scaled = DynamoDBRateLimiter(TABLE, time_scale=3).limits
    assert (scaled.padding_ms, scaled.lease_ms) == (3 * real.padding_ms, 3 * real.lease_ms)
    assert (scaled.window_ms, scaled.per_minute, scaled.concurrent) == (
        real.window_ms,
        real.per_minute,
        real.concurrent,
    )


@pytest.mark.parametrize(
    "calls", [[], [1_767_229_200_000], [1_767_229_200_000, 1_767_229_200_000, 1_767_229_260_999]]
)
def test_calls_pack_and_unpack(calls: list[int]) -> None:
    assert unpack_calls(pack_calls(calls)) == calls
    assert pack_calls([1_000, 2_200, 1_015]) == "1000,15,1200"


# --- the minute window ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("padding_ms", "expected_gap_ms"), [(0, 60_000), (1_000, 61_000)])
def test_the_61st_call_waits_until_exactly_one_window_after_the_first(
    client: SerializedClient, clock: FakeClock, padding_ms: int, expected_gap_ms: int
) -> None:
    limiter = make_limiter(client, clock, RateLimits(padding_ms=padding_ms))
    # Given 60 calls in the first simulated second
    starts = []
    for _ in range(60):
        with limiter.slot("tenant-a") as lease:
            starts.append(lease.started_ms)
        clock.advance(0.016)
    assert clock.sleeps == []
    assert starts[-1] - starts[0] < 1_000
    # When the 61st asks for a slot
    with limiter.slot("tenant-a") as lease:
        # Then it waited, once, until exactly one window after the first call
        assert lease.started_ms == starts[0] + expected_gap_ms
    assert len(clock.sleeps) == 1


def test_calls_spaced_out_never_wait(client: SerializedClient, clock: FakeClock) -> None:
    limiter = make_limiter(client, clock, RateLimits())
    for _ in range(90):
        with limiter.slot("tenant-a"):
            clock.advance(1.02)
    assert clock.sleeps == []


def test_a_full_window_with_max_wait_hands_back_the_retry_time(
    client: SerializedClient, clock: FakeClock
) -> None:
    limiter = make_limiter(client, clock)
    for _ in range(60):
        limiter.acquire("tenant-a").release()
    with pytest.raises(RateLimitWaitExceeded) as caught:
        limiter.acquire("tenant-a", max_wait=10)
    assert caught.value.retry_at == datetime.fromtimestamp(START + 60, tz=UTC)
    assert caught.value.reason == "minute"
    assert clock.sleeps == []


# --- concurrency ---------------------------------------------------------------------------------------


def test_five_in_flight_then_the_sixth_waits_for_a_release(
    client: SerializedClient, clock: FakeClock
) -> None:
    limiter = make_limiter(client, clock, release_poll_seconds=0.25)
    # Given five calls in flight
    leases = [limiter.acquire("tenant-a") for _ in range(5)]
    assert limiter.status("tenant-a").in_flight == 5
    # When a sixth asks while the first finishes during its wait
    clock.on_sleep = leases[0].release
    sixth = limiter.acquire("tenant-a")
    # Then it got the freed slot at its first look, long before any lease expired
    assert clock.sleeps == [0.25]
    assert sixth.started_ms == ms(START + 0.25)
    assert sixth.started_ms < leases[1].expires_ms
    assert limiter.status("tenant-a").in_flight == 5


def test_an_expired_lease_frees_its_slot(client: SerializedClient, clock: FakeClock, raw_client: Any) -> None:
    limiter = make_limiter(client, clock, RateLimits(lease_ms=30_000), release_poll_seconds=5)
    # Given five calls whose Lambdas crashed: their leases are never released
    crashed = [limiter.acquire("tenant-a") for _ in range(5)]
    # When a sixth asks, nobody ever releases
    sixth = limiter.acquire("tenant-a")
    # Then it started the moment the first lease expired, and the expired leases are gone from the item
    assert sixth.started_ms == crashed[0].expires_ms
    assert set(item(raw_client, "tenant-a")["leases"]["M"]) == {sixth.lease_id}
    assert sum(clock.sleeps) == pytest.approx(30.0)


def test_release_is_idempotent_and_never_raises(
    client: SerializedClient, clock: FakeClock, raw_client: Any
) -> None:
    limiter = make_limiter(client, clock)
    lease = limiter.acquire("tenant-a")
    raw_client.delete_item(TableName=TABLE, Key={"pk": {"S": "RATE#tenant-a"}, "sk": {"S": "LIMITER"}})
    lease.release()
    lease.release()
    assert lease.released
    assert item(raw_client, "tenant-a") == {}  # the release did not recreate the item


def test_a_slot_is_released_when_the_call_raises(client: SerializedClient, clock: FakeClock) -> None:
    limiter = make_limiter(client, clock)
    with pytest.raises(TimeoutError), limiter.slot("tenant-a"):
        raise TimeoutError
    assert limiter.status("tenant-a").in_flight == 0


# --- Xero's 429s and the day ---------------------------------------------------------------------------


@pytest.mark.parametrize("problem", ["minute", "concurrent", "appminute", "something-new"])
def test_a_429_blocks_every_caller_until_retry_after(
    client: SerializedClient, clock: FakeClock, problem: str
) -> None:
    limiter = make_limiter(client, clock)
    other_lambda = make_limiter(client, clock)
    with limiter.slot("tenant-a") as lease:
        until = lease.note_rate_limited(problem, 7)
    assert until == datetime.fromtimestamp(START + 7, tz=UTC)
    with other_lambda.slot("tenant-a") as lease:
        assert lease.started_ms == ms(START + 7)
    assert clock.sleeps == [7.0]


def test_an_earlier_429_does_not_shorten_a_later_block(client: SerializedClient, clock: FakeClock) -> None:
    limiter = make_limiter(client, clock)
    limiter.note_rate_limited("tenant-a", "minute", 30)
    limiter.note_rate_limited("tenant-a", "minute", 2)
    assert limiter.status("tenant-a").blocked_until == datetime.fromtimestamp(START + 30, tz=UTC)


def test_a_day_429_raises_daily_limit_reached_with_the_reset_time(
    client: SerializedClient, clock: FakeClock
) -> None:
    limiter = make_limiter(client, clock)
    limiter.note_rate_limited("tenant-a", "day", 3_600)
    with pytest.raises(DailyLimitReached) as caught:
        limiter.acquire("tenant-a")
    assert caught.value.resets_at == datetime.fromtimestamp(START + 3_600, tz=UTC)
    assert caught.value.tenant_id == "tenant-a"
    assert clock.sleeps == []
    # After the reset, calls resume
    clock.advance(3_600)
    limiter.acquire("tenant-a").release()


def test_our_day_count_stops_at_per_day_until_utc_midnight(
    client: SerializedClient, clock: FakeClock
) -> None:
    limiter = make_limiter(client, clock, RateLimits(per_day=3))
    for _ in range(3):
        limiter.acquire("tenant-a").release()
    with pytest.raises(DailyLimitReached) as caught:
        limiter.acquire("tenant-a")
    assert caught.value.resets_at == datetime(2026, 1, 2, tzinfo=UTC)
    assert limiter.status("tenant-a").calls_today == 3


# --- quota headers -------------------------------------------------------------------------------------


def test_quota_headers_are_written_with_the_release(client: SerializedClient, clock: FakeClock) -> None:
    limiter = make_limiter(client, clock)
    with limiter.slot("tenant-a") as lease:
        clock.advance(0.4)
        lease.record_quota(minute_remaining=59, day_remaining=4_999, app_minute_remaining=9_999)
    # one read and one write to take the slot, one write to release it and store the quota
    assert client.calls == Counter({"get_item": 1, "update_item": 2})
    status = limiter.status("tenant-a")
    assert (status.minute_remaining, status.day_remaining, status.app_minute_remaining) == (59, 4_999, 9_999)
    assert status.quota_observed_at == datetime.fromtimestamp(START + 0.4, tz=UTC)
    assert (status.calls_last_minute, status.in_flight, status.calls_today) == (1, 0, 1)


def test_xero_counting_more_calls_than_the_window_is_trusted(
    client: SerializedClient, clock: FakeClock
) -> None:
    limiter = make_limiter(client, clock)
    # Given 10 calls we recorded, and Xero saying after the 10th that only 40 remain (20 used)
    for i in range(10):
        with limiter.slot("tenant-a") as lease:
            if i == 9:
                lease.record_quota(minute_remaining=40)
        clock.advance(0.1)
    # Then the limiter counts the 10 calls it never saw
    assert limiter.status("tenant-a").calls_last_minute == 20
    # And lets only 40 more start before a wait
    for _ in range(40):
        limiter.acquire("tenant-a").release()
    assert clock.sleeps == []
    with limiter.slot("tenant-a") as lease:
        # (our window alone holds 50 calls and would have let this one start at once)
        assert lease.started_ms == ms(START) + 60_000
    # And the unseen calls stop counting when they have surely left Xero's window
    clock.now = START + 0.9 + 60
    assert limiter.status("tenant-a").calls_last_minute == 41


def test_xero_counting_fewer_calls_changes_nothing(client: SerializedClient, clock: FakeClock) -> None:
    limiter = make_limiter(client, clock)
    with limiter.slot("tenant-a") as lease:
        lease.record_quota(minute_remaining=59)
    writes = client.calls["update_item"]
    limiter.record_quota("tenant-a", minute_remaining=60, day_remaining=5_000)
    assert client.calls["update_item"] == writes + 1  # the quota only: no unseen-calls write
    assert limiter.status("tenant-a").calls_last_minute == 1


# --- several Lambdas, several tenants ------------------------------------------------------------------


def test_tenants_do_not_interfere(client: SerializedClient, clock: FakeClock) -> None:
    limiter = make_limiter(client, clock)
    # Given tenant A with a full window, five calls in flight and a 429 block
    for _ in range(55):
        limiter.acquire("tenant-a").release()
    held = [limiter.acquire("tenant-a") for _ in range(5)]
    limiter.note_rate_limited("tenant-a", "minute", 60)
    # Then tenant B still gets 60 calls at once
    for _ in range(60):
        limiter.acquire("tenant-b").release()
    assert clock.sleeps == []
    assert limiter.status("tenant-b").calls_last_minute == 60
    assert limiter.status("tenant-a").in_flight == len(held)


def test_a_lost_race_is_retried_at_once(raw_client: Any, clock: FakeClock) -> None:
    lock = FairLock()
    first_lambda_client = SerializedClient(raw_client, lock)
    first = make_limiter(first_lambda_client, clock)
    second = make_limiter(SerializedClient(raw_client, lock), clock)
    first.acquire("tenant-a").release()
    # Given the second Lambda takes a slot between the first one's read and its write
    second_lease: list[Lease] = []
    first_lambda_client.before["update_item"] = lambda: second_lease.append(second.acquire("tenant-a"))
    lease = first.acquire("tenant-a")
    # Then the first one's conditional write failed, and it succeeded on its next try without a new read
    assert first_lambda_client.calls == Counter({"get_item": 2, "update_item": 4})
    assert clock.sleeps == []
    status = first.status("tenant-a")
    assert (status.calls_last_minute, status.in_flight) == (3, 2)
    assert lease.lease_id != second_lease[0].lease_id


def test_two_lambdas_with_threads_never_exceed_xeros_limits(raw_client: Any) -> None:
    """Real threads on a real clock scaled 60x: a simulated minute lasts one second."""
    lock = FairLock()
    lambdas = [
        DynamoDBRateLimiter(TABLE, client=cast(Any, SerializedClient(raw_client, lock)), time_scale=60)
        for _ in range(2)
    ]
    total_calls = 100
    starts: list[float] = []
    intervals: list[tuple[float, float]] = []
    in_flight = 0
    max_in_flight = 0
    record = threading.Lock()
    remaining = iter(range(total_calls))

    def fake_xero(limiter: DynamoDBRateLimiter) -> None:
        nonlocal in_flight, max_in_flight
        with record:
            arrived = limiter.now()
            in_flight += 1
            max_in_flight = max(max_in_flight, in_flight)
            starts.append(arrived)
        time.sleep(0.5 / 60)  # a call lasting half a simulated second
        with record:
            in_flight -= 1
            intervals.append((arrived, limiter.now()))

    def worker(limiter: DynamoDBRateLimiter) -> None:
        while True:
            with record:
                if next(remaining, None) is None:
                    return
            with limiter.slot("tenant-a"):
                fake_xero(limiter)

    threads = [threading.Thread(target=worker, args=(lam,)) for lam in lambdas for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert not any(thread.is_alive() for thread in threads)

    starts.sort()
    assert len(starts) == total_calls
    assert max_in_flight <= 5
    # every rolling 60 simulated seconds holds at most 60 calls, as Xero counts them (on arrival)
    assert min(starts[i + 60] - starts[i] for i in range(total_calls - 60)) >= 60.0
    # and the 61st call waited for the window (pacing is measured by tests/bench/bench_rate_limiter.py:
    # here moto, 60x slower in simulated time than DynamoDB, bounds the pace)
    assert starts[60] - starts[0] >= 60.0
