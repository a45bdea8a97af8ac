"""RecordsTable's listings on moto (the template's table and indexes): every page full until the last, each
record once, filters served by a key (counted in the items DynamoDB reads), never another tenant's."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

import boto3
import pytest
from moto import mock_aws

from tests.support.counting import CountingClient
from tests.support.tables import create_template_table
from xero_bridge.adapters.aws.records_table import RecordsTable
from xero_bridge.errors import InvalidCursorError
from xero_bridge.models.listings import RecordQuery, RecordsPage
from xero_bridge.models.records import (
    Allocation,
    CreditNote,
    Customer,
    Invoice,
    InvoiceStatus,
    Overpayment,
    Payment,
    Prepayment,
    RecordPayload,
    RecordSource,
    RecordType,
    StoredRecord,
    SyncedRecord,
)

REGION = "eu-west-1"
TENANT = "tenant-1"
OTHER_TENANT = "tenant-2"
ORG = "org-1"
T0 = datetime(2026, 1, 1, tzinfo=UTC)
SOURCE = RecordSource(kind="page", run_id="run-1", resource="Invoices", page=1, fetched_at=T0)
STATUSES = ["DRAFT", "SUBMITTED", "AUTHORISED", "PAID", "VOIDED", "DELETED"]


@pytest.fixture
def dynamodb() -> Iterator[Any]:
    with mock_aws():
        yield boto3.client("dynamodb", region_name=REGION)


@pytest.fixture
def counting(dynamodb: Any) -> CountingClient:
    return CountingClient(dynamodb)


@pytest.fixture
def repo(dynamodb: Any, counting: CountingClient) -> Iterator[RecordsTable]:
    table = create_template_table(dynamodb, "RecordsTable", "records")
    repository = RecordsTable(table, client=cast(Any, counting), workers=4)
    yield repository
    repository.close()


def uid(kind: str, n: int) -> str:
    return f"{kind}-{n:04d}"


def invoice(n: int, *, customer: str, status: str, minutes: int) -> Invoice:
    return Invoice(
        xero_id=uid("inv", n),
        number=f"INV-{n:04d}",
        contact_id=customer,
        status=status,
        date=date(2025, 1, 1) + timedelta(days=n % 300),
        total=Decimal("100.00"),
        xero_updated_at=T0 + timedelta(minutes=minutes),
    )


def customer(n: int, *, active: bool, minutes: int) -> Customer:
    return Customer(
        xero_id=uid("cus", n),
        name=f"Customer {n}",
        active=active,
        xero_updated_at=T0 + timedelta(minutes=minutes),
    )


def write(repo: RecordsTable, payloads: list[RecordPayload], tenant: str = TENANT) -> None:
    repo.upsert_many(tenant, ORG, [SyncedRecord.of(payload, SOURCE) for payload in payloads])


@pytest.fixture
def held(repo: RecordsTable, counting: CountingClient) -> dict[str, list[Any]]:
    """A tenant with 90 invoices (60 of customer A, in every status), 25 customers, credit notes and payments
    of each kind; another tenant with the same ids, which no listing may ever show."""
    invoices = [
        invoice(n, customer="cus-A" if n < 60 else "cus-B", status=STATUSES[n % 6], minutes=(n * 37) % 997)
        for n in range(90)
    ]
    invoices.append(invoice(90, customer="cus-B", status="SOMETHING_NEW", minutes=500))  # a status Xero adds
    customers = [customer(n, active=n % 5 != 0, minutes=(n * 13) % 101) for n in range(25)]
    allocation = Allocation(invoice_id=uid("inv", 1), amount=Decimal("5.00"), date=date(2025, 3, 1))
    credit_notes = [
        CreditNote(xero_id=uid("cn", n), status="AUTHORISED", allocations=(allocation,), xero_updated_at=T0)
        for n in range(7)
    ]
    payments: list[RecordPayload] = [
        Payment(xero_id=uid("pay", n), invoice_id=uid("inv", n), amount=Decimal("10"), xero_updated_at=T0)
        for n in range(5)
    ]
    payments += [
        Overpayment(
            xero_id=uid("ovp", n), type="RECEIVE-OVERPAYMENT", allocations=(allocation,), xero_updated_at=T0
        )
        for n in range(3)
    ]
    payments += [
        Prepayment(xero_id=uid("pre", n), type="RECEIVE-PREPAYMENT", xero_updated_at=T0) for n in range(4)
    ]
    everything: list[RecordPayload] = [*invoices, *customers, *credit_notes, *payments]
    write(repo, everything)
    write(repo, everything, tenant=OTHER_TENANT)
    counting.reset()
    return {"invoices": invoices, "customers": customers, "credit_notes": credit_notes, "payments": payments}


def pages(repo: RecordsTable, query: RecordQuery, limit: int) -> list[RecordsPage]:
    """Every page of a listing, as the AR app reads it (each page from the previous one's position)."""
    found = [repo.list_page(TENANT, query, resume_at=None, limit=limit)]
    while found[-1].resume_at is not None:
        assert len(found) < 200, "the listing never ends"
        found.append(repo.list_page(TENANT, query, resume_at=found[-1].resume_at, limit=limit))
    return found


def ids(found: list[RecordsPage]) -> list[str]:
    return [record.xero_id for page in found for record in page.records]


def assert_full_until_the_last(found: list[RecordsPage], limit: int) -> None:
    sizes = [len(page.records) for page in found]
    assert all(size == limit for size in sizes[:-1]), sizes
    assert all(record.tenant_id == TENANT for page in found for record in page.records)


INVOICES = RecordQuery(record_types=(RecordType.INVOICE,))


@pytest.mark.parametrize("limit", [1, 7, 50, 200])
def test_every_invoice_once_in_pages_full_until_the_last(
    repo: RecordsTable, held: dict[str, list[Any]], limit: int
) -> None:
    found = pages(repo, INVOICES, limit)

    assert sorted(ids(found)) == sorted(i.xero_id for i in held["invoices"])
    assert_full_until_the_last(found, limit)


def test_a_status_lists_that_status_only_oldest_change_first_reading_nothing_else(
    repo: RecordsTable, held: dict[str, list[Any]], counting: CountingClient
) -> None:
    query = INVOICES.model_copy(update={"status": InvoiceStatus.AUTHORISED})

    found = pages(repo, query, 4)

    expected = sorted(
        (i for i in held["invoices"] if i.status == "AUTHORISED"), key=lambda i: i.xero_updated_at
    )
    assert ids(found) == [i.xero_id for i in expected]
    assert_full_until_the_last(found, 4)
    assert counting.scanned == len(expected)  # one GSI2 partition: not one other invoice read
    assert {q.get("IndexName") for q in counting.queries} == {"GSI2"}


def test_updated_since_merges_every_status_in_change_order_from_that_instant(
    repo: RecordsTable, held: dict[str, list[Any]]
) -> None:
    since = T0 + timedelta(minutes=400)
    query = INVOICES.model_copy(update={"updated_since": since})

    found = pages(repo, query, 6)

    expected = sorted(
        (i for i in held["invoices"] if i.xero_updated_at >= since),
        key=lambda i: (i.xero_updated_at, i.xero_id),
    )
    assert ids(found) == [i.xero_id for i in expected]
    assert "inv-0090" in ids(found)  # the status no filter names is listed by change too
    assert_full_until_the_last(found, 6)


def test_status_and_updated_since_together_read_one_partition_from_that_instant(
    repo: RecordsTable, held: dict[str, list[Any]], counting: CountingClient
) -> None:
    since = T0 + timedelta(minutes=300)
    query = INVOICES.model_copy(update={"status": InvoiceStatus.PAID, "updated_since": since})

    found = pages(repo, query, 3)

    expected = [i for i in held["invoices"] if i.status == "PAID" and i.xero_updated_at >= since]
    assert sorted(ids(found)) == sorted(i.xero_id for i in expected)
    assert counting.scanned == len(expected)


def test_a_customers_invoices_come_from_their_own_index_partition_with_full_pages_under_a_filter(
    repo: RecordsTable, held: dict[str, list[Any]], counting: CountingClient
) -> None:
    # Customer A has 60 invoices, 10 of them DRAFT: pages of 3 must still be full.
    query = INVOICES.model_copy(update={"customer_id": "cus-A", "status": InvoiceStatus.DRAFT})

    found = pages(repo, query, 3)

    expected = [i for i in held["invoices"] if i.contact_id == "cus-A" and i.status == "DRAFT"]
    assert sorted(ids(found)) == sorted(i.xero_id for i in expected)
    assert_full_until_the_last(found, 3)
    assert {q.get("IndexName") for q in counting.queries} == {"GSI1"}
    # Only customer A's invoices are ever read (some twice: a page resumes after the last record it kept).
    customer_a = sum(1 for i in held["invoices"] if i.contact_id == "cus-A")
    assert counting.scanned <= 2 * customer_a


def test_a_customers_invoices_without_a_filter_are_theirs_by_date(
    repo: RecordsTable, held: dict[str, list[Any]], counting: CountingClient
) -> None:
    found = pages(repo, INVOICES.model_copy(update={"customer_id": "cus-B"}), 8)

    theirs = [i for i in held["invoices"] if i.contact_id == "cus-B"]
    by_date = sorted(theirs, key=lambda i: (i.date, i.xero_id))
    assert ids(found) == [i.xero_id for i in by_date]
    assert counting.scanned == len(theirs)  # exact reads: nothing filtered, nothing read twice


def test_a_customer_with_no_invoice_matching_answers_one_empty_page(
    repo: RecordsTable, held: dict[str, list[Any]]
) -> None:
    query = INVOICES.model_copy(update={"customer_id": "cus-A", "updated_since": T0 + timedelta(days=30)})

    found = pages(repo, query, 5)

    assert len(found) == 1 and found[0].records == []


def test_customers_by_active_state_and_all_of_them(repo: RecordsTable, held: dict[str, list[Any]]) -> None:
    customers = RecordQuery(record_types=(RecordType.CONTACT,))

    archived = pages(repo, customers.model_copy(update={"active": False}), 2)
    active = pages(repo, customers.model_copy(update={"active": True}), 2)
    every = pages(repo, customers, 10)

    assert sorted(ids(archived)) == sorted(c.xero_id for c in held["customers"] if not c.active)
    assert sorted(ids(active)) == sorted(c.xero_id for c in held["customers"] if c.active)
    assert sorted(ids(every)) == sorted(c.xero_id for c in held["customers"])


def test_a_customer_archived_later_moves_to_the_inactive_listing(
    repo: RecordsTable, held: dict[str, list[Any]]
) -> None:
    first = held["customers"][1]
    assert first.active
    write(
        repo,
        [first.model_copy(update={"active": False, "xero_updated_at": first.xero_updated_at + timedelta(1)})],
    )
    customers = RecordQuery(record_types=(RecordType.CONTACT,))

    assert first.xero_id in ids(pages(repo, customers.model_copy(update={"active": False}), 50))
    assert first.xero_id not in ids(pages(repo, customers.model_copy(update={"active": True}), 50))


def test_xero_payments_list_payments_then_overpayments_then_prepayments_across_pages(
    repo: RecordsTable, held: dict[str, list[Any]]
) -> None:
    query = RecordQuery(record_types=(RecordType.PAYMENT, RecordType.OVERPAYMENT, RecordType.PREPAYMENT))

    found = pages(repo, query, 4)

    assert ids(found) == [p.xero_id for p in held["payments"]]
    assert_full_until_the_last(found, 4)
    overpayment = next(r for page in found for r in page.records if r.record_type is RecordType.OVERPAYMENT)
    assert isinstance(overpayment.payload, Overpayment) and overpayment.payload.allocations[0].amount == 5


def test_credit_notes_keep_their_allocations(repo: RecordsTable, held: dict[str, list[Any]]) -> None:
    found = pages(repo, RecordQuery(record_types=(RecordType.CREDIT_NOTE,)), 50)

    records: list[StoredRecord] = found[0].records
    assert [r.xero_id for r in records] == [c.xero_id for c in held["credit_notes"]]
    assert all(isinstance(r.payload, CreditNote) and len(r.payload.allocations) == 1 for r in records)


@pytest.mark.parametrize(
    ("query", "position"),
    [
        (INVOICES, {"sk": "CONTACT#cus-0001"}),  # another kind's key
        (INVOICES, {"gsi2sk": "2026-01-01T00:00:00.000000Z#inv-0001"}),  # another index's position
        (INVOICES.model_copy(update={"status": InvoiceStatus.PAID}), {"sk": "INVOICE#inv-0001"}),
        (INVOICES.model_copy(update={"customer_id": "cus-A"}), {"sk": "INVOICE#inv-0001"}),
    ],
)
def test_a_position_that_does_not_fit_the_listing_is_a_refused_cursor(
    repo: RecordsTable, held: dict[str, list[Any]], query: RecordQuery, position: dict[str, str]
) -> None:
    with pytest.raises(InvalidCursorError) as refused:
        repo.list_page(TENANT, query, resume_at=position, limit=5)
    assert "cursor" in refused.value.reason
