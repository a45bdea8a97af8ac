"""Off balance (C7) on the local stack: kept current from RecordsTable's stream within seconds, each cause
made for real in the emulator and explained, the targeted re-fetch clearing or confirming the flag, and no
customer whose figures match ever flagged."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest

from tests.integration.balances.harness import (
    allocate,
    api_post,
    balance,
    balances,
    credit,
    invoice,
    new_customer,
    touch_customer,
    xero_outstanding,
)
from tests.integration.realtime.harness import RealtimeWorld, realtime_world
from tests.support.waiting import wait_for
from xero_bridge.models.balances import BalanceCause, CustomerBalance
from xero_bridge.models.records import Customer, RecordType

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def world() -> Iterator[RealtimeWorld]:
    with realtime_world() as w:
        yield w


def catch_up(world: RealtimeWorld) -> None:
    """The scheduled catch-up, now: what no webhook brought (payments, overpayments, prepayments)."""
    world.drain()
    world.app.stack.fire_schedule("CatchUpFunction")
    world.drain()


def checked(world: RealtimeWorld, contact_id: str, *, off: bool | None = None) -> CustomerBalance:
    """The customer's balance once the keeper checked its latest version (and, if given, flagged or not)."""

    def ready() -> bool:
        current = balance(world, contact_id)
        held = world.held(RecordType.CONTACT, contact_id)
        return (
            current is not None
            and held is not None
            and current.customer_version == held.xero_updated_at
            and (off is None or current.off_balance is off)
        )

    world.drain()
    try:
        wait_for(f"the balance of {contact_id}", ready, timeout=30)
    except AssertionError:  # say what the keeper saw: the check and the documents held
        docs = [
            (
                d.record_type.value,
                getattr(d.payload, "status", None),
                getattr(d.payload, "amount_due", None),
                getattr(d.payload, "remaining_credit", None),
                d.xero_updated_at.isoformat(),
            )
            for d in world.records.customer_documents(world.tenant_id, contact_id)
        ]
        raise AssertionError(f"{balance(world, contact_id)!r}; documents {docs}") from None
    found = balance(world, contact_id)
    assert found is not None
    return found


def test_after_the_initial_sync_every_customer_is_checked_and_none_is_off_balance(
    world: RealtimeWorld,
) -> None:
    customers = [s for s in world.records.list_items(world.tenant_id, RecordType.CONTACT)]
    assert customers
    for stored in customers:
        assert isinstance(stored.payload, Customer)
        found = balance(world, stored.xero_id)
        assert found is not None, stored.xero_id
        assert found.off_balance is False, found
        assert found.computed == xero_outstanding(world, stored.xero_id)
    listed = world.api(f"/orgs/{world.org_id}/customers?off_balance=true")
    assert listed.status_code == 200, listed.text
    assert listed.json() == {"customers": [], "next_cursor": None}


def test_a_matching_balance_with_two_currencies_credit_notes_overpayments_and_prepayments_is_never_flagged(
    world: RealtimeWorld,
) -> None:
    # Given a customer invoiced in the base currency and USD, with a credit note, an overpayment and a
    # prepayment, each partly allocated to an invoice, and one unallocated credit left on each
    contact = new_customer(world, "Two Currencies Ltd")
    local = invoice(world, contact, "500.00")
    usd = invoice(world, contact, "300.00", currency="USD")
    invoice(world, contact, "120.00", status="DRAFT")
    note = credit(world, "CreditNote", contact, "80.00")
    allocate(world, "CreditNote", note["CreditNoteID"], local["InvoiceID"], "30.00")
    over = credit(world, "Overpayment", contact, "50.00")
    allocate(world, "Overpayment", over["OverpaymentID"], local["InvoiceID"], "20.00")
    pre = credit(world, "Prepayment", contact, "70.00", currency_code="USD")
    allocate(world, "Prepayment", pre["PrepaymentID"], usd["InvoiceID"], "70.00")
    world.admin.record_payment(world.tenant_id, local["InvoiceID"], Decimal("100.00"))

    # When webhooks and the catch-up bring it all in (Xero sends no webhook for overpayments, prepayments
    # nor payments: until the catch-up, the customer is rightly off balance by the unseen overpayment)
    catch_up(world)
    found = checked(world, contact, off=False)

    # Then our figure is Xero's, raw across currencies, and the customer is not flagged
    assert found.off_balance is False and found.difference == 0
    assert found.computed == xero_outstanding(world, contact)
    # base currency: 500 - 30 - 20 - 100 = 350 due, less 50 + 30 unallocated credit; USD: 300 - 70 = 230
    organisation = world.app.emulator.store.list_resource(world.tenant_id, "Organisation")["Organisations"][0]
    assert found.by_currency == {organisation["BaseCurrency"]: Decimal("270.00"), "USD": Decimal("230.00")}
    answer = world.api(f"/orgs/{world.org_id}/customers/{contact}").json()
    assert answer["balance"]["off_balance"] is False
    assert answer["balance"]["computed"] == answer["balance"]["xero_outstanding"] == "500.00"


