"""A scale simulation of one Xero app shared by many organisations: the real limiter and scheduling code on a
simulated clock, against a simulated Xero, with no network and no AWS.

What is real
------------
- The per-tenant limiter's arithmetic (:mod:`xero_bridge.domain.rate_window`: ``prune``, ``decide``,
  ``admit``), one window per tenant, as :class:`~xero_bridge.adapters.aws.rate_limiter.DynamoDBRateLimiter`
  keeps it in its item.
- The app-wide limiter, :class:`~xero_bridge.adapters.aws.app_limiter.AppLimiter` itself, over
  :class:`~xero_bridge.adapters.aws.app_limiter.InMemoryBudgetStore` (the DynamoDB store's semantics in a
  dict, counting requests); one instance per simulated Lambda container, as in AWS.
- How an attempt takes both (``LimiterAttempts._slot`` step by step: the tenant's slot, then the app's unit
  within ``APP_HOLD_SECONDS``, else the tenant's slot cancelled and a wait; a late grant re-stamped) and
  reads Xero's answer (``X-AppMinLimit-Remaining`` to ``AppLimiter.observe``, an app-minute 429 to
  ``note_app_limited``, other 429s to the tenant).
- The catch-up schedule: :class:`~xero_bridge.services.catch_up.fan_out.RequestCatchUps` fans out on every
  tick over in-memory fakes of its ports.
- Xero's limits: the emulator's own :class:`xero_emulator.ratelimit.RateLimiter` (60 a minute, 5 at once per
  tenant, the app's minute) on the simulated clock, answering 429s and the remaining-quota headers.

What is modelled
----------------
The flows, as the template runs them: webhook deliveries fetched by the change fetcher (one call, a fifth
with a second for the invoice's payments), payments exported by as many exporters as the template's
``MaximumConcurrency`` allows, taking up to 50 messages at a time, grouped by tenant (``GET /Invoices`` then
``PUT /Payments``), catch-ups by as many catch-up Lambdas as the template allows (one call per resource),
initial syncs of a wave of new connections (the planner's calls, then the pages 5 at a time). Each Xero
call takes 150-700 ms. Lambda time limits are not modelled (a wait simply continues), nor DynamoDB latency.
"""

from __future__ import annotations

import heapq
import itertools
import math
import random
import statistics
import uuid
from collections import Counter, defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from tests.unit.services.sync.fakes import FakeConnections
from tests.unit.services.webhooks.fakes import FakeCatchUps, FakeCatchUpStates
from tools.local_stack.template import load_yaml
from xero_bridge.adapters.aws.app_limiter import AppGrant, AppLimiter, InMemoryBudgetStore
from xero_bridge.adapters.xero.metered import APP_HOLD_SECONDS
from xero_bridge.domain.app_budget import AppLimits, Priority
from xero_bridge.domain.rate_window import RateLimits, Reason, WindowState, admit, decide, prune
from xero_bridge.models.connection import ConnectionStatus, XeroConnection
from xero_bridge.models.sync import CURSOR_RESOURCES
from xero_bridge.services.catch_up.fan_out import RequestCatchUps
from xero_emulator.ratelimit import LimitSettings
from xero_emulator.ratelimit import RateLimiter as XeroLimits

ROOT = Path(__file__).resolve().parents[2]
START_S = 1_767_225_600.0  # 2026-01-01T00:00:00Z
PLAN_CALLS = 13  # the planner: page 1 of each partition of both parts, the bank accounts, the Organisation


