"""Xero's official Python SDK (``xero-python`` 15.2.0), unchanged, against the emulator.

Issue 2 promised that Xero's own SDKs work against the emulator unchanged. Every test here drives the SDK
only through its documented knobs -- ``ApiClient(Configuration(oauth2_token=OAuth2Token(client_id,
client_secret)), oauth2_token_getter=..., oauth2_token_saver=...)``, ``set_oauth2_token(token_dict)``,
``AccountingApi(api_client, base_url=f"{emulator}/api.xro/2.0")`` and ``IdentityApi(api_client,
base_url=emulator)`` -- and asserts only what an SDK user sees: the SDK's own models and exceptions.

Limits of the SDK (not of the emulator), and how they are covered:

* **Token endpoint.** ``TokenApi.refresh_token_url``, ``revoke_token_url`` and
  ``client_credentials_token_url`` (``xero_python/api_client/oauth2.py``) are class attributes hard-coded
  to ``https://identity.xero.com/connect/...``; neither ``Configuration`` nor ``ApiClient`` has a knob for
  them, so ``api_client.refresh_oauth2_token()`` cannot reach the emulator unchanged. Refresh is therefore
  covered on our own path: the backend POSTs ``/connect/token`` itself (as this project's client does) and
  hands the rotated set to the SDK's token setter. One extra test overrides the class attribute (pytest
  ``monkeypatch``, restored afterwards) -- not a documented knob -- only to show that the request the SDK's
  own refresh sends (``client_secret_post`` with ``scope``) is accepted and rotates the refresh token.
* **Code flow.** The SDK has no authorize/code-exchange helper (its README uses authlib/flask-oauthlib);
  here httpx plays the browser and the backend, then the token dict goes to ``set_oauth2_token``.
* **Retries.** The SDK's ``RESTClientObject`` uses a plain ``urllib3.PoolManager``, whose default
  ``Retry(3)`` honours ``Retry-After`` on a 429 for idempotent methods (GET, PUT, DELETE): a rate-limited
  GET is silently waited out up to three times before the SDK raises. A POST is never retried.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import jwt
import pytest
from xero_python.accounting import Account, AccountingApi, Contact, Contacts, Invoice, Payment, Payments
from xero_python.accounting.models import AccountType, CurrencyCode, LineAmountTypes
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi
from xero_python.exceptions import ApiException, RateLimitException
from xero_python.identity import IdentityApi

from xero_emulator.admin_client import AdminClient
from xero_emulator.config import EmulatorConfig
from xero_emulator.oauth import s256
from xero_emulator.seed import SMALL_ORG
from xero_emulator.server import Emulator
from xero_emulator.testing import running_emulator

pytestmark = pytest.mark.contract

APP = EmulatorConfig()  # the registered app the emulator starts with (client id, secret, redirect URI)
SCOPES = "openid profile email offline_access accounting.contacts accounting.transactions accounting.settings"
EXCEEDS_DUE = "Payment amount exceeds the amount outstanding on this document"


def authorise(base_url: str) -> dict[str, Any]:
    """The code flow with PKCE as a browser and a backend do it; returns Xero's token response."""
    verifier = secrets.token_urlsafe(48)
    with httpx.Client(base_url=base_url, timeout=15) as http:
        consent = http.get(
            "/identity/connect/authorize",
            params={
                "response_type": "code",
                "client_id": APP.client_id,
                "redirect_uri": APP.redirect_uris[0],
                "scope": SCOPES,
                "state": "sdk",
                "code_challenge": s256(verifier),
                "code_challenge_method": "S256",
            },
        )
        assert consent.status_code == 302, consent.text
        code = parse_qs(urlparse(consent.headers["location"]).query)["code"][0]
        answer = http.post(
            "/connect/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": APP.redirect_uris[0],
                "code_verifier": verifier,
            },
            auth=(APP.client_id, APP.client_secret),
        )
    assert answer.status_code == 200, answer.text
    return answer.json()


