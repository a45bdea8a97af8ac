"""Xero's rate limits as a client meets them: headers, 429 with Retry-After and X-Rate-Limit-Problem."""

from __future__ import annotations

import threading
from typing import Any

import httpx

from tests.integration.emulator.conftest import Xero


def _calls(xero: Xero, token: str, tenant_id: str, count: int) -> list[httpx.Response]:
    return [xero.api("GET", "Organisation", token, tenant_id) for _ in range(count)]


def test_61st_call_in_a_minute_is_429_minute(xero: Xero) -> None:
    token = xero.connect()["access_token"]
    responses = _calls(xero, token, xero.tenants[0], 61)
    assert all(r.status_code == 200 for r in responses[:60])
    assert responses[59].headers["X-MinLimit-Remaining"] == "0"
    limited = responses[60]
    assert limited.status_code == 429
    assert limited.headers["X-Rate-Limit-Problem"] == "minute"
    assert 1 <= int(limited.headers["Retry-After"]) <= 61
    assert limited.headers["X-MinLimit-Remaining"] == "0"
    assert limited.headers["X-DayLimit-Remaining"] == "4940"
    # The other tenant has its own minute
    assert xero.api("GET", "Organisation", token, xero.tenants[1]).status_code == 200


def test_minute_window_is_rolling_and_retry_after_is_honest(make_xero: Any) -> None:
    # The clock all but stands still between the explicit advances: each batch of 30 calls lands in one
    # instant however long the machine takes to make them (Retry-After tells when the *first* call ages
    # out, so batches spread over real seconds made the count after it depend on the machine's speed).
    xero = make_xero(tenants=1, clock_scale=1e-6)
    token = xero.connect()["access_token"]
    _calls(xero, token, xero.tenants[0], 30)
    xero.admin.advance_clock(30)
    _calls(xero, token, xero.tenants[0], 30)
    limited = xero.api("GET", "Organisation", token, xero.tenants[0])
    assert limited.status_code == 429
    # Then, once the first 30 calls are 60 s old, there is room again (a fixed window would differ)
    retry_after = int(limited.headers["Retry-After"])
    assert 25 <= retry_after <= 31
    xero.admin.advance_clock(retry_after)
    ok = xero.api("GET", "Organisation", token, xero.tenants[0])
    assert ok.status_code == 200
    assert int(ok.headers["X-MinLimit-Remaining"]) == 29


def test_six_concurrent_calls_get_one_429_concurrent(xero: Xero) -> None:
    token = xero.connect()["access_token"]
    xero.admin.slow(delay_ms=700, count=6, tenant_id=xero.tenants[0])
    results: list[httpx.Response] = []
    lock = threading.Lock()

    def call() -> None:
        with httpx.Client(base_url=xero.base, timeout=10) as http:
            response = http.get(
                "/api.xro/2.0/Organisation",
                headers={"Authorization": f"Bearer {token}", "xero-tenant-id": xero.tenants[0]},
            )
        with lock:
            results.append(response)

    threads = [threading.Thread(target=call) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200, 200, 200, 200, 200, 429]
    limited = next(r for r in results if r.status_code == 429)
    assert limited.headers["X-Rate-Limit-Problem"] == "concurrent"
    assert "Retry-After" in limited.headers


def test_day_limit(make_xero: Any) -> None:
    xero: Xero = make_xero(tenants=1, minute_limit=10_000, day_limit=25)
    token = xero.connect()["access_token"]
    responses = _calls(xero, token, xero.tenants[0], 26)
    assert responses[24].headers["X-DayLimit-Remaining"] == "0"
    assert responses[25].status_code == 429
    assert responses[25].headers["X-Rate-Limit-Problem"] == "day"
    # A day later (rolling 24 h) the tenant can call again
    xero.admin.advance_clock(int(responses[25].headers["Retry-After"]))
    fresh = xero.connect()["access_token"]
    assert xero.api("GET", "Organisation", fresh, xero.tenants[0]).status_code == 200


def test_app_minute_limit_spans_tenants(make_xero: Any) -> None:
    xero: Xero = make_xero(tenants=2, app_minute_limit=4)
    token = xero.connect()["access_token"]
    _calls(xero, token, xero.tenants[0], 2)
    ok = _calls(xero, token, xero.tenants[1], 2)[-1]
    assert ok.headers["X-AppMinLimit-Remaining"] == "0"
    refused = xero.api("GET", "Organisation", token, xero.tenants[0])
    assert refused.status_code == 429
    assert refused.headers["X-Rate-Limit-Problem"] == "appminute"


def test_retry_after_is_in_simulated_seconds_on_a_scaled_clock(make_xero: Any) -> None:
    # Given a clock 600x faster than real time (a simulated minute is 0.1 real seconds)
    xero: Xero = make_xero(tenants=1, clock_scale=600)
    token = xero.connect()["access_token"]
    # When the minute is used up within about a real tenth of a second
    xero.admin.set_clock_scale(1)
    responses = _calls(xero, token, xero.tenants[0], 61)
    assert responses[-1].status_code == 429
    # Then Retry-After says simulated seconds, and sleeping that long / scale is enough
    retry_after = int(responses[-1].headers["Retry-After"])
    assert retry_after > 50
    xero.admin.set_clock_scale(600)
    xero.em.clock.sleep(retry_after + 1)
    assert xero.api("GET", "Organisation", token, xero.tenants[0]).status_code == 200


def test_limits_can_be_switched_off(make_xero: Any) -> None:
    xero: Xero = make_xero(tenants=1, enforce_rate_limits=False)
    token = xero.connect()["access_token"]
    assert all(r.status_code == 200 for r in _calls(xero, token, xero.tenants[0], 70))


def test_call_stats_count_calls_429s_and_paths(xero: Xero) -> None:
    token = xero.connect()["access_token"]
    _calls(xero, token, xero.tenants[0], 61)
    xero.api("GET", "Contacts", token, xero.tenants[1], params={"page": 1})
    stats = xero.admin.stats()
    first = stats["tenants"][xero.tenants[0]]
    assert first["calls"] == 61
    assert first["rate_limited"] == 1
    assert first["by_problem"] == {"minute": 1}
    assert first["by_path"] == {"GET /api.xro/2.0/Organisation": 61}
    assert stats["tenants"][xero.tenants[1]]["by_path"] == {"GET /api.xro/2.0/Contacts": 1}
    assert stats["total_calls"] == 62
    xero.admin.reset_stats()
    assert xero.admin.stats()["total_calls"] == 0