def muted_change_then_customer_edit(world: RealtimeWorld, contact: str, change: Callable[[], object]) -> None:
    """A Xero user's change made while the webhook is off; then an edit of the customer with it on."""
    with world.app.emulator.webhooks.muted():
        change()
    touch_customer(world, contact, "after-the-outage")


def refetched(world: RealtimeWorld, contact: str) -> dict[str, Any]:
    response = api_post(world, f"/orgs/{world.org_id}/customers/{contact}/refetch")
    assert response.status_code == 200, response.text
    return dict(response.json())


def test_an_invoice_paid_in_xero_while_the_webhook_was_off_is_named_then_the_refetch_clears_it(
    world: RealtimeWorld,
) -> None:
    # Given a customer with one unpaid invoice, in balance
    contact = new_customer(world, "Paid Meanwhile Ltd")
    unpaid = invoice(world, contact, "100.00")
    assert checked(world, contact).off_balance is False

    # When it is paid in full in Xero while the webhook is off, and the customer is edited later
    muted_change_then_customer_edit(
        world,
        contact,
        lambda: world.admin.record_payment(world.tenant_id, unpaid["InvoiceID"], Decimal("100.00")),
    )
    found = checked(world, contact, off=True)

    # Then it is off balance by that invoice, which the explanation names: we count it, Xero does not
    assert (found.computed, found.xero_outstanding, found.difference) == (Decimal("100"), 0, Decimal("100"))
    assert found.explained and [f.cause for f in found.explanation] == [BalanceCause.COUNTED_HERE_NOT_IN_XERO]
    finding = found.explanation[0]
    assert finding.xero_id == unpaid["InvoiceID"] and finding.amount == Decimal("100")
    assert unpaid["InvoiceNumber"] in finding.explanation and "not reached us" in finding.explanation
    listed = world.api(f"/orgs/{world.org_id}/customers?off_balance=true").json()["customers"]
    assert [c["xero_id"] for c in listed] == [contact]
    assert listed[0]["balance"]["difference"] == "100.00"

    # When support re-fetches the customer
    outcome = refetched(world, contact)

    # Then Xero's own documents add up to its figure: the flag clears once they are written
    assert outcome["outcome"] == "cleared" and outcome["xero_calls"] == 5
    assert [(f["cause"], f["xero_id"]) for f in outcome["findings"]] == [
        ("older_than_xero", unpaid["InvoiceID"])
    ]
    assert "PAID in Xero" in outcome["findings"][0]["explanation"]
    assert checked(world, contact, off=False).difference == 0
    assert world.api(f"/orgs/{world.org_id}/customers?off_balance=true").json()["customers"] == []


def test_a_draft_approved_in_xero_while_the_webhook_was_off_is_counted_there_not_here(
    world: RealtimeWorld,
) -> None:
    contact = new_customer(world, "Approved Meanwhile Ltd")
    invoice(world, contact, "40.00")
    draft = invoice(world, contact, "250.00", status="DRAFT")
    assert checked(world, contact).off_balance is False

    muted_change_then_customer_edit(
        world,
        contact,
        lambda: world.admin.edit_invoice(world.tenant_id, draft["InvoiceID"], {"Status": "AUTHORISED"}),
    )
    found = checked(world, contact, off=True)

    assert found.difference == Decimal("-250")
    assert [(f.cause, f.xero_id) for f in found.explanation] == [
        (BalanceCause.COUNTED_IN_XERO_NOT_HERE, draft["InvoiceID"])
    ]
    assert "DRAFT here" in found.explanation[0].explanation
    assert refetched(world, contact)["outcome"] == "cleared"
    assert checked(world, contact, off=False).off_balance is False


def test_an_invoice_we_never_received_is_not_explained_until_the_refetch_finds_it_in_xero(
    world: RealtimeWorld,
) -> None:
    contact = new_customer(world, "New Invoice Meanwhile Ltd")
    invoice(world, contact, "75.00")
    assert checked(world, contact).off_balance is False

    created: dict[str, Any] = {}
    muted_change_then_customer_edit(world, contact, lambda: created.update(invoice(world, contact, "60.00")))
    found = checked(world, contact, off=True)

    # Nothing we hold explains it: the answer says so and offers the re-fetch
    assert found.difference == Decimal("-60") and not found.explained and found.explanation == ()
    assert found.note is not None and f"/customers/{contact}/refetch" in found.note
    answer = world.api(f"/orgs/{world.org_id}/customers/{contact}").json()["balance"]
    assert answer["explained"] is False and "refetch" in answer["note"]

    outcome = refetched(world, contact)
    assert outcome["outcome"] == "cleared"
    assert [(f["cause"], f["xero_id"], f["amount"]) for f in outcome["findings"]] == [
        ("missing_here", created["InvoiceID"], "-60.00")
    ]
    assert "we do not hold it" in outcome["findings"][0]["explanation"]
    assert checked(world, contact, off=False).off_balance is False


