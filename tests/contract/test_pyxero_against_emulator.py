"""pyxero (0.9.5), unchanged, against the emulator: OAuth, paging, filters, get by id, ``IDs=``, a payment.

pyxero was written against real Xero and differs from Xero's own SDK in the ways that found the emulator's
gaps: it asks for ``Organisations``, sends ``IDs=`` as GUIDs without dashes and writes XML bodies.

Only where pyxero talks to Xero is changed, never its code: its login and identity URLs are module
constants (``xero.auth.XERO_OAUTH2_AUTHORIZE_URL``, ``XERO_OAUTH2_TOKEN_URL``), set here with pytest's
``monkeypatch``; its API host is the credentials' ``base_url`` attribute, which its managers read. oauthlib
refuses plain HTTP unless ``OAUTHLIB_INSECURE_TRANSPORT`` is set, as its documentation says for local
servers. The browser's part of the consent (Xero's login page) is httpx following nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
import xero.auth
from xero import Xero
from xero.auth import OAuth2Credentials
from xero.exceptions import XeroBadRequest, XeroNotFound

from xero_emulator.config import EmulatorConfig
from xero_emulator.seed import SMALL_ORG
from xero_emulator.server import Emulator
from xero_emulator.testing import running_emulator

pytestmark = pytest.mark.contract

APP = EmulatorConfig()
SCOPES = ["offline_access", "openid", "profile", "email", "accounting.transactions", "accounting.contacts",
          "accounting.settings"]  # fmt: skip


@dataclass
class World:
    em: Emulator
    credentials: OAuth2Credentials
    xero: Xero
    tenant_id: str


def consent(base_url: str, credentials: OAuth2Credentials) -> str:
    """The user's browser: open pyxero's authorization URL, come back with the redirect it is sent to."""
    answer = httpx.get(credentials.generate_url(), timeout=15)
    assert answer.status_code == 302, answer.text
    return answer.headers["location"]


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with pytest.MonkeyPatch.context() as patch, running_emulator(seed="small") as em:
        patch.setattr(xero.auth, "XERO_OAUTH2_AUTHORIZE_URL", f"{em.base_url}/identity/connect/authorize")
        patch.setattr(xero.auth, "XERO_OAUTH2_TOKEN_URL", f"{em.base_url}/connect/token")
        patch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
        credentials = OAuth2Credentials(
            APP.client_id, APP.client_secret, callback_uri=APP.redirect_uris[0], scope=SCOPES
        )
        credentials.base_url = em.base_url
        credentials.verify(consent(em.base_url, credentials))
        tenant_id = next(t["tenantId"] for t in credentials.get_tenants() if t["tenantName"] == SMALL_ORG)
        credentials.tenant_id = tenant_id
        yield World(em=em, credentials=credentials, xero=Xero(credentials), tenant_id=tenant_id)


# --- OAuth ------------------------------------------------------------------------------------------------


def test_oauth_code_flow_tenants_and_refresh(world: World) -> None:
    credentials = world.credentials
    assert credentials.token["token_type"] == "Bearer"
    assert not credentials.expired()
    tenants = credentials.get_tenants()
    store = world.em.store
    assert {t["tenantName"] for t in tenants} == {store.tenant_name(t) for t in store.tenant_ids()}
    before = credentials.token["refresh_token"]
    refreshed = credentials.refresh()
    assert refreshed["refresh_token"] != before
    assert credentials.token is refreshed
    # the refreshed token works
    [organisation] = world.xero.organisations.all()
    assert organisation["OrganisationID"] == world.tenant_id


def test_set_default_tenant_picks_the_first_connection(world: World) -> None:
    credentials = OAuth2Credentials(APP.client_id, APP.client_secret, token=world.credentials.token)
    credentials.base_url = world.em.base_url
    credentials.set_default_tenant()
    assert credentials.tenant_id == credentials.get_tenants()[0]["tenantId"]


# --- reads ------------------------------------------------------------------------------------------------


def test_organisations_and_currencies(world: World) -> None:
    [organisation] = world.xero.organisations.all()
    assert (organisation["Name"], organisation["BaseCurrency"]) == (SMALL_ORG, "AUD")
    assert isinstance(organisation["CreatedDateUTC"], datetime)
    currencies = world.xero.currencies.all()
    assert currencies[0] == {"Code": "AUD", "Description": "Australian Dollar"}
    assert world.xero.currencies.filter(Code="USD") == [
        {"Code": "USD", "Description": "United States Dollar"}
    ]


def test_paging_through_invoices(world: World) -> None:
    invoices = world.xero.invoices
    everything = invoices.all()
    pages: list[dict[str, Any]] = []
    page = 1
    while batch := invoices.filter(page=page, pageSize=25):
        assert len(batch) <= 25
        pages.extend(batch)
        page += 1
    assert page - 1 == -(-len(everything) // 25)
    assert [i["InvoiceID"] for i in pages] == [i["InvoiceID"] for i in everything]
    assert all(i["LineItems"] for i in pages if i["Status"] != "DELETED")  # paged lists carry line items


def test_filters_become_xeros_where(world: World) -> None:
    xero_ = world.xero
    customers = xero_.contacts.filter(IsCustomer=True)
    assert customers and all(c["IsCustomer"] is True for c in customers)
    named = customers[0]["Name"]
    assert [c["Name"] for c in xero_.contacts.filter(Name__contains=named[1:-1])] == [named]
    assert [c["Name"] for c in xero_.contacts.filter(Name=named)] == [named]
    authorised = xero_.invoices.filter(Type="ACCREC", Status="AUTHORISED")
    assert authorised and {(i["Type"], i["Status"]) for i in authorised} == {("ACCREC", "AUTHORISED")}
    contact_id = authorised[0]["Contact"]["ContactID"]
    theirs = xero_.invoices.filter(Contact_ContactID=uuid.UUID(contact_id))
    assert theirs and {i["Contact"]["ContactID"] for i in theirs} == {contact_id}
    recent = xero_.invoices.filter(Date__gt=date(2026, 1, 1))
    assert recent and all(i["Date"].date() > date(2026, 1, 1) for i in recent)  # /Date()/ -> datetime
    by_status = xero_.invoices.filter(Statuses=["PAID", "VOIDED"])
    assert by_status and {i["Status"] for i in by_status} <= {"PAID", "VOIDED"}
    assert [c["Name"] for c in xero_.contacts.filter(Name__tolower=named.lower())] == [named]
    assert named in [c["Name"] for c in xero_.contacts.filter(searchTerm=named[2:-2].upper())]
    numbers = [i["InvoiceNumber"] for i in authorised[:2]]
    assert sorted(i["InvoiceNumber"] for i in xero_.invoices.filter(InvoiceNumbers=numbers)) == sorted(
        numbers
    )
    assert xero_.invoices.filter(ContactIDs=[contact_id]) == theirs  # sent as GUIDs without dashes
    ordered = xero_.contacts.filter(order="Name DESC", IsCustomer=True)
    assert [c["Name"] for c in ordered] == sorted((c["Name"] for c in customers), reverse=True)


def test_since_is_if_modified_since(world: World) -> None:
    store, tenant = world.em.store, world.tenant_id
    later = world.em.clock.now() + timedelta(seconds=5)
    world.em.clock.advance(10)
    contact = store.admin_create_contact(tenant, "Changed Since Ltd")
    changed = world.xero.contacts.filter(since=later.astimezone(UTC).replace(tzinfo=None))
    assert [c["ContactID"] for c in changed] == [contact["ContactID"]]


def test_get_by_id_and_a_missing_id(world: World) -> None:
    invoice = world.xero.invoices.filter(Type="ACCREC", Status="AUTHORISED")[0]
    [again] = world.xero.invoices.get(invoice["InvoiceID"])
    assert (again["InvoiceNumber"], again["Total"]) == (invoice["InvoiceNumber"], invoice["Total"])
    assert again["LineItems"]
    [same] = world.xero.invoices.get(uuid.UUID(invoice["InvoiceID"]).hex)
    assert same["InvoiceID"] == invoice["InvoiceID"]
    with pytest.raises(XeroNotFound):
        world.xero.invoices.get(str(uuid.uuid4()))


def test_ids_are_sent_without_dashes_and_still_found(world: World) -> None:
    wanted = [i["InvoiceID"] for i in world.xero.invoices.filter(Type="ACCREC")[:3]]
    got = world.xero.invoices.filter(IDs=wanted)
    assert sorted(i["InvoiceID"] for i in got) == sorted(wanted)
    contacts = [c["ContactID"] for c in world.xero.contacts.all()[:2]]
    assert sorted(c["ContactID"] for c in world.xero.contacts.filter(IDs=contacts)) == sorted(contacts)


# --- writes (pyxero writes XML) ---------------------------------------------------------------------------


def money(value: float) -> Decimal:
    """pyxero decodes JSON numbers as floats; Xero's two decimals survive ``str``."""
    return Decimal(str(value))