@dataclass
class ScaleConfig:
    """One run: how many organisations, for how long, doing what."""

    orgs: int
    minutes: float = 30.0
    new_connections: float = 0.10  # share of the orgs connecting (initial syncs) during the wave
    min_new_connections: int = 5
    wave_minutes: float = 10.0
    sync_pages_mean: float = 100.0  # pages beyond the planner's, per initial sync (exponential, at most 400)
    webhooks_per_org_hour: float = 6.0
    exports_per_org_hour: float = 2.0
    limits: AppLimits = field(default_factory=AppLimits)
    tenant_limits: RateLimits = field(default_factory=RateLimits)
    catch_up_tick_minutes: int = 5
    catch_up_share: float = 0.5
    catch_up_concurrency: int = field(default_factory=lambda: template_concurrency("CatchUpFunction"))
    exporter_concurrency: int = field(default_factory=lambda: template_concurrency("PaymentExporterFunction"))
    containers: int = 64
    outside: tuple[float, float, int] | None = (
        None  # (from minute, to minute, calls a minute) of another client
    )
    call_ms: tuple[int, int] = (150, 700)
    seed: int = 7


@dataclass
class ScaleResult:
    config: ScaleConfig
    calls: int = 0
    outside_calls: int = 0
    max_app_window: int = 0  # the most of our calls in any rolling 60 s
    max_total_window: int = 0  # ours and the outside client's
    per_minute: list[int] = field(default_factory=list)
    rate_limited: Counter[str] = field(default_factory=Counter)
    tenants_429: int = 0
    catch_up_lag_s: list[float] = field(default_factory=list)
    catch_up_interval_s: int = 0
    catch_ups_done: int = 0
    catch_ups_skipped: int = 0
    export_latency_s: list[float] = field(default_factory=list)
    webhook_latency_s: list[float] = field(default_factory=list)
    sync_time_s: list[float] = field(default_factory=list)
    sync_seconds_per_call: list[float] = field(default_factory=list)
    syncs_started: int = 0
    dynamodb_requests: int = 0
    calls_by_priority: Counter[str] = field(default_factory=Counter)
    cancelled_slots: int = 0

    def figures(self) -> dict[str, Any]:
        return {
            "orgs": self.config.orgs,
            "simulated_minutes": self.config.minutes,
            "xero_calls": self.calls,
            "app_limit_per_minute": self.config.limits.per_minute,
            "max_calls_any_rolling_minute": self.max_app_window,
            "max_with_outside_traffic": self.max_total_window,
            "mean_calls_per_minute": round(statistics.mean(self.per_minute), 0) if self.per_minute else 0,
            "calls_by_priority": dict(self.calls_by_priority),
            "rate_limited_by_problem": dict(self.rate_limited),
            "tenants_with_a_429": self.tenants_429,
            "catch_up_interval_min": self.catch_up_interval_s / 60,
            "catch_ups_done": self.catch_ups_done,
            "catch_up_lag_p50_s": pct(self.catch_up_lag_s, 50),
            "catch_up_lag_p99_s": pct(self.catch_up_lag_s, 99),
            "export_latency_p50_s": pct(self.export_latency_s, 50),
            "export_latency_p99_s": pct(self.export_latency_s, 99),
            "webhook_fetch_p99_s": pct(self.webhook_latency_s, 99),
            "initial_syncs": f"{len(self.sync_time_s)}/{self.syncs_started}",
            "initial_sync_p50_min": round(pct(self.sync_time_s, 50) / 60, 1),
            "initial_sync_p99_min": round(pct(self.sync_time_s, 99) / 60, 1),
            "sync_s_per_call_p50_p99": (
                pct(self.sync_seconds_per_call, 50),
                pct(self.sync_seconds_per_call, 99),
            ),
            "dynamodb_requests_per_xero_call": round(self.dynamodb_requests / max(1, self.calls), 2),
            "tenant_slots_cancelled": self.cancelled_slots,
        }


def template_concurrency(function: str) -> int:
    """The ``ScalingConfig.MaximumConcurrency`` of ``function``'s SQS event source in template.yaml."""
    resources = load_yaml(ROOT / "template.yaml")["Resources"]
    events = resources[function]["Properties"]["Events"]
    for event in events.values():
        if event["Type"] == "SQS":
            return int(event["Properties"]["ScalingConfig"]["MaximumConcurrency"])
    raise KeyError(f"{function} has no SQS event source")