@dataclass
class Sdk:
    """One SDK client set up as Xero's README shows, pointed at the emulator through ``base_url``."""

    base_url: str
    api_client: ApiClient
    accounting: AccountingApi
    identity: IdentityApi
    saved: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def connect(cls, base_url: str) -> Sdk:
        saved: dict[str, Any] = {}
        api_client = ApiClient(
            Configuration(oauth2_token=OAuth2Token(client_id=APP.client_id, client_secret=APP.client_secret)),
            oauth2_token_getter=lambda: saved["token"],
            oauth2_token_saver=lambda token: saved.__setitem__("token", token),
        )
        api_client.set_oauth2_token(authorise(base_url))
        return cls(
            base_url=base_url,
            api_client=api_client,
            accounting=AccountingApi(api_client, base_url=f"{base_url}/api.xro/2.0"),
            identity=IdentityApi(api_client, base_url=base_url),
            saved=saved,
        )

    @property
    def token(self) -> dict[str, Any]:
        return self.api_client.get_oauth2_token()


@dataclass
class World:
    em: Emulator
    admin: AdminClient
    sdk: Sdk
    tenant_id: str  # "Demo Company (Global)", the seeded organisation with every case

    def today(self) -> date:
        return datetime.fromisoformat(self.admin.clock()["now"]).date()


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with running_emulator(seed="small") as em, AdminClient(em.base_url) as admin:
        tenant_id = next(t["tenant_id"] for t in admin.tenants() if t["name"] == SMALL_ORG)
        yield World(em=em, admin=admin, sdk=Sdk.connect(em.base_url), tenant_id=tenant_id)


@pytest.fixture
def faults(world: World) -> Iterator[AdminClient]:
    """The admin client, with every fault cleared afterwards (the emulator is shared by the module)."""
    try:
        yield world.admin
    finally:
        world.admin.clear_faults()


def open_invoices(world: World, count: int) -> list[Any]:
    """``count`` AUTHORISED AUD sales invoices with something left to pay, as the SDK lists them."""
    listed = world.sdk.accounting.get_invoices(
        world.tenant_id, page=1, where='Type=="ACCREC"', statuses=["AUTHORISED"]
    ).invoices
    chosen = [i for i in listed if i.currency_code == CurrencyCode.AUD and i.amount_due > Decimal("50")]
    assert len(chosen) >= count
    return chosen[:count]


def pay(invoice_id: str, amount: Decimal, on: date) -> Payment:
    return Payment(
        invoice=Invoice(invoice_id=invoice_id), account=Account(code="090"), amount=amount, date=on
    )


# --- identity ---------------------------------------------------------------------------------------------


def test_connections_are_the_emulators_tenants(world: World) -> None:
    connections = world.sdk.identity.get_connections()
    assert {(c.tenant_id, c.tenant_name) for c in connections} == {
        (t["tenant_id"], t["name"]) for t in world.admin.tenants()
    }
    claims = jwt.decode(world.sdk.token["access_token"], options={"verify_signature": False})
    for connection in connections:
        assert connection.tenant_type == "ORGANISATION"
        assert connection.auth_event_id == claims["authentication_event_id"]
        assert isinstance(connection.created_date_utc, datetime)
        assert connection.created_date_utc.tzinfo is not None


# --- reads ------------------------------------------------------------------------------------------------


def test_get_organisations(world: World) -> None:
    [organisation] = world.sdk.accounting.get_organisations(world.tenant_id).organisations
    assert organisation.organisation_id == world.tenant_id
    assert organisation.name == SMALL_ORG
    assert organisation.base_currency == CurrencyCode.AUD
    assert isinstance(organisation.created_date_utc, datetime)
    assert isinstance(organisation.period_lock_date, date)  # the seed sets one


