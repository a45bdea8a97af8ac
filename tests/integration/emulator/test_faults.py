"""Injected faults as a client sees them: 5xx, slowness, dropped connections, 429 bursts, targeting."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration.emulator.conftest import Xero


@pytest.fixture
def token(xero: Xero) -> str:
    return str(xero.connect()["access_token"])


def test_next_n_calls_fail_with_the_chosen_status(xero: Xero, token: str) -> None:
    xero.admin.fail_next(2, status=503)
    statuses = [xero.api("GET", "Organisation", token, xero.tenants[0]).status_code for _ in range(3)]
    assert statuses == [503, 503, 200]
    xero.admin.fail_next(1, status=500)
    failed = xero.api("GET", "Organisation", token, xero.tenants[0])
    assert failed.status_code == 500
    assert failed.json()["Status"] == 500


def test_slow_responses(xero: Xero, token: str) -> None:
    xero.admin.slow(delay_ms=300)
    started = time.monotonic()
    response = xero.api("GET", "Organisation", token, xero.tenants[0])
    assert response.status_code == 200
    assert time.monotonic() - started >= 0.3


def test_slow_response_trips_a_client_timeout(xero: Xero, token: str) -> None:
    xero.admin.slow(delay_ms=600)
    with pytest.raises(httpx.ReadTimeout):
        xero.api("GET", "Organisation", token, xero.tenants[0], timeout=0.2)


def test_dropped_connection_is_a_protocol_error_for_the_client(xero: Xero, token: str) -> None:
    xero.admin.drop_next()
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        xero.api("GET", "Organisation", token, xero.tenants[0])
    assert xero.api("GET", "Organisation", token, xero.tenants[0]).status_code == 200


def test_lost_response_after_the_write_is_replayed_by_idempotency_key(xero: Xero, token: str) -> None:
    # Given Xero saves the contact and then the connection drops before the answer
    xero.admin.drop_next(phase="after", method="PUT")
    body = {"Contacts": [{"Name": "Lost Answer Ltd"}]}
    headers = {"Idempotency-Key": "lost-1"}
    with pytest.raises((httpx.RemoteProtocolError, httpx.ReadError)):
        xero.api("PUT", "Contacts", token, xero.tenants[0], json=body, headers=headers)
    # When the client retries with the same key
    retry = xero.api("PUT", "Contacts", token, xero.tenants[0], json=body, headers=headers)
    # Then it gets the stored answer and there is still one contact
    assert retry.status_code == 200
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert xero.admin.counts(xero.tenants[0])["Contacts"] == 1


def test_500_after_the_write(xero: Xero, token: str) -> None:
    xero.admin.fail_next(1, status=500, phase="after", method="PUT")
    response = xero.api(
        "PUT", "Contacts", token, xero.tenants[0], json={"Contacts": [{"Name": "Saved Anyway"}]}
    )
    assert response.status_code == 500
    assert xero.admin.counts(xero.tenants[0])["Contacts"] == 1


def test_429_burst_with_chosen_problem_and_retry_after(xero: Xero, token: str) -> None:
    xero.admin.rate_limit_next(2, problem="day", retry_after=120)
    first, second, third = (xero.api("GET", "Organisation", token, xero.tenants[0]) for _ in range(3))
    for limited in (first, second):
        assert limited.status_code == 429
        assert limited.headers["X-Rate-Limit-Problem"] == "day"
        assert limited.headers["Retry-After"] == "120"
        assert "X-MinLimit-Remaining" in limited.headers
    assert third.status_code == 200
    assert xero.admin.stats()["tenants"][xero.tenants[0]]["by_problem"] == {"day": 2}


def test_faults_target_a_path_prefix_and_a_tenant(xero: Xero, token: str) -> None:
    xero.admin.fail_next(5, status=503, path_prefix="/api.xro/2.0/Invoices", tenant_id=xero.tenants[1])
    assert xero.api("GET", "Invoices", token, xero.tenants[0]).status_code == 200
    assert xero.api("GET", "Contacts", token, xero.tenants[1]).status_code == 200
    assert xero.api("GET", "Invoices", token, xero.tenants[1]).status_code == 503
    assert xero.admin.faults()[0]["count"] == 4
    xero.admin.clear_faults()
    assert xero.api("GET", "Invoices", token, xero.tenants[1]).status_code == 200


def test_faults_on_the_token_endpoint(xero: Xero) -> None:
    tokens = xero.connect()
    xero.admin.fail_next(1, status=503, path_prefix="/connect/token")
    assert xero.refresh(tokens["refresh_token"]).status_code == 503
    assert xero.refresh(tokens["refresh_token"]).status_code == 200


def test_a_bad_fault_is_refused(xero: Xero) -> None:
    from xero_emulator.admin_client import AdminError

    with pytest.raises(AdminError) as caught:
        xero.admin.add_fault("earthquake")
    assert caught.value.status == 400