def pct(values: Sequence[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(p / 100 * len(ordered)) - 1)], 2)


def max_in_window(times_ms: list[int], window_ms: int = 60_000) -> int:
    ordered = sorted(times_ms)
    best = low = 0
    for high, t in enumerate(ordered):
        while t - ordered[low] >= window_ms:
            low += 1
        best = max(best, high - low + 1)
    return best


@dataclass
class _Attempt:
    """One call on its way: whose, at which priority, from which container, what follows its 200."""

    tenant: str
    priority: Priority
    container: int
    done: Callable[[], None]
    lease_id: str = ""
    granted_ms: int = 0
    hold_from_ms: int = 0
    refusals: int = 0


# --- in-memory ports of the catch-up fan-out ---------------------------------------------------------


class _Connections(FakeConnections):
    def __init__(self, tenants: Sequence[str]) -> None:
        super().__init__()
        now = datetime.fromtimestamp(START_S, UTC)
        self._all = [
            XeroConnection(
                org_id=f"org-{t}",
                tenant_id=t,
                status=ConnectionStatus.CONNECTED,
                first_connected_at=now,
                connected_at=now,
                updated_at=now,
            )
            for t in tenants
        ]

    def list_connected(self) -> list[XeroConnection]:
        return self._all


# --- the simulation ----------------------------------------------------------------------------------