def _open_invoice(world: World) -> dict[str, Any]:
    invoices = world.xero.invoices.filter(Type="ACCREC", Status="AUTHORISED", CurrencyCode="AUD")
    return next(i for i in invoices if money(i["AmountDue"]) > Decimal("50"))


def test_creating_and_deleting_a_payment(world: World) -> None:
    invoice = _open_invoice(world)
    today = world.em.clock.now().date()
    [payment] = world.xero.payments.put(
        {
            "Invoice": {"InvoiceID": invoice["InvoiceID"]},
            "Account": {"Code": "090"},
            "Date": today,
            "Amount": Decimal("12.34"),
            "Reference": "pyxero",
        }
    )
    assert money(payment["Amount"]) == Decimal("12.34")
    assert payment["Status"] == "AUTHORISED" and payment["Reference"] == "pyxero"
    assert payment["Date"].date() == today
    [after] = world.xero.invoices.get(invoice["InvoiceID"])
    assert money(after["AmountDue"]) == money(invoice["AmountDue"]) - Decimal("12.34")
    [deleted] = world.xero.payments.delete(payment["PaymentID"])
    assert deleted["Status"] == "DELETED"
    [restored] = world.xero.invoices.get(invoice["InvoiceID"])
    assert restored["AmountDue"] == invoice["AmountDue"]


