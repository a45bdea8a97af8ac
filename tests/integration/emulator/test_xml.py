"""Writes in XML, answers in the format ``Accept`` asks for: as Xero does, and as pyxero writes."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from tests.integration.emulator.conftest import Xero, add_customers

XML = {"Content-Type": "application/xml", "Accept": "application/json"}
XML_BOTH_WAYS = {"Content-Type": "application/xml", "Accept": "application/xml"}


@pytest.fixture
def token(xero: Xero) -> str:
    return str(xero.connect()["access_token"])


def _invoice_xml(contact_id: str, amount: str = "100.00", root: str = "Invoice") -> str:
    invoice = f"""<Invoice>
        <Type>ACCREC</Type>
        <Contact><ContactID>{contact_id}</ContactID></Contact>
        <Date>2026-01-10T00:00:00</Date>
        <DueDate>2026-02-10T00:00:00</DueDate>
        <Status>AUTHORISED</Status>
        <LineAmountTypes>NoTax</LineAmountTypes>
        <SentToContact>true</SentToContact>
        <LineItems>
          <LineItem>
            <Description>Consulting</Description><Quantity>1</Quantity>
            <UnitAmount>{amount}</UnitAmount><AccountCode>200</AccountCode>
          </LineItem>
        </LineItems>
      </Invoice>"""
    return invoice if root == "Invoice" else f"<Invoices>{invoice}</Invoices>"


def test_an_xml_invoice_is_created_and_answered_in_json(xero: Xero, token: str) -> None:
    contact_id = add_customers(xero.em, xero.tenants[0], 1)[0]
    response = xero.api(
        "PUT", "Invoices", token, xero.tenants[0], content=_invoice_xml(contact_id, "100.10"), headers=XML
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    [invoice] = response.json()["Invoices"]
    assert (invoice["Status"], invoice["Total"], invoice["SentToContact"]) == ("AUTHORISED", 100.1, True)
    assert invoice["Contact"]["ContactID"] == contact_id
    assert [line["Description"] for line in invoice["LineItems"]] == ["Consulting"]
    assert invoice["DueDate"] == "/Date(1770681600000+0000)/"  # 2026-02-10


def test_xml_payments_under_a_plural_root_pay_the_invoice(xero: Xero, token: str) -> None:
    contact_id = add_customers(xero.em, xero.tenants[0], 1)[0]
    invoice = xero.api(
        "PUT",
        "Invoices",
        token,
        xero.tenants[0],
        content=_invoice_xml(contact_id, root="Invoices"),
        headers=XML,
    ).json()["Invoices"][0]
    body = f"""<Payments>
      <Payment>
        <Invoice><InvoiceID>{invoice["InvoiceID"]}</InvoiceID></Invoice>
        <Account><Code>090</Code></Account>
        <Date>2026-01-15T00:00:00</Date><Amount>40.05</Amount><IsReconciled>true</IsReconciled>
      </Payment>
    </Payments>"""
    paid = xero.api("PUT", "Payments", token, xero.tenants[0], content=body, headers=XML)
    assert paid.status_code == 200, paid.text
    [payment] = paid.json()["Payments"]
    assert payment["Amount"] == 40.05 and payment["IsReconciled"] is True
    after = xero.api("GET", f"Invoices/{invoice['InvoiceID']}", token, xero.tenants[0]).json()
    assert after["Invoices"][0]["AmountDue"] == 59.95
    # And pyxero's delete: POST /Payments/{id} with <Payment><Status>DELETED</Status></Payment>
    deleted = xero.api(
        "POST",
        f"Payments/{payment['PaymentID']}",
        token,
        xero.tenants[0],
        content="<Payment><Status>DELETED</Status></Payment>",
        headers=XML,
    )
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["Payments"][0]["Status"] == "DELETED"


def test_xml_contacts_with_phones_put_and_post(xero: Xero, token: str) -> None:
    body = """<Contacts><Contact>
        <Name>Xml Traders</Name><EmailAddress>ar@xml.example</EmailAddress>
        <Phones><Phone><PhoneType>MOBILE</PhoneType><PhoneNumber>0400 000 000</PhoneNumber></Phone></Phones>
      </Contact></Contacts>"""
    created = xero.api("PUT", "Contacts", token, xero.tenants[0], content=body, headers=XML)
    assert created.status_code == 200, created.text
    [contact] = created.json()["Contacts"]
    assert contact["EmailAddress"] == "ar@xml.example"
    assert contact["Phones"][0]["PhoneType"] == "MOBILE"
    renamed = xero.api(
        "POST",
        f"Contacts/{contact['ContactID']}",
        token,
        xero.tenants[0],
        content="<Contact><Name>Xml Traders Renamed</Name></Contact>",
        headers={"Content-Type": "text/xml"},
    )
    assert renamed.status_code == 200, renamed.text
    assert renamed.json()["Contacts"][0]["Name"] == "Xml Traders Renamed"


def test_accept_xml_gets_xeros_xml_response(xero: Xero, token: str) -> None:
    contact_id = add_customers(xero.em, xero.tenants[0], 1)[0]
    response = xero.api(
        "PUT", "Invoices", token, xero.tenants[0], content=_invoice_xml(contact_id), headers=XML_BOTH_WAYS
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(response.content)
    assert root.tag == "Response" and root.findtext("Status") == "OK"
    [invoice] = root.findall("Invoices/Invoice")
    assert invoice.findtext("Total") == "100.00"
    assert invoice.findtext("DueDate") == "2026-02-10T00:00:00"
    assert invoice.findtext("SentToContact") == "true"
    assert invoice.findtext("Contact/ContactID") == contact_id
    assert [line.findtext("Description") for line in invoice.findall("LineItems/LineItem")] == ["Consulting"]
    # reads too: text/xml asked, text/xml answered
    listed = xero.api("GET", "Contacts", token, xero.tenants[0], headers={"Accept": "text/xml"})
    assert listed.headers["content-type"].startswith("text/xml")
    assert [c.findtext("ContactID") for c in ET.fromstring(listed.content).findall("Contacts/Contact")] == [
        contact_id
    ]
    # and anything else (*/*, or JSON preferred) is JSON
    assert xero.api("GET", "Contacts", token, xero.tenants[0], headers={"Accept": "*/*"}).json()["Contacts"]
    mixed = xero.api(
        "GET",
        "Contacts",
        token,
        xero.tenants[0],
        headers={"Accept": "application/json, application/xml;q=0.5"},
    )
    assert mixed.headers["content-type"].startswith("application/json")


def test_a_refused_xml_write_gets_xeros_xml_api_exception(xero: Xero, token: str) -> None:
    contact_id = add_customers(xero.em, xero.tenants[0], 1)[0]
    invoice = xero.api(
        "PUT", "Invoices", token, xero.tenants[0], content=_invoice_xml(contact_id), headers=XML
    ).json()["Invoices"][0]
    body = f"""<Payment><Invoice><InvoiceID>{invoice["InvoiceID"]}</InvoiceID></Invoice>
        <Account><Code>090</Code></Account><Date>2026-01-15</Date><Amount>500.00</Amount></Payment>"""
    refused = xero.api("PUT", "Payments", token, xero.tenants[0], content=body, headers=XML_BOTH_WAYS)
    assert refused.status_code == 400
    root = ET.fromstring(refused.content)
    assert (root.tag, root.findtext("ErrorNumber"), root.findtext("Type")) == (
        "ApiException",
        "10",
        "ValidationException",
    )
    [element] = root.findall("Elements/DataContractBase")
    assert element.get("{http://www.w3.org/2001/XMLSchema-instance}type") == "Payment"
    messages = [m.text for m in element.findall("ValidationErrors/ValidationError/Message")]
    assert messages == ["Payment amount exceeds the amount outstanding on this document"]
    assert xero.em.store.list_resource(xero.tenants[0], "Payments")["Payments"] == []


BILLION_LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    + "".join(
        f'<!ENTITY lol{n} "{("&lol" + (str(n - 1) if n > 1 else "") + ";") * 10}">' for n in range(1, 10)
    )
    + "]><Contacts><Contact><Name>&lol9;</Name></Contact></Contacts>"
)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("<Contacts><Contact><Name>Broken</Contact></Contacts>", "could not be read"),
        (BILLION_LAUGHS, "could not be read"),
        (
            '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
            "<Contact><Name>&e;</Name></Contact>",
            "could not be read",
        ),
        ("<Invoices><Invoice><Type>ACCREC</Type></Invoice></Invoices>", "must be <Contacts> or <Contact>"),
    ],
)
def test_unreadable_xml_is_a_400_and_no_entity_is_expanded(
    xero: Xero, token: str, body: str, message: str
) -> None:
    started = time.monotonic()
    response = xero.api("PUT", "Contacts", token, xero.tenants[0], content=body, headers=XML)
    assert time.monotonic() - started < 2
    assert response.status_code == 400
    error = response.json()
    assert (error["ErrorNumber"], error["Type"]) == (17, "PostDataInvalidException")
    assert message in error["Message"]
    assert xero.em.store.list_resource(xero.tenants[0], "Contacts")["Contacts"] == []


def test_xml_money_is_exact(xero: Xero, token: str) -> None:
    contact_id = add_customers(xero.em, xero.tenants[0], 1)[0]
    response = xero.api(
        "PUT", "Invoices", token, xero.tenants[0], content=_invoice_xml(contact_id, "0.10"), headers=XML
    )
    invoice_id = response.json()["Invoices"][0]["InvoiceID"]
    stored = xero.em.store.get_resource(xero.tenants[0], "Invoices", invoice_id)["Invoices"][0]
    assert stored["Total"] == Decimal("0.10")