class Simulation:
    """Discrete events on a simulated millisecond clock."""

    def __init__(self, config: ScaleConfig) -> None:
        self.config = config
        self.rng = random.Random(config.seed)
        self.now_ms = int(START_S * 1000)
        self._events: list[tuple[int, int, Callable[[], None]]] = []
        self._seq = itertools.count()
        self.result = ScaleResult(config)
        self.xero = XeroLimits(
            LimitSettings(app_minute=config.limits.per_minute), now=lambda: self.now_ms / 1000
        )
        self.store = InMemoryBudgetStore()
        self.apps = [
            AppLimiter(
                self.store,
                limits=config.limits,
                clock=lambda: self.now_ms / 1000,
                sleep=_no_sleep,
                rng=random.Random(config.seed * 1000 + n),
            )
            for n in range(config.containers)
        ]
        self.tenants = [f"tenant-{n:05d}" for n in range(config.orgs)]
        self.windows: dict[str, WindowState] = defaultdict(WindowState)
        self.tenant_ddb = 0
        self.our_call_times: list[int] = []
        self.outside_times: list[int] = []
        self.tenant_429: set[str] = set()
        self.synced: set[str] = set(self.tenants)  # tenants whose initial sync has finished
        self.catching_up: set[str] = set()
        self.catch_up_queue: deque[tuple[str, int]] = deque()
        self.catch_up_busy = 0
        self.export_queue: deque[tuple[str, int]] = deque()
        self.exporters_busy = 0
        self.fan_out = RequestCatchUps(
            connections=_Connections(self.tenants),
            catch_ups=(requests := FakeCatchUps()),
            states=(states := FakeCatchUpStates()),
            limits=config.limits,
            tick_seconds=config.catch_up_tick_minutes * 60,
            share=config.catch_up_share,
            clock=lambda: datetime.fromtimestamp(self.now_ms / 1000, UTC),
        )
        self._requests, self._states = requests, states

    # --- the event loop -------------------------------------------------------------------------------------

    def at(self, when_ms: int, action: Callable[[], None]) -> None:
        heapq.heappush(self._events, (max(when_ms, self.now_ms), next(self._seq), action))

    def run(self) -> ScaleResult:
        end_ms = self.now_ms + int(self.config.minutes * 60_000)
        self._plan_traffic(end_ms)
        while self._events and self._events[0][0] <= end_ms:
            when, _, action = heapq.heappop(self._events)
            self.now_ms = when
            action()
        return self._finish()

    def _plan_traffic(self, end_ms: int) -> None:
        cfg, rng, start = self.config, self.rng, self.now_ms
        span_h = cfg.minutes / 60
        for tenant in self.tenants:
            for _ in range(_poisson(rng, cfg.webhooks_per_org_hour * span_h)):
                self.at(start + rng.randrange(end_ms - start), partial(self._webhook, tenant))
            for _ in range(_poisson(rng, cfg.exports_per_org_hour * span_h)):
                self.at(start + rng.randrange(end_ms - start), partial(self._record_payment, tenant))
        new = max(cfg.min_new_connections, round(cfg.orgs * cfg.new_connections))
        for tenant in rng.sample(self.tenants, min(new, cfg.orgs)):
            self.synced.discard(tenant)
            when = start + rng.randrange(int(cfg.wave_minutes * 60_000))
            pages = min(400, int(rng.expovariate(1 / cfg.sync_pages_mean)))
            self.at(when, partial(self._initial_sync, tenant, pages))
        tick_ms = cfg.catch_up_tick_minutes * 60_000
        first_tick = (start // tick_ms + 1) * tick_ms
        for when in range(first_tick, end_ms, tick_ms):
            self.at(when, self._schedule_tick)
        if cfg.outside is not None:
            begin, until, per_minute = cfg.outside
            gap = 60_000 / per_minute
            t = start + begin * 60_000
            while t < start + until * 60_000:
                self.at(int(t), self._outside_call)
                t += gap

    # --- one Xero call: the tenant's slot, the app's unit, the answer ------------------------------------

    def call(self, tenant: str, priority: Priority, container: int, done: Callable[[], None]) -> None:
        """``LimiterAttempts.attempt`` for one call, then ``done`` once Xero answered 200."""
        self._tenant_slot(_Attempt(tenant, priority, container, done))

    def _tenant_slot(self, attempt: _Attempt) -> None:
        limits, tenant = self.config.tenant_limits, attempt.tenant
        full = self.apps[attempt.container].peek(attempt.priority, self.now_ms, refusals=attempt.refusals)
        if full is not None:
            attempt.refusals += 1
            self.at(full.at_ms, lambda: self._tenant_slot(attempt))
            return
        self.tenant_ddb += 1  # the item's read
        state = prune(self.windows[tenant], self.now_ms, limits)
        decision = decide(state, self.now_ms, limits, release_poll_ms=250)
        if decision.reason is Reason.DAY:  # not reached in these runs
            raise AssertionError("a day limit in a simulation of minutes")
        if not decision.go:
            self.windows[tenant] = state
            self.at(decision.at_ms + self.rng.randrange(50), lambda: self._tenant_slot(attempt))
            return
        attempt.lease_id = uuid.uuid4().hex
        attempt.granted_ms = attempt.hold_from_ms = self.now_ms
        self.windows[tenant] = admit(state, self.now_ms, attempt.lease_id, limits)
        self.tenant_ddb += 1  # the grant's conditional write
        self._take_app(attempt)

    def _take_app(self, attempt: _Attempt) -> None:
        app = self.apps[attempt.container]
        answer = app.try_acquire(attempt.priority, self.now_ms, refusals=attempt.refusals)
        if isinstance(answer, AppGrant):
            if self.now_ms - attempt.granted_ms > self.config.tenant_limits.padding_ms // 2:
                self._restamp(attempt.tenant, attempt.granted_ms)
            self._send(attempt)
            return
        wake = answer.at_ms + self.rng.randrange(max(1, self.config.limits.bucket_ms // 4))
        if wake <= attempt.hold_from_ms + int(APP_HOLD_SECONDS * 1000):
            self.at(wake, lambda: self._take_app(attempt))
            return
        self._cancel(attempt.tenant, attempt.lease_id, attempt.granted_ms)
        attempt.refusals += 1
        self.at(answer.at_ms, lambda: self._tenant_slot(attempt))

    def _restamp(self, tenant: str, granted_ms: int) -> int:
        state = self.windows[tenant]
        calls = list(state.calls)
        if granted_ms in calls:
            calls[calls.index(granted_ms)] = self.now_ms
            self.windows[tenant] = replace(state, calls=tuple(sorted(calls)))
        self.tenant_ddb += 2
        return self.now_ms

    def _cancel(self, tenant: str, lease_id: str, granted_ms: int) -> None:
        state = self.windows[tenant]
        calls = list(state.calls)
        if granted_ms in calls:
            calls.remove(granted_ms)
        leases = {k: v for k, v in state.leases.items() if k != lease_id}
        self.windows[tenant] = replace(
            state, calls=tuple(calls), leases=leases, day_count=max(0, state.day_count - 1)
        )
        self.tenant_ddb += 2
        self.result.cancelled_slots += 1

    def _send(self, attempt: _Attempt) -> None:
        tenant, priority, container, lease_id = (
            attempt.tenant,
            attempt.priority,
            attempt.container,
            attempt.lease_id,
        )
        decision = self.xero.acquire(tenant)
        self.result.calls += 1
        self.result.calls_by_priority[priority.name.lower()] += 1
        if decision.allowed:
            self.our_call_times.append(self.now_ms)
        latency = self.rng.randint(*self.config.call_ms)

        def answered() -> None:
            if decision.allowed:
                self.xero.release(tenant)
            self._release(tenant, lease_id)
            app = self.apps[container]
            app.observe(int(decision.headers["X-AppMinLimit-Remaining"]), self.now_ms)
            if decision.allowed:
                attempt.done()
                return
            problem = decision.problem or "minute"
            self.result.rate_limited[problem] += 1
            retry_after = decision.retry_after or 1
            if problem == "appminute":
                app.note_app_limited(retry_after, self.now_ms)
            else:
                self.tenant_429.add(tenant)
                state = self.windows[tenant]
                until = self.now_ms + retry_after * 1000
                self.windows[tenant] = replace(state, blocked_until=max(state.blocked_until, until))
                self.tenant_ddb += 1
            self._tenant_slot(attempt)  # the client's retry after Retry-After

        self.at(self.now_ms + latency, answered)

    def _release(self, tenant: str, lease_id: str) -> None:
        state = self.windows[tenant]
        leases = {k: v for k, v in state.leases.items() if k != lease_id}
        self.windows[tenant] = replace(state, leases=leases)
        self.tenant_ddb += 1

    def _outside_call(self) -> None:
        client = f"outside-{self.result.outside_calls % 500}"  # another deployment's many tenants
        decision = self.xero.acquire(client)
        if decision.allowed:
            self.outside_times.append(self.now_ms)
            self.xero.release(client)
        self.result.outside_calls += 1

    def _container(self) -> int:
        return self.rng.randrange(self.config.containers)

    def _sequence(self, tenant: str, priority: Priority, calls: int, done: Callable[[], None]) -> None:
        """``calls`` calls one after another from one Lambda, then ``done``."""
        container = self._container()

        def next_call(left: int) -> None:
            if left == 0:
                done()
                return
            self.call(tenant, priority, container, lambda: next_call(left - 1))

        next_call(calls)

    # --- the flows -----------------------------------------------------------------------------------------

    def _webhook(self, tenant: str) -> None:
        if tenant not in self.synced:
            return  # its initial sync will bring it
        begun = self.now_ms
        calls = 2 if self.rng.random() < 0.2 else 1

        def fetched() -> None:
            self.result.webhook_latency_s.append((self.now_ms - begun) / 1000)

        self._sequence(tenant, Priority.URGENT, calls, fetched)

    def _record_payment(self, tenant: str) -> None:
        if tenant not in self.synced:
            return
        self.export_queue.append((tenant, self.now_ms))
        self.at(self.now_ms + 1_000, self._start_exporters)  # MaximumBatchingWindowInSeconds: 1

    def _start_exporters(self) -> None:
        while self.export_queue and self.exporters_busy < self.config.exporter_concurrency:
            batch = [self.export_queue.popleft() for _ in range(min(50, len(self.export_queue)))]
            self.exporters_busy += 1
            by_tenant: dict[str, list[int]] = defaultdict(list)
            for tenant, recorded in batch:
                by_tenant[tenant].append(recorded)
            self._export_batch(list(by_tenant.items()))

    def _export_batch(self, groups: list[tuple[str, list[int]]]) -> None:
        if not groups:
            self.exporters_busy -= 1
            self._start_exporters()
            return
        (tenant, recorded), rest = groups[0], groups[1:]

        def exported() -> None:
            self.result.export_latency_s.extend((self.now_ms - r) / 1000 for r in recorded)
            self._export_batch(rest)

        self._sequence(tenant, Priority.URGENT, 2, exported)  # GET /Invoices?IDs=, PUT /Payments

    def _schedule_tick(self) -> None:
        self.fan_out.everyone("schedule")
        pace = self._states.pace()
        if pace is not None:
            self.result.catch_up_interval_s = pace.interval_seconds
        for request in self._requests.requests:
            self.catch_up_queue.append((request.tenant_id or "", self.now_ms))
        self._requests.requests.clear()
        self._start_catch_ups()

    def _start_catch_ups(self) -> None:
        while self.catch_up_queue and self.catch_up_busy < self.config.catch_up_concurrency:
            tenant, requested = self.catch_up_queue.popleft()
            if tenant not in self.synced or tenant in self.catching_up:
                self.result.catch_ups_skipped += 1  # initial_sync_not_finished / running
                continue
            self.catch_up_busy += 1
            self.catching_up.add(tenant)

            def caught_up(t: str = tenant, r: int = requested) -> None:
                self.catching_up.discard(t)
                self.catch_up_busy -= 1
                self.result.catch_ups_done += 1
                self.result.catch_up_lag_s.append((self.now_ms - r) / 1000)
                self._start_catch_ups()

            self._sequence(tenant, Priority.CATCH_UP, len(CURSOR_RESOURCES), caught_up)

    def _initial_sync(self, tenant: str, pages: int) -> None:
        self.result.syncs_started += 1
        begun = self.now_ms
        remaining = deque(range(pages))
        running = [0]

        def finished() -> None:
            self.synced.add(tenant)
            seconds = (self.now_ms - begun) / 1000
            self.result.sync_time_s.append(seconds)
            self.result.sync_seconds_per_call.append(seconds / (PLAN_CALLS + pages))

        def fetcher() -> None:  # the Map's iterations, 5 at a time
            if not remaining:
                running[0] -= 1
                if running[0] == 0:
                    finished()
                return
            remaining.popleft()
            self._sequence(tenant, Priority.SYNC, 1, fetcher)

        def planned() -> None:
            if not remaining:
                finished()
                return
            running[0] = min(5, len(remaining))
            for _ in range(running[0]):
                fetcher()

        self._sequence(tenant, Priority.SYNC, PLAN_CALLS, planned)

    # --- figures ---------------------------------------------------------------------------------------

    def _finish(self) -> ScaleResult:
        result = self.result
        result.max_app_window = max_in_window(self.our_call_times)
        result.max_total_window = max_in_window(self.our_call_times + self.outside_times)
        start = int(START_S * 1000)
        minutes = Counter((t - start) // 60_000 for t in self.our_call_times)
        result.per_minute = [minutes.get(m, 0) for m in range(int(self.config.minutes))]
        result.tenants_429 = len(self.tenant_429)
        result.dynamodb_requests = self.tenant_ddb + self.store.requests
        return result


def _no_sleep(seconds: float) -> None:
    raise AssertionError("the simulation never sleeps: it schedules")


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method for small means, a normal approximation for large ones
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def simulate(config: ScaleConfig) -> ScaleResult:
    return Simulation(config).run()