def test_get_contacts_customers_with_page_size(world: World) -> None:
    accounting = world.sdk.accounting
    first = accounting.get_contacts(world.tenant_id, where="IsCustomer==true", page=1, page_size=10)
    second = accounting.get_contacts(world.tenant_id, where="IsCustomer==true", page=2, page_size=10)
    assert (first.pagination.page, first.pagination.page_size) == (1, 10)
    assert second.pagination.page == 2
    assert first.pagination.item_count > 10
    assert first.pagination.page_count == -(-first.pagination.item_count // 10)
    assert len(first.contacts) == 10
    assert not {c.contact_id for c in first.contacts} & {c.contact_id for c in second.contacts}
    for contact in first.contacts + second.contacts:
        assert contact.is_customer is True
        assert contact.name
        assert isinstance(contact.updated_date_utc, datetime)
        assert contact.updated_date_utc.tzinfo is not None


def test_get_invoices_accrec_authorised_deserialises_into_the_sdk_models(world: World) -> None:
    answer = world.sdk.accounting.get_invoices(
        world.tenant_id, page=1, where='Type=="ACCREC"', statuses=["AUTHORISED"]
    )
    invoices = answer.invoices
    assert invoices
    assert answer.pagination.page == 1
    assert answer.pagination.item_count == len(invoices)
    for invoice in invoices:
        assert (invoice.type, invoice.status) == ("ACCREC", "AUTHORISED")
        # Xero's /Date(ms+0000)/ strings become date (not datetime) and aware datetimes
        assert type(invoice.date) is date
        assert type(invoice.due_date) is date
        assert invoice.date <= invoice.due_date
        assert isinstance(invoice.updated_date_utc, datetime)
        offset = invoice.updated_date_utc.utcoffset()
        assert offset is not None and offset.total_seconds() == 0
        # money arrives as exact Decimals and adds up
        for amount in (invoice.sub_total, invoice.total_tax, invoice.total, invoice.amount_due):
            assert isinstance(amount, Decimal)
        assert invoice.total == invoice.sub_total + invoice.total_tax
        assert invoice.amount_due == invoice.total - invoice.amount_paid - invoice.amount_credited
        assert invoice.amount_due > 0
        assert isinstance(invoice.currency_code, CurrencyCode)
        assert invoice.contact.contact_id and invoice.contact.name
        assert invoice.line_items  # paged lists carry line items
        lines = sum(line.line_amount for line in invoice.line_items)
        inclusive = invoice.line_amount_types == LineAmountTypes.INCLUSIVE
        assert lines == (invoice.total if inclusive else invoice.sub_total)
        assert sum(line.tax_amount for line in invoice.line_items) == invoice.total_tax
    foreign = [i for i in invoices if i.currency_code != CurrencyCode.AUD]
    assert foreign
    assert all(i.currency_rate != Decimal("1") for i in foreign)


def test_get_invoices_pages_with_page_size(world: World) -> None:
    accounting = world.sdk.accounting
    first = accounting.get_invoices(world.tenant_id, page=1, page_size=40, where='Type=="ACCREC"')
    pages = first.pagination.page_count
    assert first.pagination.item_count > 40
    assert pages == -(-first.pagination.item_count // 40)
    last = accounting.get_invoices(world.tenant_id, page=pages, page_size=40, where='Type=="ACCREC"')
    assert last.pagination.page == pages
    assert len(last.invoices) == first.pagination.item_count - 40 * (pages - 1)
    assert not {i.invoice_id for i in first.invoices} & {i.invoice_id for i in last.invoices}


def test_an_invoice_dated_before_1970_comes_back_as_a_date(world: World) -> None:
    paid = world.sdk.accounting.get_invoices(
        world.tenant_id, page=1, where='Type=="ACCREC"', statuses=["PAID"]
    ).invoices
    [legacy] = [i for i in paid if i.date.year < 1970]
    assert legacy.date == date(1969, 10, 1)
    assert legacy.fully_paid_on_date == date(1969, 11, 15)
    assert legacy.amount_due == Decimal("0")
    assert legacy.amount_paid == legacy.total
    assert all(i.status == "PAID" for i in paid)


def test_get_invoices_by_ids(world: World) -> None:
    wanted = open_invoices(world, 2)
    got = world.sdk.accounting.get_invoices(world.tenant_id, i_ds=[i.invoice_id for i in wanted]).invoices
    assert sorted(i.invoice_id for i in got) == sorted(i.invoice_id for i in wanted)
    by_id = {i.invoice_id: i for i in got}
    for invoice in wanted:
        again = by_id[invoice.invoice_id]
        assert (again.invoice_number, again.contact.contact_id) == (
            invoice.invoice_number,
            invoice.contact.contact_id,
        )
        assert (again.date, again.total, again.amount_due) == (
            invoice.date,
            invoice.total,
            invoice.amount_due,
        )


def test_get_payments(world: World) -> None:
    payments = world.sdk.accounting.get_payments(world.tenant_id).payments
    assert payments
    assert {p.status for p in payments} == {"AUTHORISED", "DELETED"}  # the seed has one deleted payment
    for payment in payments:
        assert payment.payment_id
        assert type(payment.date) is date
        assert isinstance(payment.amount, Decimal) and payment.amount > 0
        assert payment.payment_type in ("ACCRECPAYMENT", "ACCPAYPAYMENT")
        assert payment.invoice.invoice_id and payment.invoice.contact.contact_id
        assert payment.account.account_id
        assert isinstance(payment.updated_date_utc, datetime)


def test_get_accounts_bank(world: World) -> None:
    accounts = world.sdk.accounting.get_accounts(world.tenant_id, where='Type=="BANK"').accounts
    assert accounts
    assert all(a.type == AccountType.BANK for a in accounts)
    by_code = {a.code: a for a in accounts}
    assert by_code["090"].currency_code == CurrencyCode.AUD
    assert by_code["090"].status == "ACTIVE"
    assert CurrencyCode.USD in {a.currency_code for a in accounts}
    assert "ARCHIVED" in {a.status for a in accounts}


# --- writes -----------------------------------------------------------------------------------------------


def test_create_payments_returns_per_element_validation_errors(world: World) -> None:
    accounting, tenant = world.sdk.accounting, world.tenant_id
    good, bad = open_invoices(world, 2)
    today = world.today()
    body = Payments(
        payments=[
            pay(good.invoice_id, Decimal("12.34"), today),
            pay(bad.invoice_id, bad.amount_due + Decimal("1000"), today),
        ]
    )
    key = f"sdk-{secrets.token_hex(8)}"
    # When one good and one invalid payment go in with summarizeErrors=false
    created = accounting.create_payments(tenant, body, summarize_errors=False, idempotency_key=key).payments
    # Then the SDK returns both elements, in order: one saved, one with Xero's validation error
    ok, refused = created
    assert ok.status_attribute_string == "OK"
    assert ok.payment_id and ok.status == "AUTHORISED"
    assert (ok.amount, ok.date, ok.invoice.invoice_id) == (Decimal("12.34"), today, good.invoice_id)
    assert not ok.validation_errors
    assert refused.status_attribute_string == "ERROR"
    assert refused.payment_id is None
    assert [e.message for e in refused.validation_errors] == [EXCEEDS_DUE]
    assert refused.invoice.invoice_id == bad.invoice_id
    # And only the good one changed what is due
    after = {
        i.invoice_id: i.amount_due
        for i in accounting.get_invoices(tenant, i_ds=[good.invoice_id, bad.invoice_id]).invoices
    }
    assert after == {good.invoice_id: good.amount_due - Decimal("12.34"), bad.invoice_id: bad.amount_due}
    # And replaying the Idempotency-Key answers the same payment without paying twice
    replay = accounting.create_payments(tenant, body, summarize_errors=False, idempotency_key=key).payments
    assert [p.payment_id for p in replay] == [ok.payment_id, None]
    [again] = accounting.get_invoices(tenant, i_ds=[good.invoice_id]).invoices
    assert again.amount_due == after[good.invoice_id]


def _refused_payment(world: World) -> Payment:
    [invoice] = open_invoices(world, 1)
    body = Payments(payments=[pay(invoice.invoice_id, invoice.amount_due + Decimal("1000"), world.today())])
    [refused] = world.sdk.accounting.create_payments(world.tenant_id, body, summarize_errors=False).payments
    assert [e.message for e in refused.validation_errors] == [EXCEEDS_DUE]
    return refused


def test_a_refused_payment_says_it_has_validation_errors(world: World) -> None:
    assert _refused_payment(world).has_validation_errors is True


def test_a_refused_payment_comes_back_with_the_account_resolved(world: World) -> None:
    refused = _refused_payment(world)
    assert refused.has_account is True
    assert refused.account.account_id and refused.account.name


# --- rate limits ------------------------------------------------------------------------------------------


def test_a_rate_limited_write_raises_the_sdks_rate_limit_exception(world: World, faults: AdminClient) -> None:
    faults.rate_limit_next(count=1, problem="minute", retry_after=60, method="POST")
    name = f"SDK 429 probe {secrets.token_hex(4)}"
    started = time.monotonic()
    with pytest.raises(ApiException) as caught:
        world.sdk.accounting.update_or_create_contacts(
            world.tenant_id, Contacts(contacts=[Contact(name=name)])
        )
    assert time.monotonic() - started < 5  # a POST is not retried: the 429 surfaces at once
    error = caught.value
    assert isinstance(error, RateLimitException)
    assert error.status == 429
    assert error.headers["Retry-After"] == "60"
    assert error.rate_limit == "minute"
    assert error.error_message == "You've exceeded the per minute rate limit"
    # and nothing was written
    found = world.sdk.accounting.get_contacts(world.tenant_id, where=f'Name=="{name}"').contacts
    assert found == []


def test_a_rate_limited_read_is_waited_out_then_raises(world: World, faults: AdminClient) -> None:
    # urllib3's default Retry honours Retry-After three times on a GET, then the SDK raises
    faults.rate_limit_next(count=4, problem="day", retry_after=1, method="GET")
    started = time.monotonic()
    with pytest.raises(RateLimitException) as caught:
        world.sdk.accounting.get_organisations(world.tenant_id)
    assert time.monotonic() - started >= 3
    assert caught.value.status == 429
    assert caught.value.headers["Retry-After"] == "1"
    assert caught.value.headers["X-Rate-Limit-Problem"] == "day"
    # and once the limit has passed, the same client works again
    assert world.sdk.accounting.get_organisations(world.tenant_id).organisations[0].name == SMALL_ORG


# --- refresh ----------------------------------------------------------------------------------------------


def test_refresh_on_our_path_rotates_and_the_sdk_uses_the_new_set(world: World) -> None:
    sdk = Sdk.connect(world.em.base_url)
    before = sdk.token
    # The backend refreshes (the SDK's refresh URL is hard-coded to identity.xero.com) ...
    with httpx.Client(base_url=sdk.base_url, timeout=15) as http:
        answer = http.post(
            "/connect/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": before["refresh_token"],
                "client_id": APP.client_id,
                "client_secret": APP.client_secret,
            },
        )
    assert answer.status_code == 200, answer.text
    # ... and hands the new set to the SDK's token setter
    sdk.api_client.set_oauth2_token(answer.json())
    after = sdk.token
    assert after["refresh_token"] != before["refresh_token"]
    assert after["access_token"] != before["access_token"]
    [organisation] = sdk.accounting.get_organisations(world.tenant_id).organisations
    assert organisation.organisation_id == world.tenant_id
    assert world.tenant_id in {c.tenant_id for c in sdk.identity.get_connections()}


def test_the_sdks_own_refresh_request_is_accepted_when_its_url_is_overridden(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not a documented knob: ``TokenApi.refresh_token_url`` is a class attribute (see module docstring)."""
    monkeypatch.setattr(TokenApi, "refresh_token_url", f"{world.em.base_url}/connect/token")
    sdk = Sdk.connect(world.em.base_url)
    before = sdk.token
    refreshed = sdk.api_client.refresh_oauth2_token()
    assert refreshed["refresh_token"] != before["refresh_token"]
    assert refreshed["scope"] == SCOPES.split()
    assert refreshed["expires_in"] == 1800 and refreshed["expires_at"] > time.time()
    assert sdk.saved["token"] is refreshed  # the SDK's saver received the rotated set
    [organisation] = sdk.accounting.get_organisations(world.tenant_id).organisations
    assert organisation.organisation_id == world.tenant_id
    # a second refresh rotates again, from the new refresh token
    assert sdk.api_client.refresh_oauth2_token()["refresh_token"] not in (
        before["refresh_token"],
        refreshed["refresh_token"],
    )
