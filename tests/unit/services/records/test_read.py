"""Reading one record for the AR app: held (with its trail), left out on purpose (with why), unknown."""

from __future__ import annotations

import pytest

from tests.unit.services.sync.fakes import FakeConnections, connected
from tests.unit.services.webhooks.fakes import ORG, TENANT, FakeRecords, xero_contact, xero_invoice
from xero_bridge.domain.import_rules import map_records
from xero_bridge.errors import NotConnectedError, RecordNotHeld
from xero_bridge.models.connection import ConnectionStatus
from xero_bridge.models.records import RecordSource
from xero_bridge.services.records.read import ReadRecords

SOURCE = RecordSource(
    kind="webhook", resource="Invoices", event_ids=("INVOICE:x:UPDATE:t",), event_sequence=7
)


def reader(records: FakeRecords) -> ReadRecords:
    return ReadRecords(connections=FakeConnections(connected(TENANT)), records=records)


def test_a_held_invoice_reads_as_our_model_names_it_with_its_trail() -> None:
    records = FakeRecords()
    invoice = xero_invoice(1, paid="25.50")
    records.hold(map_records("Invoices", [invoice], SOURCE, incremental=True).records[0])

    view = reader(records).invoice(ORG, str(invoice["InvoiceID"]))

    body = view.model_dump(mode="json")
    assert (body["xero_id"], body["status"]) == (invoice["InvoiceID"], "AUTHORISED")
    assert (body["amount_paid"], body["amount_due"]) == ("25.50", "74.5")  # money as strings
    assert body["sync"]["kind"] == "webhook" and body["sync"]["event_sequence"] == 7
    assert body["sync"]["event_ids"] == ["INVOICE:x:UPDATE:t"] and body["sync"]["received_at"]
    assert body["sync"]["source_connection"] == "connected"


def test_a_record_of_a_disconnected_org_stays_readable_marked_as_from_a_disconnected_source() -> None:
    records = FakeRecords()
    contact = xero_contact(3)
    records.hold(map_records("Contacts", [contact], SOURCE, incremental=True).records[0])
    disconnected = connected(TENANT, ConnectionStatus.DISCONNECTED)

    view = ReadRecords(connections=FakeConnections(disconnected), records=records).customer(
        ORG, str(contact["ContactID"])
    )

    assert view.xero_id == contact["ContactID"]
    assert view.sync.source_connection == ConnectionStatus.DISCONNECTED


def test_a_contact_left_out_answers_not_held_with_the_rules_reason() -> None:
    records = FakeRecords()
    supplier = xero_contact(2, customer=False)
    batch = map_records("Contacts", [supplier], SOURCE, incremental=True)
    records.record_skipped(TENANT, ORG, batch.skipped[0], SOURCE)

    with pytest.raises(RecordNotHeld) as refused:
        reader(records).customer(ORG, str(supplier["ContactID"]))

    assert refused.value.code == "not_a_customer"
    assert "not a customer in Xero yet" in refused.value.reason


def test_an_unknown_record_is_not_found_and_an_org_never_connected_says_so() -> None:
    with pytest.raises(RecordNotHeld) as unknown:
        reader(FakeRecords()).invoice(ORG, "00000000-0000-4000-8000-000000000009")
    assert unknown.value.code == "not_found"

    with pytest.raises(NotConnectedError):
        ReadRecords(connections=FakeConnections(None), records=FakeRecords()).invoice(ORG, "x")
