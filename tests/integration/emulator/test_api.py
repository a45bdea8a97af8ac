"""The accounting API over HTTP: who may call it, what it answers, Idempotency-Key."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, date, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.integration.emulator.conftest import SCOPES, Xero, add_customers


@pytest.fixture
def token(xero: Xero) -> str:
    return str(xero.connect()["access_token"])


def _invoice(contact_id: str, amount: str = "100.00") -> dict[str, Any]:
    return {
        "Type": "ACCREC",
        "Contact": {"ContactID": contact_id},
        "Date": "2026-01-10",
        "DueDate": "2026-02-10",
        "Status": "AUTHORISED",
        "LineAmountTypes": "NoTax",
        "LineItems": [
            {"Description": "Consulting", "Quantity": 1, "UnitAmount": amount, "AccountCode": "200"}
        ],
    }


# --- who may call --------------------------------------------------------------------------------------


def test_no_token_is_401_in_xeros_shape(xero: Xero) -> None:
    response = xero.http.get("/api.xro/2.0/Contacts", headers={"xero-tenant-id": xero.tenants[0]})
    assert response.status_code == 401
    body = response.json()
    assert body["Type"] is None and body["Title"] == "Unauthorized" and body["Status"] == 401
    assert body["Detail"] == "AuthenticationUnsuccessful"
    assert "www-authenticate" in response.headers


def test_garbage_token_is_401(xero: Xero) -> None:
    assert xero.api("GET", "Contacts", "not-a-jwt", xero.tenants[0]).status_code == 401


def test_unconnected_tenant_is_403(xero: Xero, token: str) -> None:
    other = xero.em.store.add_tenant("Not connected")
    response = xero.api("GET", "Contacts", token, other)
    assert response.status_code == 403
    assert response.json() == {
        **response.json(),
        "Title": "Forbidden",
        "Status": 403,
        "Detail": "AuthenticationUnsuccessful",
    }


def test_missing_tenant_header_is_403(xero: Xero, token: str) -> None:
    assert xero.api("GET", "Contacts", token, None).status_code == 403


def test_missing_scope_is_403_with_a_clear_detail(xero: Xero) -> None:
    # Given a user who granted contacts but not transactions
    xero.admin.set_consent(grant_only_scopes=["openid", "offline_access", "accounting.contacts.read"])
    token = xero.connect(scope="openid offline_access accounting.contacts.read accounting.transactions")[
        "access_token"
    ]
    # Then contacts can be read, invoices cannot, contacts cannot be written
    assert xero.api("GET", "Contacts", token, xero.tenants[0]).status_code == 200
    denied = xero.api("GET", "Invoices", token, xero.tenants[0])
    assert denied.status_code == 403
    assert denied.json()["Detail"].startswith("AuthorizationUnsuccessful")
    assert "accounting.invoices.read" in denied.json()["Detail"]
    write = xero.api("PUT", "Contacts", token, xero.tenants[0], json={"Contacts": [{"Name": "X"}]})
    assert write.status_code == 403


def test_granular_scopes_are_accepted(xero: Xero) -> None:
    scope = "offline_access accounting.invoices.read accounting.payments accounting.settings.read"
    token = xero.connect(scope=scope)["access_token"]
    assert xero.api("GET", "Invoices", token, xero.tenants[0]).status_code == 200
    assert xero.api("GET", "Payments", token, xero.tenants[0]).status_code == 200
    assert xero.api("GET", "Users", token, xero.tenants[0]).status_code == 200
    assert xero.api("GET", "Contacts", token, xero.tenants[0]).status_code == 403


def test_removed_user_keeps_refreshing_but_gets_403(xero: Xero) -> None:
    tokens = xero.connect()
    xero.admin.remove_user(xero.tenants[0])
    refreshed = xero.refresh(tokens["refresh_token"])
    assert refreshed.status_code == 200
    access = refreshed.json()["access_token"]
    assert xero.api("GET", "Contacts", access, xero.tenants[0]).status_code == 403
    assert xero.api("GET", "Contacts", access, xero.tenants[1]).status_code == 200
    assert xero.admin.users(xero.tenants[0]) == []


def test_revoked_connection_fault_is_403(xero: Xero, token: str) -> None:
    assert xero.admin.revoke_connection(xero.tenants[0]) == 1
    assert xero.api("GET", "Contacts", token, xero.tenants[0]).status_code == 403
    assert xero.api("GET", "Contacts", token, xero.tenants[1]).status_code == 200


def test_revoked_grant_fault_is_invalid_grant_on_refresh_and_401_on_the_api(xero: Xero) -> None:
    tokens = xero.connect()
    assert xero.admin.revoke_grant(xero.tenants[0]) == 1
    assert xero.api("GET", "Contacts", tokens["access_token"], xero.tenants[0]).status_code == 401
    refused = xero.refresh(tokens["refresh_token"])
    assert (refused.status_code, refused.json()["error"]) == (400, "invalid_grant")
    assert xero.admin.connections() == []


# --- what it answers -----------------------------------------------------------------------------------


def test_paged_list_with_pagination_and_quota_headers(xero: Xero, token: str) -> None:
    add_customers(xero.em, xero.tenants[0], 7)
    response = xero.api("GET", "Contacts", token, xero.tenants[0], params={"page": 2, "pageSize": 3})
    assert response.status_code == 200
    body = response.json()
    assert body["pagination"] == {"page": 2, "pageSize": 3, "pageCount": 3, "itemCount": 7}
    assert [c["Name"] for c in body["Contacts"]] == ["Customer 0003", "Customer 0004", "Customer 0005"]
    assert response.headers["X-MinLimit-Remaining"] == "59"
    assert response.headers["X-DayLimit-Remaining"] == "4999"
    assert response.headers["X-AppMinLimit-Remaining"] == "9999"


def test_paths_and_query_names_are_case_insensitive(xero: Xero, token: str) -> None:
    add_customers(xero.em, xero.tenants[0], 2)
    response = xero.api("GET", "contacts", token, xero.tenants[0], params={"PAGE": 1, "pagesize": 1})
    assert response.json()["pagination"]["pageSize"] == 1


@pytest.mark.parametrize(
    ("path", "key"),
    [
        *[
            (spelling, name)
            for name in ("Contacts", "Invoices", "CreditNotes", "Payments", "Overpayments", "Prepayments")
            for spelling in (name, name.lower(), name.upper())
        ],
        ("Accounts", "Accounts"),
        ("accounts", "Accounts"),
        ("Users", "Users"),
        ("USERS", "Users"),
        ("Currencies", "Currencies"),
        ("currencies", "Currencies"),
        ("Organisation", "Organisations"),
        ("organisation", "Organisations"),
        ("Organisations", "Organisations"),  # pyxero's name for it
        ("organisations", "Organisations"),
        ("ORGANISATIONS", "Organisations"),
    ],
)
def test_every_resource_is_routed_case_insensitively_with_its_aliases(
    xero: Xero, token: str, path: str, key: str
) -> None:
    response = xero.api("GET", path, token, xero.tenants[0])
    assert response.status_code == 200, response.text
    assert isinstance(response.json()[key], list)


def test_organisations_alias_answers_the_organisation(xero: Xero, token: str) -> None:
    [organisation] = xero.api("GET", "Organisations", token, xero.tenants[0]).json()["Organisations"]
    assert organisation["OrganisationID"] == xero.tenants[0]
    assert organisation["Name"] == "Org 1"


def test_currencies_are_the_organisations_base_first(xero: Xero, token: str) -> None:
    body = xero.api("GET", "Currencies", token, xero.tenants[0]).json()
    currencies = body["Currencies"]
    assert currencies[0] == {"Code": "AUD", "Description": "Australian Dollar"}
    assert {"Code": "USD", "Description": "United States Dollar"} in currencies
    assert len({c["Code"] for c in currencies}) == len(currencies)
    assert body["Status"] == "OK" and "pagination" not in body
    only_usd = xero.api("GET", "Currencies", token, xero.tenants[0], params={"where": 'Code=="USD"'})
    assert only_usd.json()["Currencies"] == [{"Code": "USD", "Description": "United States Dollar"}]
    ordered = xero.api("GET", "Currencies", token, xero.tenants[0], params={"order": "Code DESC"})
    codes = [c["Code"] for c in ordered.json()["Currencies"]]
    assert codes == sorted(codes, reverse=True)


def test_currencies_need_a_settings_scope(xero: Xero) -> None:
    # Given a user who granted contacts only
    xero.admin.set_consent(grant_only_scopes=["openid", "offline_access", "accounting.contacts.read"])
    token = xero.connect(scope="openid offline_access accounting.contacts.read")["access_token"]
    # Then currencies are refused, naming the scopes that would allow them
    denied = xero.api("GET", "Currencies", token, xero.tenants[0])
    assert denied.status_code == 403
    assert "accounting.settings.read" in denied.json()["Detail"]
    # And a settings.read grant is enough
    xero.admin.set_consent(grant_only_scopes=None)
    reader = xero.connect(scope="openid offline_access accounting.settings.read")["access_token"]
    assert xero.api("GET", "Currencies", reader, xero.tenants[0]).status_code == 200


def test_where_order_and_ids(xero: Xero, token: str) -> None:
    ids = add_customers(xero.em, xero.tenants[0], 4)
    where = xero.api("GET", "Contacts", token, xero.tenants[0], params={"where": 'Name=="Customer 0002"'})
    assert [c["ContactID"] for c in where.json()["Contacts"]] == [ids[2]]
    ordered = xero.api("GET", "Contacts", token, xero.tenants[0], params={"order": "Name DESC"})
    assert ordered.json()["Contacts"][0]["Name"] == "Customer 0003"
    by_ids = xero.api("GET", "Contacts", token, xero.tenants[0], params={"IDs": f"{ids[0]},{ids[3]}"})
    assert sorted(c["ContactID"] for c in by_ids.json()["Contacts"]) == sorted([ids[0], ids[3]])


def test_guids_without_dashes_or_in_capitals_in_path_ids_and_tenant_header(xero: Xero, token: str) -> None:
    ids = add_customers(xero.em, xero.tenants[0], 3)
    tenant = uuid.UUID(xero.tenants[0]).hex.upper()
    # A path id and the tenant header, both without dashes and in capitals
    one = xero.api("GET", f"Contacts/{uuid.UUID(ids[1]).hex.upper()}", token, tenant)
    assert one.status_code == 200, one.text
    assert one.json()["Contacts"][0]["ContactID"] == ids[1]
    # IDs= as pyxero sends them (hex, no dashes)
    hexed = ",".join(uuid.UUID(i).hex for i in ids[:2])
    by_ids = xero.api("GET", "Contacts", token, xero.tenants[0], params={"IDs": hexed})
    assert sorted(c["ContactID"] for c in by_ids.json()["Contacts"]) == sorted(ids[:2])


def test_get_by_id_and_404_as_plain_text(xero: Xero, token: str) -> None:
    contact_id = add_customers(xero.em, xero.tenants[0], 1)[0]
    one = xero.api("GET", f"Contacts/{contact_id}", token, xero.tenants[0])
    assert one.json()["Contacts"][0]["ContactID"] == contact_id
    missing = xero.api("GET", "Contacts/00000000-0000-0000-0000-000000000000", token, xero.tenants[0])
    assert missing.status_code == 404
    assert "cannot be found" in missing.text


@pytest.mark.parametrize(
    "header",
    ["{naive}", "{rfc1123}", "{iso_z}"],
)
def test_if_modified_since_in_xeros_accepted_formats(xero: Xero, token: str, header: str) -> None:
    # Given one contact, then (a simulated minute later) a cursor, then a second contact
    add_customers(xero.em, xero.tenants[0], 1)
    xero.admin.advance_clock(60)
    cursor = xero.em.clock.now().astimezone(UTC).replace(microsecond=0) - timedelta(seconds=1)
    xero.admin.advance_clock(60)
    add_customers(xero.em, xero.tenants[0], 1, prefix="Later")
    value = header.format(
        naive=cursor.strftime("%Y-%m-%dT%H:%M:%S"),
        rfc1123=cursor.strftime("%a, %d %b %Y %H:%M:%S GMT"),
        iso_z=cursor.strftime("%Y-%m-%dT%H:%M:%SZ"),
    )
    # When the app lists with If-Modified-Since
    response = xero.api("GET", "Contacts", token, xero.tenants[0], headers={"If-Modified-Since": value})
    # Then only the later contact comes back
    assert [c["Name"] for c in response.json()["Contacts"]] == ["Later 0000"]


def test_put_invoice_and_payment_with_exact_decimals(xero: Xero, token: str) -> None:
    contact_id = add_customers(xero.em, xero.tenants[0], 1)[0]
    created = xero.api(
        "PUT", "Invoices", token, xero.tenants[0], json={"Invoices": [_invoice(contact_id, "100.10")]}
    )
    assert created.status_code == 200, created.text
    invoice = json.loads(created.text, parse_float=Decimal)["Invoices"][0]
    assert invoice["Total"] == Decimal("100.10")
    bank = next(
        a
        for a in xero.api("GET", "Accounts", token, xero.tenants[0]).json()["Accounts"]
        if a["Type"] == "BANK"
    )
    payment = {
        "Invoice": {"InvoiceID": invoice["InvoiceID"]},
        "Account": {"AccountID": bank["AccountID"]},
        "Date": "2026-01-15",
        "Amount": Decimal("40.05"),
    }
    content = json.dumps({"Payments": [{**payment, "Amount": 40.05}]})
    paid = xero.api(
        "PUT",
        "Payments",
        token,
        xero.tenants[0],
        content=content,
        headers={"Content-Type": "application/json"},
    )
    assert paid.status_code == 200, paid.text
    body = json.loads(paid.text, parse_float=Decimal)
    assert body["Payments"][0]["Amount"] == Decimal("40.05")
    after = xero.api("GET", f"Invoices/{invoice['InvoiceID']}", token, xero.tenants[0])
    assert json.loads(after.text, parse_float=Decimal)["Invoices"][0]["AmountDue"] == Decimal("60.05")
    deleted = xero.api(
        "POST",
        f"Payments/{body['Payments'][0]['PaymentID']}",
        token,
        xero.tenants[0],
        json={"Status": "DELETED"},
    )
    assert deleted.status_code == 200, deleted.text


def test_admin_acts_as_a_xero_user_on_accounts_lock_dates_and_payments(xero: Xero, token: str) -> None:
    tenant = xero.tenants[0]
    contact_id = add_customers(xero.em, tenant, 1)[0]
    created = xero.api("PUT", "Invoices", token, tenant, json={"Invoices": [_invoice(contact_id, "50.00")]})
    invoice_id = created.json()["Invoices"][0]["InvoiceID"]

    gbp = xero.admin.add_account(tenant, code="093", name="GBP Bank", currency_code="GBP")
    clearing = xero.admin.add_account(
        tenant, code="856", name="Clearing", type="CURRLIAB", enable_payments=True
    )
    xero.admin.set_account_status(tenant, clearing["AccountID"], "ARCHIVED")
    by_hand = xero.admin.record_payment(tenant, invoice_id, "20.00", reference="Paid at the counter")
    organisation = xero.admin.set_lock_dates(tenant, period=date(2026, 1, 31), end_of_year=date(2025, 6, 30))

    accounts = {a["Code"]: a for a in xero.api("GET", "Accounts", token, tenant).json()["Accounts"]}
    assert accounts["093"]["CurrencyCode"] == "GBP" and accounts["093"]["Type"] == "BANK"
    assert accounts["856"]["Status"] == "ARCHIVED" and accounts["856"]["EnablePaymentsToAccount"] is True
    assert by_hand["Reference"] == "Paid at the counter"
    invoice = xero.api("GET", f"Invoices/{invoice_id}", token, tenant).json()["Invoices"][0]
    assert invoice["Payments"][0]["Reference"] == "Paid at the counter"
    assert organisation["PeriodLockDate"] and organisation["EndOfYearLockDate"]
    assert gbp["AccountID"]


def test_validation_errors_come_back_in_xeros_shape(xero: Xero, token: str) -> None:
    response = xero.api("PUT", "Invoices", token, xero.tenants[0], json={"Invoices": [{"Type": "ACCREC"}]})
    assert response.status_code == 400
    assert response.json()["Type"] == "ValidationException"


def test_invalid_json_is_400(xero: Xero, token: str) -> None:
    response = xero.api(
        "PUT",
        "Contacts",
        token,
        xero.tenants[0],
        content=b"{nope",
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 400


def test_post_contact_by_id_updates_it(xero: Xero, token: str) -> None:
    contact_id = add_customers(xero.em, xero.tenants[0], 1)[0]
    response = xero.api(
        "POST", f"Contacts/{contact_id}", token, xero.tenants[0], json={"Contacts": [{"Name": "Renamed Ltd"}]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["Contacts"][0]["Name"] == "Renamed Ltd"


def test_users_endpoint_lists_the_consenting_user(xero: Xero, token: str) -> None:
    users = xero.api("GET", "Users", token, xero.tenants[0]).json()["Users"]
    assert [(u["EmailAddress"], u["OrganisationRole"]) for u in users] == [
        ("finance.admin@example.com", "FINANCIALADVISER")
    ]


def test_unknown_resource_is_404_and_wrong_method_405(xero: Xero, token: str) -> None:
    assert xero.api("GET", "Nonsense", token, xero.tenants[0]).status_code == 404
    assert xero.api("DELETE", "Contacts", token, xero.tenants[0]).status_code == 405


# --- Idempotency-Key -----------------------------------------------------------------------------------


def _put_contact(xero: Xero, token: str, name: str, key: str) -> httpx.Response:
    return xero.api(
        "PUT",
        "Contacts",
        token,
        xero.tenants[0],
        json={"Contacts": [{"Name": name}]},
        headers={"Idempotency-Key": key},
    )


def test_same_key_same_body_replays_without_a_second_write(xero: Xero, token: str) -> None:
    first = _put_contact(xero, token, "Once Ltd", "key-1")
    second = _put_contact(xero, token, "Once Ltd", "key-1")
    assert first.status_code == second.status_code == 200
    assert second.json()["Contacts"][0]["ContactID"] == first.json()["Contacts"][0]["ContactID"]
    assert xero.admin.counts(xero.tenants[0])["Contacts"] == 1


def test_same_key_other_body_is_400(xero: Xero, token: str) -> None:
    _put_contact(xero, token, "Once Ltd", "key-2")
    other = _put_contact(xero, token, "Other Ltd", "key-2")
    assert other.status_code == 400
    assert "Idempotency-Key" in other.json()["Message"]
    assert xero.admin.counts(xero.tenants[0])["Contacts"] == 1


def test_keys_are_per_tenant(xero: Xero, token: str) -> None:
    _put_contact(xero, token, "Once Ltd", "key-3")
    response = xero.api(
        "PUT",
        "Contacts",
        token,
        xero.tenants[1],
        json={"Contacts": [{"Name": "Elsewhere"}]},
        headers={"Idempotency-Key": "key-3"},
    )
    assert response.status_code == 200


def test_key_longer_than_128_is_400(xero: Xero, token: str) -> None:
    assert _put_contact(xero, token, "Long Ltd", "k" * 129).status_code == 400
    assert _put_contact(xero, token, "Long Ltd", "k" * 128).status_code == 200


def test_key_is_kept_about_six_minutes_then_forgotten(xero: Xero, token: str) -> None:
    first = _put_contact(xero, token, "Twice Ltd", "key-4")
    xero.admin.advance_clock(5 * 60)
    within = _put_contact(xero, token, "Twice Ltd", "key-4")
    assert within.headers.get("Idempotent-Replayed") == "true"
    assert within.json()["Contacts"][0]["ContactID"] == first.json()["Contacts"][0]["ContactID"]
    xero.admin.advance_clock(6 * 60 + 1)  # past Xero's window, counted from the stored answer
    fresh = str(xero.connect()["access_token"])
    again = _put_contact(xero, fresh, "Twice Ltd", "key-4")
    # Then the write is done again: Xero refuses the duplicate name, proving it was not a replay
    assert again.status_code == 400
    assert "Idempotent-Replayed" not in again.headers


def test_scopes_constant_is_what_the_helpers_use() -> None:
    assert "offline_access" in SCOPES.split()
