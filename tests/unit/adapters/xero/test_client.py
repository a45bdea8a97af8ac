"""The Accounting API client against small in-test fakes of Xero (httpx.MockTransport: no sockets)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from xero_bridge.adapters.xero import Resource, RetryPolicy, XeroClient, XeroEndpoints
from xero_bridge.errors import (
    NeedsReconnect,
    XeroBadResponseError,
    XeroError,
    XeroForbidden,
    XeroNotFound,
    XeroRateLimited,
    XeroServerError,
    XeroTimeout,
    XeroUnauthorized,
    XeroValidationError,
)
from xero_bridge.models.connection import ReconnectReason
from xero_bridge.models.pages import Quota
from xero_bridge.models.xero import Contact, CreditNote, Invoice, PaymentCreate

TENANT = "fe79f7dd-b6d4-4a92-ba7b-538af6289c58"
API = "https://api.test.xero"
NOW = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)

Handler = Callable[[httpx.Request], httpx.Response]


# --- fakes ----------------------------------------------------------------------------------------


@dataclass
class FakeTokens:
    """A token vault: ``token-1`` until a forced refresh, then ``token-2``."""

    calls: list[bool] = field(default_factory=list)
    current: str = "token-1"
    refusals: list[ReconnectReason] = field(default_factory=list)
    marks: bool = False  # a vault marks the connection needs_reconnect and gives the error to raise

    def access_token(self, tenant_id: str, *, force_refresh: bool = False) -> str:
        assert tenant_id == TENANT
        self.calls.append(force_refresh)
        if force_refresh:
            self.current = "token-2"
        return self.current

    def refused(self, tenant_id: str, reason: ReconnectReason) -> NeedsReconnect | None:
        self.refusals.append(reason)
        return NeedsReconnect(f"refused: {reason.value}") if self.marks else None


@dataclass
class Sleeps:
    seconds: list[float] = field(default_factory=list)

    def __call__(self, seconds: float) -> None:
        self.seconds.append(seconds)


def invoice(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "Type": "ACCREC",
        "InvoiceID": f"00000000-0000-0000-0000-{n:012d}",
        "InvoiceNumber": f"INV-{n:04d}",
        "Contact": {"ContactID": "c1", "Name": "ABC"},
        "Status": "AUTHORISED",
        "Date": "/Date(1539129600000+0000)/",
        "DueDate": "/Date(1539820800000+0000)/",
        "Total": 230.00,
        "AmountDue": 230.00,
        "CurrencyCode": "NZD",
        "UpdatedDateUTC": "/Date(1552432238623+0000)/",
    } | changes


def xero_response(
    status: int = 200, body: Any = None, headers: dict[str, str] | None = None
) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode() if body is not None else b""
    all_headers = {
        "Content-Type": "application/json",
        "X-MinLimit-Remaining": "59",
        "X-DayLimit-Remaining": "4999",
    }
    all_headers["X-AppMinLimit-Remaining"] = "9999"
    return httpx.Response(status, content=content, headers=all_headers | (headers or {}))


@dataclass
class FakeXeroPaging:
    """GET /Invoices (or any list resource) over ``records``, with Xero's paging and its known deviations."""

    records: list[dict[str, Any]]
    key: str = "Invoices"
    envelope: bool = True
    ignore_page_size: bool = False  # some servers answer 100 whatever pageSize says
    requests: list[httpx.Request] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        params = request.url.params
        if "IDs" in params:
            wanted = params["IDs"].split(",")
            found = [r for r in self.records if r.get("InvoiceID", r.get("ContactID")) in wanted]
            return xero_response(body={self.key: found})
        page = int(params.get("page", "0"))
        size = 100 if self.ignore_page_size else int(params.get("pageSize", "100"))
        if page == 0:
            return xero_response(body={self.key: self.records})
        chunk = self.records[(page - 1) * size : page * size]
        body: dict[str, Any] = {"Id": "x", "Status": "OK", self.key: chunk}
        if self.envelope:
            count = -(-len(self.records) // size)
            body["pagination"] = {
                "page": page,
                "pageSize": size,
                "pageCount": count,
                "itemCount": len(self.records),
            }
        return xero_response(body=body)


class Scripted:
    """Answers the responses (or raises the exceptions) given, in order, and records the requests."""

    def __init__(self, *answers: httpx.Response | Exception) -> None:
        self.answers = list(answers)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


def make_client(
    handler: Handler,
    *,
    tokens: FakeTokens | None = None,
    sleeps: Sleeps | None = None,
    max_attempts: int = 3,
    **kwargs: Any,
) -> XeroClient:
    policy = RetryPolicy(max_attempts=max_attempts, sleep=sleeps or Sleeps(), random=lambda: 0.5)
    return XeroClient(
        tokens or FakeTokens(),
        TENANT,
        XeroEndpoints(api_url=API),
        httpx.Client(transport=httpx.MockTransport(handler)),
        policy,
        clock=lambda: NOW,
        **kwargs,
    )


OK_EMPTY: dict[str, Any] = {"Invoices": []}


# --- requests sent --------------------------------------------------------------------------------


def test_list_page_sends_xero_path_params_and_headers() -> None:
    fake = Scripted(xero_response(body=OK_EMPTY))
    client = make_client(fake)

    client.list_page(
        Resource.INVOICES,
        page=2,
        page_size=1000,
        if_modified_since=datetime(2026, 3, 1, 23, 59, 58, 999999, tzinfo=UTC),
        where='Type=="ACCREC"',
        statuses=["AUTHORISED", "PAID"],
        include_archived=True,
        summary_only=True,
        order="UpdatedDateUTC ASC",
    )

    (request,) = fake.requests
    assert request.method == "GET"
    assert request.url.path == "/api.xro/2.0/Invoices"
    assert dict(request.url.params) == {
        "page": "2",
        "pageSize": "1000",
        "where": 'Type=="ACCREC"',
        "Statuses": "AUTHORISED,PAID",
        "includeArchived": "true",
        "summaryOnly": "true",
        "order": "UpdatedDateUTC ASC",
    }
    assert request.headers["Authorization"] == "Bearer token-1"
    assert request.headers["xero-tenant-id"] == TENANT
    assert request.headers["Accept"] == "application/json"
    assert request.headers["If-Modified-Since"] == "2026-03-01T23:59:58"


def test_parameters_xero_does_not_offer_are_refused_before_sending() -> None:
    fake = Scripted()
    client = make_client(fake)

    with pytest.raises(ValueError, match="Statuses"):
        client.list_page(Resource.CONTACTS, statuses=["ACTIVE"])
    with pytest.raises(ValueError, match="pageSize"):
        client.list_page(Resource.ACCOUNTS, page_size=100)
    with pytest.raises(ValueError, match="page_size"):
        client.list_page(Resource.INVOICES, page=1, page_size=1001)
    with pytest.raises(ValueError, match="IDs"):
        client.list_page(Resource.CREDIT_NOTES, ids=["x"])
    assert fake.requests == []


def test_every_query_of_the_sync_partitions_is_one_xero_declares() -> None:
    # The client refuses a parameter Xero's spec does not declare for the resource (Statuses outside
    # Invoices, say): each partition of a full and of an incremental run is a request Xero takes as asked
    from xero_bridge.domain.partitions import (
        full_run_partitions,
        incremental_run_partitions,
        partition_query,
    )

    partitions = [*full_run_partitions(), *incremental_run_partitions()]
    fake = Scripted(*(xero_response(body={p.resource: []}) for p in partitions))
    client = make_client(fake)
    for partition in partitions:
        query = partition_query(partition, snapshot_at=NOW, modified_since=NOW - timedelta(days=1))
        client.list_page(partition.resource, page=1, page_size=1000, **query)
    sent = [(r.url.path.rsplit("/", 1)[-1], dict(r.url.params)) for r in fake.requests]
    assert all(params["order"] and params["pageSize"] == "1000" for _, params in sent)
    assert [resource for resource, params in sent if "Statuses" in params] == ["Invoices"]
    assert sent[1][1]["Statuses"] == "AUTHORISED,SUBMITTED"


def test_page_size_alone_starts_at_page_one() -> None:
    fake = Scripted(xero_response(body=OK_EMPTY))
    make_client(fake).list_page("Invoices", page_size=500)
    assert fake.requests[0].url.params["page"] == "1"


# --- paging ---------------------------------------------------------------------------------------


def test_iter_pages_stops_on_the_envelope() -> None:
    fake = FakeXeroPaging([invoice(n) for n in range(2500)])
    pages = list(make_client(fake).iter_pages(Resource.INVOICES, page_size=1000))

    assert [len(p.records) for p in pages] == [1000, 1000, 500]
    assert [p.is_last for p in pages] == [False, False, True]
    assert [r.url.params["page"] for r in fake.requests] == ["1", "2", "3"]
    assert pages[2].pagination is not None and pages[2].pagination.item_count == 2500


def test_server_ignoring_page_size_is_followed_through_its_envelope() -> None:
    # Given a server that answers 100 per page whatever pageSize=1000 says (it says so in pagination)
    fake = FakeXeroPaging([invoice(n) for n in range(250)], ignore_page_size=True)
    # When all pages are read
    pages = list(make_client(fake).iter_pages(Resource.INVOICES, page_size=1000))
    # Then nothing is lost
    assert [len(p.records) for p in pages] == [100, 100, 50]
    assert len({r.invoice_id for p in pages for r in p.records}) == 250


def test_a_page_carries_xeros_own_clock_from_its_envelope() -> None:
    # Given answers with and without the envelope's DateTimeUTC (Xero writes it without an offset)
    fake = Scripted(
        xero_response(body={"DateTimeUTC": "/Date(1552326816230)/", "Invoices": []}),
        xero_response(body={"Invoices": []}),
        xero_response(body={"DateTimeUTC": "yesterday", "Invoices": []}),
    )
    client = make_client(fake)
    # Then the page tells Xero's time when it answered, and nothing when it did not say (or said nonsense)
    stamped = client.list_page(Resource.INVOICES, page=1)
    assert stamped.server_time == datetime(2019, 3, 11, 17, 53, 36, 230000, tzinfo=UTC)
    assert client.list_page(Resource.INVOICES, page=1).server_time is None
    assert client.list_page(Resource.INVOICES, page=1).server_time is None


def test_without_envelope_a_short_page_is_the_last() -> None:
    fake = FakeXeroPaging([invoice(n) for n in range(250)], envelope=False)
    pages = list(make_client(fake).iter_pages(Resource.INVOICES, page_size=100))
    assert [len(p.records) for p in pages] == [100, 100, 50]
    assert len(fake.requests) == 3


def test_without_envelope_a_full_last_page_is_followed_by_an_empty_one() -> None:
    fake = FakeXeroPaging([invoice(n) for n in range(200)], envelope=False)
    pages = list(make_client(fake).iter_pages(Resource.INVOICES, page_size=100))
    assert [len(p.records) for p in pages] == [100, 100, 0]


def test_without_envelope_a_server_ignoring_page_size_loses_nothing() -> None:
    # Given no pagination envelope and a server answering 100 when 1000 were asked
    fake = FakeXeroPaging([invoice(n) for n in range(250)], envelope=False, ignore_page_size=True)
    pages = list(make_client(fake).iter_pages(Resource.INVOICES, page_size=1000))
    # Then a page of 100 is not taken for the last one
    assert [len(p.records) for p in pages] == [100, 100, 50]


def test_unpaged_resources_are_read_in_one_request() -> None:
    fake = Scripted(
        xero_response(body={"Accounts": [{"AccountID": "a1", "Type": "BANK", "CurrencyCode": "NZD"}]})
    )
    pages = list(make_client(fake).iter_pages(Resource.ACCOUNTS, where='Type=="BANK"'))
    assert len(pages) == 1 and pages[0].is_last
    assert "page" not in fake.requests[0].url.params


# --- by ids ---------------------------------------------------------------------------------------


def test_get_by_ids_splits_into_requests_of_at_most_fifty() -> None:
    records = [invoice(n) for n in range(120)]
    fake = FakeXeroPaging(records)
    ids = [r["InvoiceID"] for r in records]

    found = make_client(fake).get_by_ids(Resource.INVOICES, [*ids, ids[0]])

    assert len(fake.requests) == 3
    sizes = [len(r.url.params["IDs"].split(",")) for r in fake.requests]
    assert sizes == [50, 50, 20]
    assert [r.url.params["page"] for r in fake.requests] == ["1", "1", "1"]
    assert [i.invoice_id for i in found] == ids


def test_contacts_by_ids_include_archived_ones() -> None:
    fake = FakeXeroPaging([{"ContactID": "c1", "ContactStatus": "ARCHIVED"}], key="Contacts")
    (contact,) = make_client(fake).get_by_ids("Contacts", ["c1"])
    assert isinstance(contact, Contact) and contact.contact_status == "ARCHIVED"
    assert fake.requests[0].url.params["includeArchived"] == "true"


def test_credit_notes_by_ids_use_a_where_filter() -> None:
    fake = Scripted(
        xero_response(body={"CreditNotes": [{"CreditNoteID": f"cn-{n}"} for n in range(25)]}),
        xero_response(body={"CreditNotes": [{"CreditNoteID": f"cn-{n}"} for n in range(25, 30)]}),
    )
    found = make_client(fake).get_by_ids(Resource.CREDIT_NOTES, [f"cn-{n}" for n in range(30)])

    assert len(found) == 30 and isinstance(found[0], CreditNote)
    where = fake.requests[0].url.params["where"]
    assert where.startswith('CreditNoteID==Guid("cn-0") OR CreditNoteID==Guid("cn-1")')
    assert "IDs" not in fake.requests[0].url.params
    with pytest.raises(ValueError, match="not a Xero id"):
        make_client(fake).get_by_ids(Resource.CREDIT_NOTES, ['x") OR 1==1 OR ("'])


# --- parsing --------------------------------------------------------------------------------------


def test_money_stays_exact_and_old_dates_parse() -> None:
    body = (
        b'{"Invoices":[{"InvoiceID":"i1","SubTotal":0.1,"TotalTax":0.2,"Total":0.3,"AmountDue":1234.5678,'
        b'"AmountPaid":0.30000000000000004,"FullyPaidOnDate":"/Date(-2208988800000+0000)/"}]}'
    )
    fake = Scripted(xero_response(body=body))
    (record,) = make_client(fake).list_page(Resource.INVOICES).records

    assert record.sub_total + record.total_tax == record.total == Decimal("0.3")
    assert record.amount_due == Decimal("1234.5678")
    assert record.amount_paid == Decimal("0.30000000000000004")
    assert record.fully_paid_on_date == date(1900, 1, 1)


def test_a_bad_record_is_isolated_from_its_page() -> None:
    bad = invoice(2, Date="the day after tomorrow", Total="a lot")
    fake = Scripted(xero_response(body={"Invoices": [invoice(1), bad, {"Total": 1}, invoice(3)]}))

    page = make_client(fake).list_page(Resource.INVOICES)

    assert [r.invoice_number for r in page.records] == ["INV-0001", "INV-0003"]
    assert [(b.index, b.record_id) for b in page.bad_records] == [(1, invoice(2)["InvoiceID"]), (2, None)]
    assert "Date" in page.bad_records[0].error and "Total" in page.bad_records[0].error
    assert "the day after tomorrow" not in page.bad_records[0].error  # no record content in the text
    assert isinstance(page.records[0], Invoice)


def test_a_body_that_is_not_json_is_a_clear_error() -> None:
    fake = Scripted(xero_response(body=b"<html>oops</html>"))
    with pytest.raises(XeroBadResponseError, match="not JSON"):
        make_client(fake).list_page(Resource.INVOICES)


# --- errors ---------------------------------------------------------------------------------------

VALIDATION_BODY = {
    "ErrorNumber": 10,
    "Type": "ValidationException",
    "Message": "A validation exception occurred",
    "Elements": [
        {
            "Amount": 1000,
            "Invoice": {"InvoiceID": "i1"},
            "ValidationErrors": [{"Message": "Payment amount exceeds"}],
        },
        {
            "Amount": 5,
            "Invoice": {"InvoiceID": "i2"},
            "ValidationErrors": [{"Message": "Account must be valid"}],
        },
    ],
}


def test_validation_exception_maps_to_messages_per_element() -> None:
    fake = Scripted(xero_response(400, VALIDATION_BODY))
    with pytest.raises(XeroValidationError) as caught:
        make_client(fake).list_page(Resource.INVOICES)

    error = caught.value
    assert error.status_code == 400
    assert error.messages == ["Payment amount exceeds", "Account must be valid"]
    assert [(e.index, e.messages) for e in error.elements] == [
        (0, ("Payment amount exceeds",)),
        (1, ("Account must be valid",)),
    ]
    assert error.elements[1].element["Invoice"] == {"InvoiceID": "i2"}
    assert "ValidationErrors" not in error.elements[0].element


def test_other_400_keeps_xeros_message() -> None:
    body = {"ErrorNumber": 16, "Type": "QueryParseException", "Message": "No property or field 'Nope' exists"}
    fake = Scripted(xero_response(400, body))
    with pytest.raises(XeroValidationError) as caught:
        make_client(fake).list_page(Resource.INVOICES, where="Nope==1")
    assert caught.value.messages == ["No property or field 'Nope' exists"]
    assert caught.value.elements == []


@pytest.mark.parametrize(
    ("status", "body", "error", "text"),
    [
        (404, b"The resource you're looking for cannot be found", XeroNotFound, "cannot be found"),
        (409, {"Message": "conflict"}, XeroError, "409"),
    ],
)
def test_error_statuses_map_to_named_errors(
    status: int, body: Any, error: type[Exception], text: str
) -> None:
    fake = Scripted(
        xero_response(status, body, {"Content-Type": "text/plain"} if isinstance(body, bytes) else None)
    )
    with pytest.raises(error, match=text):
        make_client(fake).list_page(Resource.INVOICES)
    assert len(fake.requests) == 1


def test_a_403_that_survives_one_refresh_is_the_token_providers_to_judge() -> None:
    # The brief: a 401/403 that survives one refresh puts the connection in needs_reconnect, with why.
    tokens = FakeTokens(marks=True)
    forbidden = xero_response(
        403, {"Title": "Forbidden", "Detail": "AuthorizationUnsuccessful: missing scope"}
    )
    fake = Scripted(forbidden, forbidden)

    with pytest.raises(NeedsReconnect, match="scopes_missing") as caught:
        make_client(fake, tokens=tokens).list_page(Resource.INVOICES)

    assert isinstance(caught.value.__cause__, XeroForbidden) and caught.value.__cause__.status_code == 403
    assert tokens.calls == [False, True]
    assert tokens.refusals == [ReconnectReason.SCOPES_MISSING]


def test_a_403_of_a_removed_user_and_a_401_after_refresh_say_their_reasons() -> None:
    removed = xero_response(403, {"Title": "Forbidden", "Detail": "AuthenticationUnsuccessful"})
    tokens = FakeTokens(marks=True)
    with pytest.raises(NeedsReconnect):
        make_client(Scripted(removed, removed), tokens=tokens).list_page(Resource.INVOICES)
    assert tokens.refusals == [ReconnectReason.USER_REMOVED]

    unauthorised = xero_response(401, {"Title": "Unauthorized", "Detail": "TokenExpired"})
    tokens = FakeTokens(marks=True)
    with pytest.raises(NeedsReconnect):
        make_client(Scripted(unauthorised, unauthorised), tokens=tokens).list_page(Resource.INVOICES)
    assert tokens.refusals == [ReconnectReason.TOKEN_REVOKED]


def test_a_403_that_a_refresh_cures_is_not_a_refusal() -> None:
    tokens = FakeTokens()
    forbidden = xero_response(403, {"Title": "Forbidden", "Detail": "AuthenticationUnsuccessful"})
    fake = Scripted(forbidden, xero_response(200, {"Invoices": []}))

    make_client(fake, tokens=tokens).list_page(Resource.INVOICES)

    assert tokens.calls == [False, True] and tokens.refusals == []


def test_401_refreshes_the_token_once_and_retries() -> None:
    tokens = FakeTokens()
    fake = Scripted(
        xero_response(401, {"Title": "Unauthorized", "Detail": "TokenExpired"}), xero_response(body=OK_EMPTY)
    )

    make_client(fake, tokens=tokens).list_page(Resource.INVOICES)

    assert tokens.calls == [False, True]
    assert [r.headers["Authorization"] for r in fake.requests] == ["Bearer token-1", "Bearer token-2"]


def test_401_after_the_refresh_is_unauthorized_and_never_shows_the_token() -> None:
    tokens = FakeTokens()
    unauthorized = xero_response(401, {"Title": "Unauthorized", "Detail": "AuthenticationUnsuccessful"})
    fake = Scripted(unauthorized, unauthorized)

    with pytest.raises(XeroUnauthorized) as caught:
        make_client(fake, tokens=tokens).list_page(Resource.INVOICES)

    assert tokens.calls == [False, True]
    assert len(fake.requests) == 2
    assert "token-" not in str(caught.value) and "token-" not in repr(caught.value)


# --- retries --------------------------------------------------------------------------------------


@pytest.mark.parametrize("problem", ["minute", "concurrent", "appminute"])
def test_short_429_waits_retry_after_then_retries(problem: str) -> None:
    sleeps = Sleeps()
    limited = xero_response(429, b"", {"Retry-After": "7", "X-Rate-Limit-Problem": problem})
    fake = Scripted(limited, xero_response(body=OK_EMPTY))

    make_client(fake, sleeps=sleeps).list_page(Resource.INVOICES)

    assert sleeps.seconds == [7.0]
    assert len(fake.requests) == 2


def test_day_limit_429_is_not_retried_and_says_when_it_resets() -> None:
    sleeps = Sleeps()
    fake = Scripted(xero_response(429, b"", {"Retry-After": "3600", "X-Rate-Limit-Problem": "day"}))

    with pytest.raises(XeroRateLimited) as caught:
        make_client(fake, sleeps=sleeps).list_page(Resource.INVOICES)

    assert caught.value.is_daily
    assert caught.value.retry_after_seconds == 3600
    assert caught.value.resets_at == NOW + timedelta(hours=1)
    assert sleeps.seconds == [] and len(fake.requests) == 1


def test_429_longer_than_worth_waiting_is_raised_at_once() -> None:
    sleeps = Sleeps()
    fake = Scripted(xero_response(429, b"", {"Retry-After": "600", "X-Rate-Limit-Problem": "minute"}))
    with pytest.raises(XeroRateLimited) as caught:
        make_client(fake, sleeps=sleeps).list_page(Resource.INVOICES)
    assert caught.value.problem == "minute" and not caught.value.is_daily
    assert sleeps.seconds == []


def test_429s_past_the_attempts_raise_rate_limited() -> None:
    limited = xero_response(429, b"", {"Retry-After": "1", "X-Rate-Limit-Problem": "concurrent"})
    fake = Scripted(limited, limited, limited)
    with pytest.raises(XeroRateLimited, match="concurrent"):
        make_client(fake, max_attempts=3).list_page(Resource.INVOICES)
    assert len(fake.requests) == 3


def test_5xx_is_retried_with_backoff_then_server_error() -> None:
    sleeps = Sleeps()
    failing = xero_response(503, {"Message": "The Xero API is currently offline"})
    fake = Scripted(failing, failing, failing)

    with pytest.raises(XeroServerError, match="offline") as caught:
        make_client(fake, sleeps=sleeps, max_attempts=3).list_page(Resource.INVOICES)

    assert caught.value.status_code == 503
    assert len(fake.requests) == 3
    assert sleeps.seconds == [0.375, 0.75]  # equal jitter at random()=0.5: base 0.5 then 1.0


def test_5xx_then_success() -> None:
    fake = Scripted(xero_response(500, {"Message": "boom"}), xero_response(body=OK_EMPTY))
    assert make_client(fake).list_page(Resource.INVOICES).records == []


def test_timeouts_are_retried_then_xero_timeout() -> None:
    fake = Scripted(
        httpx.ReadTimeout("timed out"), httpx.ConnectError("refused"), httpx.ReadTimeout("timed out")
    )
    with pytest.raises(XeroTimeout, match="ReadTimeout after 3 attempt"):
        make_client(fake, max_attempts=3).list_page(Resource.INVOICES)
    assert len(fake.requests) == 3


def test_a_delete_without_key_is_not_resent_once_it_may_have_reached_xero() -> None:
    fake = Scripted(httpx.ReadTimeout("timed out"))
    with pytest.raises(XeroTimeout):
        make_client(fake).delete_payment("p1")
    assert len(fake.requests) == 1


def test_a_connection_that_never_opened_is_retried_even_for_a_delete() -> None:
    deleted = {"Payments": [{"PaymentID": "p1", "Status": "DELETED"}]}
    fake = Scripted(httpx.ConnectError("refused"), xero_response(body=deleted))
    assert make_client(fake).delete_payment("p1").status == "DELETED"


# --- quota and hooks ------------------------------------------------------------------------------


def test_quota_headers_are_exposed_and_hooks_called_per_attempt() -> None:
    seen: list[Quota] = []
    before: list[int] = []
    limited = xero_response(
        429, b"", {"Retry-After": "1", "X-Rate-Limit-Problem": "minute", "X-MinLimit-Remaining": "0"}
    )
    ok = xero_response(body=OK_EMPTY, headers={"X-MinLimit-Remaining": "41", "X-DayLimit-Remaining": "4321"})
    client = make_client(
        Scripted(limited, ok), on_response=seen.append, before_request=lambda: before.append(1)
    )
    assert client.quota is None

    page = client.list_page(Resource.INVOICES)

    assert len(before) == 2
    assert [q.minute_remaining for q in seen] == [0, 41]
    assert client.quota == page.quota
    assert (page.quota.minute_remaining, page.quota.day_remaining, page.quota.app_minute_remaining) == (
        41,
        4321,
        9999,
    )
    assert page.quota.observed_at == NOW


# --- payments -------------------------------------------------------------------------------------


def payment(invoice_id: str, amount: str) -> PaymentCreate:
    return PaymentCreate(
        invoice_id=invoice_id, account_code="090", date=date(2026, 3, 2), amount=Decimal(amount)
    )


def test_create_payments_puts_exact_json_and_maps_each_element() -> None:
    answer = {
        "Payments": [
            {
                "PaymentID": "9a4b5c3d-0000-0000-0000-000000000001",
                "Date": "/Date(1772409600000+0000)/",
                "Amount": 1234.5678,
                "Status": "AUTHORISED",
                "Invoice": {"InvoiceID": "i1"},
                "StatusAttributeString": "OK",
            },
            {
                "PaymentID": "00000000-0000-0000-0000-000000000000",
                "Amount": 0.3,
                "Invoice": {"InvoiceID": "i2"},
                "StatusAttributeString": "ERROR",
                "ValidationErrors": [{"Message": "Invoice not of valid status for modification"}],
            },
        ]
    }
    fake = Scripted(xero_response(body=answer))

    results = make_client(fake).create_payments(
        [payment("i1", "1234.5678"), payment("i2", "0.30")], idempotency_key="export-42"
    )

    (request,) = fake.requests
    assert (request.method, request.url.path) == ("PUT", "/api.xro/2.0/Payments")
    assert request.url.params["summarizeErrors"] == "false"
    assert request.headers["Idempotency-Key"] == "export-42"
    assert request.headers["Content-Type"] == "application/json"
    assert b'"Amount":1234.5678' in request.content and b'"Amount":0.30' in request.content
    assert json.loads(request.content)["Payments"][0] == {
        "Invoice": {"InvoiceID": "i1"},
        "Account": {"Code": "090"},
        "Date": "2026-03-02",
        "Amount": 1234.5678,
    }
    first, second = results
    assert first.ok and first.payment is not None and first.payment.amount == Decimal("1234.5678")
    assert first.payment_id == "9a4b5c3d-0000-0000-0000-000000000001"
    assert not second.ok and second.payment is None and second.payment_id is None
    assert second.validation_errors == ["Invoice not of valid status for modification"]
    assert (second.status, second.invoice_id, second.index) == ("ERROR", "i2", 1)


def test_idempotency_key_is_validated_before_sending() -> None:
    fake = Scripted()
    client = make_client(fake)
    with pytest.raises(ValueError, match="128"):
        client.create_payments([payment("i1", "1")], idempotency_key="k" * 129)
    with pytest.raises(ValueError, match="128"):
        client.create_payment(payment("i1", "1"), idempotency_key="")
    with pytest.raises(ValueError, match="ASCII"):
        client.create_payment(payment("i1", "1"), idempotency_key="clé")
    assert fake.requests == []
    assert client.create_payments([], idempotency_key="k" * 128) == []


def test_payments_with_a_key_are_retried_after_a_5xx() -> None:
    answer = {
        "Payments": [{"PaymentID": "p1", "Invoice": {"InvoiceID": "i1"}, "StatusAttributeString": "OK"}]
    }
    fake = Scripted(xero_response(502, b"bad gateway"), xero_response(body=answer))
    (result,) = make_client(fake).create_payments([payment("i1", "1")], idempotency_key="k1")
    assert result.ok
    assert [r.headers["Idempotency-Key"] for r in fake.requests] == ["k1", "k1"]
    assert fake.requests[0].content == fake.requests[1].content


def test_a_short_answer_to_a_batch_is_refused() -> None:
    fake = Scripted(xero_response(body={"Payments": []}))
    with pytest.raises(XeroBadResponseError, match="0 elements for 1"):
        make_client(fake).create_payments([payment("i1", "1")], idempotency_key="k1")


def test_create_payment_posts_one_and_raises_xeros_reason() -> None:
    created = {"Payments": [{"PaymentID": "p1", "Amount": 10, "Invoice": {"InvoiceID": "i1"}}]}
    refused = {
        "Payments": [
            {
                "PaymentID": "00000000-0000-0000-0000-000000000000",
                "Invoice": {"InvoiceID": "i1"},
                "HasValidationErrors": True,
                "ValidationErrors": [
                    {"Message": "Payment amount exceeds the amount outstanding on this document"}
                ],
            }
        ]
    }
    fake = Scripted(xero_response(body=created), xero_response(body=refused))
    client = make_client(fake)

    assert client.create_payment(payment("i1", "10"), idempotency_key="k1").payment_id == "p1"
    with pytest.raises(XeroValidationError, match="exceeds the amount outstanding") as caught:
        client.create_payment(payment("i1", "10000"), idempotency_key="k2")

    assert fake.requests[0].method == "POST" and fake.requests[0].url.path == "/api.xro/2.0/Payments"
    assert "summarizeErrors" not in fake.requests[0].url.params
    assert json.loads(fake.requests[0].content)["Payments"][0]["Amount"] == 10
    assert caught.value.elements[0].element["Invoice"] == {"InvoiceID": "i1"}


def test_delete_payment_posts_status_deleted() -> None:
    fake = Scripted(xero_response(body={"Payments": [{"PaymentID": "p1", "Status": "DELETED"}]}))
    deleted = make_client(fake).delete_payment("p1", idempotency_key="del-p1")
    assert deleted.status == "DELETED"
    (request,) = fake.requests
    assert (request.method, request.url.path) == ("POST", "/api.xro/2.0/Payments/p1")
    assert json.loads(request.content) == {"Status": "DELETED"}
    assert request.headers["Idempotency-Key"] == "del-p1"


# --- single records -------------------------------------------------------------------------------


def test_organisation_users_and_get() -> None:
    fake = Scripted(
        xero_response(
            body={"Organisations": [{"OrganisationID": "o1", "Name": "Demo", "BaseCurrency": "NZD"}]}
        ),
        xero_response(
            body={"Users": [{"UserID": "u1", "OrganisationRole": "FINANCIALADVISER"}, {"Nope": 1}]}
        ),
        xero_response(body={"Invoices": [invoice(7)]}),
        xero_response(body={"Invoices": []}),
    )
    client = make_client(fake)

    assert client.organisation().base_currency == "NZD"
    assert [u.user_id for u in client.users()] == ["u1"]
    assert client.get(Resource.INVOICES, invoice(7)["InvoiceID"]).invoice_number == "INV-0007"
    with pytest.raises(XeroNotFound):
        client.get(Resource.INVOICES, "missing")
    assert [r.url.path for r in fake.requests] == [
        "/api.xro/2.0/Organisation",
        "/api.xro/2.0/Users",
        f"/api.xro/2.0/Invoices/{invoice(7)['InvoiceID']}",
        "/api.xro/2.0/Invoices/missing",
    ]
    with pytest.raises(ValueError):
        client.get(Resource.ORGANISATION, "o1")
