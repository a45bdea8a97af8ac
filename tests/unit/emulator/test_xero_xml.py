"""Xero's XML read into the store's dicts and written back, without the store or HTTP."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from decimal import Decimal

import pytest

from xero_emulator import xero_xml


def test_one_bare_record_and_a_plural_root_read_alike() -> None:
    single = xero_xml.loads(b"<Payment><Amount>1.50</Amount></Payment>", "Payments")
    plural = xero_xml.loads(b"<Payments><Payment><Amount>1.50</Amount></Payment></Payments>", "Payments")
    assert single == plural == {"Payments": [{"Amount": "1.50"}]}


def test_collections_are_lists_even_of_one_or_none_and_booleans_are_bools() -> None:
    body = xero_xml.loads(
        b"""<Invoices><Invoice>
              <Contact><ContactID>abc</ContactID></Contact>
              <LineItems><LineItem><Description> Work </Description></LineItem></LineItems>
              <Payments />
              <SentToContact>TRUE</SentToContact><Reference>true</Reference>
            </Invoice></Invoices>""",
        "Invoices",
    )
    assert body == {
        "Invoices": [
            {
                "Contact": {"ContactID": "abc"},
                "LineItems": [{"Description": "Work"}],
                "Payments": [],
                "SentToContact": True,
                "Reference": "true",  # text stays text unless Xero types the field as a boolean
            }
        ]
    }


@pytest.mark.parametrize(
    "raw",
    [
        b"<Contacts><Contact>",
        b'<!DOCTYPE c [<!ENTITY e "x">]><Contacts><Contact><Name>&e;</Name></Contact></Contacts>',
        b"<Invoices />",
    ],
)
def test_malformed_xml_any_dtd_and_a_wrong_root_are_refused(raw: bytes) -> None:
    with pytest.raises(xero_xml.XmlBodyError):
        xero_xml.loads(raw, "Contacts")


def test_answers_are_written_as_xeros_response_with_iso_dates_and_exact_money() -> None:
    raw = xero_xml.dumps(
        {
            "Status": "OK",
            "DateTimeUTC": "/Date(1718932539902)/",
            "Currencies": [{"Code": "AUD", "Description": "Australian Dollar"}],
            "Payments": [
                {
                    "Amount": Decimal("10.50"),
                    "Date": "/Date(-7948800000+0000)/",
                    "IsReconciled": False,
                    "X": None,
                }
            ],
        }
    )
    root = ET.fromstring(raw)
    assert root.tag == "Response"
    assert root.findtext("DateTimeUTC") == "2024-06-21T01:15:39.902"
    assert root.findtext("Currencies/Currency/Code") == "AUD"
    payment = root.find("Payments/Payment")
    assert payment is not None
    assert (payment.findtext("Amount"), payment.findtext("Date"), payment.findtext("IsReconciled")) == (
        "10.50",
        "1969-10-01T00:00:00",
        "false",
    )
    assert payment.find("X") is None
