"""Reading the emulated Xero: paging, If-Modified-Since, IDs, where, order, archived, summaryOnly."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from xero_emulator import xero_json
from xero_emulator.errors import BadRequest, NotFound
from xero_emulator.store import XeroStore


def test_paged_invoices_carry_xero_envelope_and_pagination(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    total = store.counts(tenant)["Invoices"]

    body = store.list_resource(tenant, "Invoices", page=2, page_size=10)

    assert body["Status"] == "OK" and body["Id"] and body["ProviderName"]
    assert body["DateTimeUTC"].startswith("/Date(")
    assert body["pagination"] == {"page": 2, "pageSize": 10, "pageCount": -(-total // 10), "itemCount": total}
    assert len(body["Invoices"]) == 10
    assert all(inv["LineItems"] for inv in body["Invoices"] if inv["Status"] != "DELETED")


def test_page_past_the_end_is_empty_and_page_size_is_capped_at_1000(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    past = store.list_resource(tenant, "Contacts", page=99, page_size=10, include_archived=True)
    capped = store.list_resource(tenant, "Invoices", page=1, page_size=5000)
    default = store.list_resource(tenant, "Invoices", page=1)

    assert past["Contacts"] == [] and past["pagination"]["itemCount"] == 40
    assert capped["pagination"]["pageSize"] == 1000
    assert default["pagination"]["pageSize"] == 100 and len(default["Invoices"]) == 100


def test_without_page_everything_comes_back_without_pagination_or_line_items(
    small: tuple[XeroStore, str],
) -> None:
    store, tenant = small
    body = store.list_resource(tenant, "Invoices")

    assert "pagination" not in body
    assert len(body["Invoices"]) == store.counts(tenant)["Invoices"]
    assert all(inv["LineItems"] == [] for inv in body["Invoices"])


@pytest.mark.parametrize("resource", ["Accounts", "Users", "Organisation"])
def test_settings_resources_are_never_paged(small: tuple[XeroStore, str], resource: str) -> None:
    store, tenant = small
    body = store.list_resource(tenant, resource, page=1, page_size=1)
    assert "pagination" not in body
    key = "Organisations" if resource == "Organisation" else resource
    assert len(body[key]) >= 1


def test_if_modified_since_returns_only_what_changed_after_it(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    invoice = store.list_resource(tenant, "Invoices", statuses=["DRAFT"])["Invoices"][0]
    cursor = store.clock.now()
    assert store.list_resource(tenant, "Invoices", if_modified_since=cursor)["Invoices"] == []

    store.clock.advance(5)
    store.admin_edit_invoice(tenant, invoice["InvoiceID"], {"Reference": "changed"})

    changed = store.list_resource(tenant, "Invoices", if_modified_since=cursor)["Invoices"]
    assert [i["InvoiceID"] for i in changed] == [invoice["InvoiceID"]]
    assert changed[0]["Reference"] == "changed"
    # the contact's UpdatedDateUTC moved too (its invoice changed)
    contacts = store.list_resource(tenant, "Contacts", if_modified_since=cursor)["Contacts"]
    assert [c["ContactID"] for c in contacts] == [invoice["Contact"]["ContactID"]]


def test_ids_filter_and_more_than_50_ids_is_a_404(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    all_ids = [i["InvoiceID"] for i in store.list_resource(tenant, "Invoices")["Invoices"]]

    body = store.list_resource(tenant, "Invoices", ids=[*all_ids[:3], "00000000-0000-0000-0000-000000000000"])
    assert sorted(i["InvoiceID"] for i in body["Invoices"]) == sorted(all_ids[:3])
    assert all(i["LineItems"] for i in body["Invoices"] if i["Status"] != "DELETED")  # IDs bring line items

    with pytest.raises(NotFound) as caught:
        store.list_resource(tenant, "Invoices", ids=all_ids[:51])
    assert caught.value.status == 404 and caught.value.body is None


def test_archived_contacts_only_with_include_archived(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    default = store.list_resource(tenant, "Contacts")["Contacts"]
    everything = store.list_resource(tenant, "Contacts", include_archived=True)["Contacts"]

    assert {c["ContactStatus"] for c in default} == {"ACTIVE"}
    assert len(everything) == 40 and sum(c["ContactStatus"] == "ARCHIVED" for c in everything) == 4
    archived_id = next(c["ContactID"] for c in everything if c["ContactStatus"] == "ARCHIVED")
    assert store.get_resource(tenant, "Contacts", archived_id)["Contacts"][0]["ContactStatus"] == "ARCHIVED"


def test_statuses_filter(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    body = store.list_resource(tenant, "Invoices", statuses=["PAID", "VOIDED"])
    assert {i["Status"] for i in body["Invoices"]} == {"PAID", "VOIDED"}


def test_statuses_is_an_invoices_parameter_only_and_ignored_elsewhere(small: tuple[XeroStore, str]) -> None:
    # Xero's spec declares Statuses on GET /Invoices alone; other resources filter Status with where
    store, tenant = small
    every_credit_note = store.list_resource(tenant, "CreditNotes")["CreditNotes"]
    asked = store.list_resource(tenant, "CreditNotes", statuses=["VOIDED"])["CreditNotes"]
    assert {c["Status"] for c in every_credit_note} != {"VOIDED"}
    assert [c["CreditNoteID"] for c in asked] == [c["CreditNoteID"] for c in every_credit_note]
    for resource in ("Payments", "Overpayments", "Prepayments"):
        assert (
            store.list_resource(tenant, resource, statuses=["VOIDED"])[resource]
            == (store.list_resource(tenant, resource)[resource])
        )


def test_where_on_remaining_credit_status_and_updated_to_the_second(small: tuple[XeroStore, str]) -> None:
    # the filters the initial sync splits its import by: open credit, and "changed since an instant"
    store, tenant = small
    for resource in ("CreditNotes", "Overpayments", "Prepayments"):
        every = store.list_resource(tenant, resource)[resource]
        open_credit = _where(store, tenant, resource, 'Status=="AUTHORISED" AND RemainingCredit > 0')
        assert open_credit and all(Decimal(str(d["RemainingCredit"])) > 0 for d in open_credit)
        assert {d["Status"] for d in open_credit} == {"AUTHORISED"}
        spent = _where(store, tenant, resource, 'Status!="AUTHORISED" OR RemainingCredit <= 0')
        assert len(open_credit) + len(spent) == len(every)
    invoice = store.list_resource(tenant, "Invoices", page=1)["Invoices"][0]
    store.clock.advance(2)
    store.admin_edit_invoice(tenant, invoice["InvoiceID"], {"Reference": "edited"})
    edited = store.get_resource(tenant, "Invoices", invoice["InvoiceID"])["Invoices"][0]
    stamp = xero_json.parse_datetime(edited["UpdatedDateUTC"])
    before = stamp.replace(microsecond=0) - timedelta(seconds=1)
    at = f"DateTime({before:%Y, %m, %d, %H, %M, %S})"
    later = _where(store, tenant, "Invoices", f"UpdatedDateUTC > {at}")
    assert [i["InvoiceID"] for i in later] == [invoice["InvoiceID"]]
    earlier = _where(store, tenant, "Invoices", f"UpdatedDateUTC <= {at}")
    assert len(earlier) + 1 == store.counts(tenant)["Invoices"]


def test_order_by_id_is_stable_under_edits(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    ids = [i["InvoiceID"] for i in store.list_resource(tenant, "Invoices", order="InvoiceID")["Invoices"]]
    assert ids == sorted(ids)
    store.admin_edit_invoice(tenant, ids[3], {"Reference": "edited"})
    again = [i["InvoiceID"] for i in store.list_resource(tenant, "Invoices", order="InvoiceID")["Invoices"]]
    assert again == ids


def _where(store: XeroStore, tenant: str, resource: str, clause: str, **kw: object) -> list[dict]:
    return store.list_resource(tenant, resource, where=clause, include_archived=True, **kw)[resource]  # type: ignore[arg-type]


def test_where_forms_a_sync_uses(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    invoices = store.list_resource(tenant, "Invoices")["Invoices"]
    contact_id = invoices[0]["Contact"]["ContactID"]

    assert {i["Type"] for i in _where(store, tenant, "Invoices", 'Type=="ACCREC"')} == {"ACCREC"}
    assert {i["Status"] for i in _where(store, tenant, "Invoices", 'Status=="AUTHORISED"')} == {"AUTHORISED"}
    assert all(c["IsCustomer"] for c in _where(store, tenant, "Contacts", "IsCustomer==true"))
    assert {c["ContactStatus"] for c in _where(store, tenant, "Contacts", 'ContactStatus=="ACTIVE"')} == {
        "ACTIVE"
    }
    assert {a["Type"] for a in _where(store, tenant, "Accounts", 'Type=="BANK"')} == {"BANK"}
    assert {p["PaymentType"] for p in _where(store, tenant, "Payments", 'PaymentType=="ACCRECPAYMENT"')} == {
        "ACCRECPAYMENT"
    }
    overpayments = _where(store, tenant, "Overpayments", 'Type=="RECEIVE-OVERPAYMENT"')
    assert overpayments and {o["Type"] for o in overpayments} == {"RECEIVE-OVERPAYMENT"}
    by_contact = _where(store, tenant, "Invoices", f'Contact.ContactID==guid("{contact_id}")')
    assert by_contact and {i["Contact"]["ContactID"] for i in by_contact} == {contact_id}
    recent = _where(store, tenant, "Invoices", "Date>=DateTime(2020,01,01)")
    assert recent and all(xero_json.parse_date(i["DateString"]).year >= 2020 for i in recent)
    both = _where(store, tenant, "Invoices", 'Type=="ACCREC" AND Status!="DELETED" && Status != "VOIDED"')
    assert both and all(i["Type"] == "ACCREC" and i["Status"] not in ("DELETED", "VOIDED") for i in both)
    either = _where(store, tenant, "Invoices", 'Status=="DRAFT" OR Status=="SUBMITTED" || Status=="VOIDED"')
    assert {i["Status"] for i in either} == {"DRAFT", "SUBMITTED", "VOIDED"}
    grouped = _where(store, tenant, "Invoices", '(Type=="ACCPAY" OR Type=="ACCREC") AND AmountDue > 0')
    assert grouped and all(Decimal(str(i["AmountDue"])) > 0 for i in grouped)


def test_unknown_where_field_or_syntax_is_a_query_parse_400(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    with pytest.raises(BadRequest) as unknown:
        store.list_resource(tenant, "Invoices", where='Colour=="red"')
    assert unknown.value.status == 400
    assert unknown.value.body == {
        "ErrorNumber": 16,
        "Type": "QueryParseException",
        "Message": "No property or field 'Colour' exists in type 'Invoice'",
    }
    for broken in ('Type=="ACCREC" AND', "Type==", "__import__('os')", 'Type=="ACCREC"))'):
        with pytest.raises(BadRequest):
            store.list_resource(tenant, "Invoices", where=broken)


def test_order_by_field_desc_and_default_creation_order(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    by_updated = store.list_resource(tenant, "Invoices", order="UpdatedDateUTC DESC")["Invoices"]
    stamps = [int(i["UpdatedDateUTC"][6:-7]) for i in by_updated]
    assert stamps == sorted(stamps, reverse=True)
    first = store.list_resource(tenant, "Invoices", page=1, page_size=5)["Invoices"]
    again = store.list_resource(tenant, "Invoices", page=1, page_size=5)["Invoices"]
    assert [i["InvoiceID"] for i in first] == [i["InvoiceID"] for i in again]
    with pytest.raises(BadRequest):
        store.list_resource(tenant, "Invoices", order="Nope ASC")


def test_summary_only_drops_heavy_fields(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    contact = store.list_resource(tenant, "Contacts", page=1, summary_only=True)["Contacts"][0]
    invoice = store.list_resource(tenant, "Invoices", page=1, summary_only=True)["Invoices"][0]

    assert "Phones" not in contact and "Addresses" not in contact and "Balances" not in contact
    assert contact["Name"] and "IsCustomer" in contact
    assert "LineItems" not in invoice and "Payments" not in invoice
    assert invoice["Total"] is not None and invoice["Contact"]["ContactID"]


def test_get_resource_by_id_and_by_number_and_404(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    invoice = store.list_resource(tenant, "Invoices", where='Type=="ACCREC"')["Invoices"][0]
    by_id = store.get_resource(tenant, "Invoices", invoice["InvoiceID"])["Invoices"]
    by_number = store.get_resource(tenant, "Invoices", invoice["InvoiceNumber"])["Invoices"]
    assert by_id[0]["InvoiceID"] == by_number[0]["InvoiceID"] == invoice["InvoiceID"]
    with pytest.raises(NotFound):
        store.get_resource(tenant, "Invoices", "00000000-0000-0000-0000-000000000000")
    with pytest.raises(NotFound):
        store.list_resource("no-such-tenant", "Invoices")


def test_pre_1970_dates_serialise_to_negative_ms_and_money_is_exact(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    body = store.list_resource(tenant, "Invoices", where="Date<DateTime(1970,01,01)")
    legacy = next(i for i in body["Invoices"] if i["DateString"] == "1969-10-01T00:00:00")

    assert legacy["Date"] == "/Date(-7948800000+0000)/"
    assert legacy["Status"] == "PAID" and legacy["FullyPaidOnDate"] == "/Date(-4060800000+0000)/"
    text = xero_json.dumps_str(
        {"Amount": Decimal("0.10"), "Total": Decimal("1234567.80"), "Rate": Decimal("1.000000")}
    )
    assert text == '{"Amount":0.10,"Total":1234567.80,"Rate":1.000000}'
    decoded = json.loads(xero_json.dumps(body))
    assert decoded["Invoices"][0]["Date"].startswith("/Date(")


def test_ms_helpers_round_trip() -> None:
    moment = datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC)
    assert xero_json.ms_datetime(moment) == "/Date(1573755038314+0000)/"
    assert xero_json.parse_datetime("/Date(1573755038314+0000)/") == moment
    assert xero_json.parse_date("/Date(1573689600000+0000)/").isoformat() == "2019-11-14"
    assert xero_json.parse_date("2019-11-14T00:00:00").isoformat() == "2019-11-14"
    assert xero_json.ms_datetime(moment - timedelta(days=20000)).startswith("/Date(-")


def test_the_currencies_listed_are_exactly_those_a_document_may_use(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    listed = [c["Code"] for c in store.list_resource(tenant, "Currencies")["Currencies"]]
    assert listed[0] == store.base_currency(tenant)
    contact = store.list_resource(tenant, "Contacts")["Contacts"][0]["ContactID"]

    def draft(currency: str) -> dict[str, object]:
        return {"Type": "ACCREC", "Contact": {"ContactID": contact}, "CurrencyCode": currency}

    for code in listed:
        status, _ = store.create_invoices(tenant, {"Invoices": [draft(code)]})
        assert status == 200, code
    with pytest.raises(BadRequest) as refused:
        store.create_invoices(tenant, {"Invoices": [draft("CHF")]})
    assert refused.value.messages == ["Organisation is not subscribed to currency CHF"]
    assert "CHF" not in listed


def test_invoice_numbers_and_contact_ids_select_invoices(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    invoices = store.list_resource(tenant, "Invoices", where='Type=="ACCREC"')["Invoices"]
    numbers = [invoices[0]["InvoiceNumber"], invoices[5]["InvoiceNumber"]]
    by_number = store.list_resource(tenant, "Invoices", invoice_numbers=numbers)["Invoices"]
    assert sorted(i["InvoiceNumber"] for i in by_number) == sorted(numbers)
    contact_id = invoices[0]["Contact"]["ContactID"]
    theirs = store.list_resource(tenant, "Invoices", contact_ids=[contact_id.replace("-", "").upper()])
    expected = [i["InvoiceID"] for i in store.list_resource(tenant, "Invoices")["Invoices"]
                if i["Contact"]["ContactID"] == contact_id]  # fmt: skip
    assert [i["InvoiceID"] for i in theirs["Invoices"]] == expected
    assert store.list_resource(tenant, "Invoices", invoice_numbers=["NO-SUCH"])["Invoices"] == []


def test_search_term_looks_in_names_numbers_and_email_without_regard_to_case(store: XeroStore) -> None:
    tenant = store.add_tenant("Search Org")
    store.admin_create_contact(tenant, "Alpha Traders")
    store.admin_create_contact(tenant, "Beta Ltd", EmailAddress="accounts@ALPHA.example")
    store.admin_create_contact(tenant, "Gamma Ltd", ContactNumber="CUST-ALP-9")
    store.admin_create_contact(tenant, "Delta Ltd", FirstName="Alphonse")
    store.admin_create_contact(tenant, "Epsilon Ltd")
    found = store.list_resource(tenant, "Contacts", search_term="alp")["Contacts"]
    assert [c["Name"] for c in found] == ["Alpha Traders", "Beta Ltd", "Gamma Ltd", "Delta Ltd"]


def test_where_to_lower_and_to_upper(small: tuple[XeroStore, str]) -> None:
    store, tenant = small
    name = store.list_resource(tenant, "Contacts")["Contacts"][0]["Name"]
    lower = store.list_resource(tenant, "Contacts", where=f'Name.ToLower()=="{name.lower()}"')["Contacts"]
    upper = store.list_resource(tenant, "Contacts", where=f'Name.toupper()=="{name.upper()}"')["Contacts"]
    assert [c["Name"] for c in lower] == [c["Name"] for c in upper] == [name]


def test_the_reads_every_api_request_makes_keep_a_querys_cached_matches(small: tuple[XeroStore, str]) -> None:
    # A sync reads a large organisation page by page with one query: its matches (filtered and sorted once)
    # are kept while nothing changes. The API asks the tenant and the caller's role on every request; those
    # reads must not count as changes, or every page filters and sorts the whole collection again.
    store, tenant = small
    user_id = next(iter(store._tenant(tenant).users))
    where, order = 'Type=="ACCREC" AND Status=="AUTHORISED"', "InvoiceID"
    first = store.list_resource(tenant, "Invoices", page=1, page_size=5, where=where, order=order)
    version = store._lock.version
    assert store.has_tenant(tenant) and store.user_role(tenant, user_id) is not None
    assert tenant in store.tenant_ids() and store.tenant_name(tenant)
    assert store._lock.version == version
    again = store.list_resource(tenant, "Invoices", page=1, page_size=5, where=where, order=order)
    assert again["Invoices"] == first["Invoices"] and store._lock.version == version
    # while a change does throw them away
    store.admin_edit_invoice(tenant, first["Invoices"][0]["InvoiceID"], {"Reference": "changed"})
    assert store._lock.version > version
    changed = store.list_resource(tenant, "Invoices", page=1, page_size=5, where=where, order=order)
    assert changed["Invoices"][0]["Reference"] == "changed"