def test_a_part_payment_missed_shows_our_version_older_than_xeros_with_the_event_it_came_from(
    world: RealtimeWorld,
) -> None:
    contact = new_customer(world, "Part Paid Meanwhile Ltd")
    unpaid = invoice(world, contact, "100.00")
    assert checked(world, contact).off_balance is False
    ours = world.held(RecordType.INVOICE, unpaid["InvoiceID"])
    assert ours is not None and ours.source.kind == "webhook"

    muted_change_then_customer_edit(
        world,
        contact,
        lambda: world.admin.record_payment(world.tenant_id, unpaid["InvoiceID"], Decimal("40.00")),
    )
    found = checked(world, contact, off=True)
    assert found.difference == Decimal("40") and not found.explained  # no one document is 40.00

    outcome = refetched(world, contact)
    assert outcome["outcome"] == "cleared"
    finding = outcome["findings"][0]
    assert (finding["cause"], finding["xero_id"], finding["amount"]) == (
        "older_than_xero",
        unpaid["InvoiceID"],
        "40.00",
    )
    assert f"event sequence {ours.source.event_sequence}" in finding["explanation"]
    assert "that change never reached us" in finding["explanation"]
    assert checked(world, contact, off=False).off_balance is False


def test_an_invoice_moved_to_another_currency_in_xero_is_a_currency_mismatch(world: RealtimeWorld) -> None:
    contact = new_customer(world, "Currency Changed Meanwhile Ltd")
    moved = invoice(world, contact, "100.00")
    assert checked(world, contact).off_balance is False

    line = {"Description": "Work", "Quantity": 1, "UnitAmount": Decimal("180.00"), "AccountCode": "200"}
    muted_change_then_customer_edit(
        world,
        contact,
        lambda: world.admin.edit_invoice(
            world.tenant_id, moved["InvoiceID"], {"CurrencyCode": "USD", "LineItems": [line]}
        ),
    )
    found = checked(world, contact, off=True)
    assert found.difference == Decimal("-80")

    outcome = refetched(world, contact)
    assert outcome["outcome"] == "cleared"
    assert [(f["cause"], f["xero_id"]) for f in outcome["findings"]] == [
        ("currency_mismatch", moved["InvoiceID"])
    ]
    assert "in USD in Xero" in outcome["findings"][0]["explanation"]
    after = checked(world, contact, off=False)
    assert after.off_balance is False and "USD" in after.by_currency


def test_the_catch_up_brings_what_the_webhook_missed_and_the_flag_clears(world: RealtimeWorld) -> None:
    contact = new_customer(world, "Caught Up Ltd")
    unpaid = invoice(world, contact, "90.00")
    assert checked(world, contact).off_balance is False
    muted_change_then_customer_edit(
        world,
        contact,
        lambda: world.admin.record_payment(world.tenant_id, unpaid["InvoiceID"], Decimal("90.00")),
    )
    assert checked(world, contact, off=True).difference == Decimal("90")

    catch_up(world)

    assert checked(world, contact, off=False).difference == 0
    held = world.held(RecordType.INVOICE, unpaid["InvoiceID"])
    assert held is not None and held.source.kind == "catch_up"


def test_a_flag_whose_stream_batch_was_lost_does_not_outlive_the_next_catch_up(world: RealtimeWorld) -> None:
    # Given a customer in balance whose check was left wrong (as when a stream batch ends in the DLQ)
    contact = new_customer(world, "Lost Batch Ltd")
    invoice(world, contact, "15.00")
    right = checked(world, contact, off=False)
    wrong = right.model_copy(
        update={"computed": Decimal("99.00"), "difference": Decimal("84.00"), "off_balance": True}
    )
    balances(world).put_balance(world.tenant_id, world.org_id, wrong)
    assert [
        c["xero_id"]
        for c in world.api(f"/orgs/{world.org_id}/customers?off_balance=true").json()["customers"]
    ] == [contact]

    # When the catch-up runs
    catch_up(world)

    # Then the flag was rechecked from what we hold, and cleared
    found = balance(world, contact)
    assert found is not None and found.off_balance is False and found.computed == Decimal("15.00")
    outcome = world.api(f"/orgs/{world.org_id}/connection").json()
    assert world.api(f"/orgs/{world.org_id}/customers?off_balance=true").json()["customers"] == [], outcome