def test_a_refused_payment_is_pyxeros_bad_request_with_xeros_message(world: World) -> None:
    invoice = _open_invoice(world)
    with pytest.raises(XeroBadRequest) as refused:
        world.xero.payments.put(
            [
                {
                    "Invoice": {"InvoiceID": invoice["InvoiceID"]},
                    "Account": {"Code": "090"},
                    "Date": world.em.clock.now().date(),
                    "Amount": money(invoice["AmountDue"]) + Decimal("1000"),
                }
            ]
        )
    assert refused.value.errors == ["Payment amount exceeds the amount outstanding on this document"]


def test_creating_a_contact_and_an_invoice(world: World) -> None:
    [contact] = world.xero.contacts.put(
        {"Name": "Pyxero Pty Ltd", "EmailAddress": "ar@pyxero.example", "Phones": [
            {"PhoneType": "MOBILE", "PhoneNumber": "0400 111 222"}]}
    )  # fmt: skip
    assert contact["Phones"][0]["PhoneNumber"] == "0400 111 222"
    [invoice] = world.xero.invoices.put(
        {
            "Type": "ACCREC",
            "Contact": {"ContactID": contact["ContactID"]},
            "Date": date(2026, 3, 1),
            "DueDate": date(2026, 3, 31),
            "LineAmountTypes": "NoTax",
            "Status": "AUTHORISED",
            "LineItems": [{"Description": "Work", "Quantity": 2, "UnitAmount": Decimal("10.05"),
                           "AccountCode": "200"}],
        }
    )  # fmt: skip
    assert (money(invoice["Total"]), invoice["Status"]) == (Decimal("20.10"), "AUTHORISED")
    assert invoice["DueDate"].date() == date(2026, 3, 31)
    [renamed] = world.xero.contacts.save({"ContactID": contact["ContactID"], "Name": "Pyxero Renamed"})
    assert renamed["Name"] == "Pyxero Renamed"
