"""Xero's XML dialect: request bodies read into the store's dicts, answers written from them.

Xero takes a write's body as JSON or as XML (``Content-Type: application/xml`` or ``text/xml``) and answers
in the format the ``Accept`` header asks for. In XML a collection is a plural element holding singular ones
(``<Payments><Payment>...</Payment></Payments>``); a body may also be one bare element (``<Payment>``), as
pyxero sends a single record. Values are text: ``true``/``false`` for booleans, ``2024-06-21T00:00:00`` for
dates, the digits for money (the store reads strings as exact decimals).

Request bodies are untrusted input, so they are parsed with :mod:`defusedxml`: a DTD, and with it any entity
declaration (the "billion laughs" expansion, external entities), is refused before anything is expanded.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

import defusedxml
from defusedxml.ElementTree import fromstring

XML_MEDIA_TYPES = ("application/xml", "text/xml")
_XSI = "http://www.w3.org/2001/XMLSchema-instance"
_XSD = "http://www.w3.org/2001/XMLSchema"

#: Plural element -> the name of each of its items, where dropping the ``s`` is not the rule.
_ITEM_NAMES = {
    "Addresses": "Address",
    "Currencies": "Currency",
    "Tracking": "TrackingCategory",
    "Elements": "DataContractBase",
}
#: Collections that may arrive empty (``<LineItems />``): an empty list, not an empty string.
_COLLECTIONS = frozenset(
    {
        "Contacts",
        "Invoices",
        "Payments",
        "LineItems",
        "Phones",
        "Addresses",
        "ContactPersons",
        "ContactGroups",
        "Tracking",
        "CreditNotes",
        "Prepayments",
        "Overpayments",
        "Allocations",
        "ValidationErrors",
        "Warnings",
        "Attachments",
        "SalesTrackingCategories",
        "PurchasesTrackingCategories",
    }
)
#: Fields Xero types as booleans; their text ``true``/``false`` is read as a bool.
_BOOLEANS = frozenset(
    {
        "IsReconciled",
        "SentToContact",
        "IsCustomer",
        "IsSupplier",
        "IsDiscounted",
        "HasAttachments",
        "HasErrors",
        "HasValidationErrors",
        "HasAccount",
        "EnablePaymentsToAccount",
        "ShowInExpenseClaims",
        "IncludeInEmails",
        "IsSubscriber",
    }
)
_MS_DATE = re.compile(r"^/Date\((-?\d+)(?:[+-]\d{4})?\)/$")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class XmlBodyError(ValueError):
    """The body is not XML the emulator can read (malformed, a DTD or entity, or the wrong root)."""


def item_name(plural: str) -> str:
    """``Payments`` -> ``Payment``, ``Addresses`` -> ``Address``, ``Currencies`` -> ``Currency``."""
    if plural in _ITEM_NAMES:
        return _ITEM_NAMES[plural]
    if plural.endswith("ies"):
        return plural[:-3] + "y"
    return plural[:-1] if plural.endswith("s") else plural


def wants_xml(best_match: str | None) -> bool:
    """Whether the media type chosen from the ``Accept`` header is one of XML's."""
    return best_match in XML_MEDIA_TYPES


# --- reading --------------------------------------------------------------------------------------------


def loads(raw: bytes, resource: str) -> dict[str, Any]:
    """A write's XML body as the store's dict: ``{resource: [element, ...]}``.

    The root is the plural collection (``<Payments>``) or one record (``<Payment>``); anything else is an
    :class:`XmlBodyError`, as is malformed XML or any DTD.
    """
    try:
        root = fromstring(raw, forbid_dtd=True)
    except (ParseError, defusedxml.DefusedXmlException) as exc:
        raise XmlBodyError(f"The XML in the request body could not be read: {exc}") from exc
    single = item_name(resource)
    if root.tag == resource:
        return {resource: [_record(child) for child in root]}
    if root.tag == single:
        return {resource: [_record(root)]}
    raise XmlBodyError(f"The root element of the request body must be <{resource}> or <{single}>")


def _record(element: Element) -> dict[str, Any]:
    value = _value(element)
    return value if isinstance(value, dict) else {}


def _value(element: Element) -> Any:
    children = list(element)
    if not children:
        text = (element.text or "").strip()
        if not text and element.tag in _COLLECTIONS:
            return []
        if element.tag in _BOOLEANS and text.lower() in ("true", "false"):
            return text.lower() == "true"
        return text
    if _is_collection(element, children):
        return [_value(child) for child in children]
    return {child.tag: _value(child) for child in children}


def _is_collection(element: Element, children: list[Element]) -> bool:
    if element.tag in _COLLECTIONS:
        return True
    tags = {child.tag for child in children}
    return len(tags) == 1 and element.tag != item_name(element.tag) and item_name(element.tag) in tags


# --- writing --------------------------------------------------------------------------------------------


def dumps(body: Mapping[str, Any], *, item_type: str | None = None) -> bytes:
    """An answer as Xero writes it in XML: ``<Response>`` for data, ``<ApiException>`` for an error.

    ``item_type`` names the records of an error's ``Elements`` (``xsi:type="Payment"``).
    """
    is_error = "ErrorNumber" in body
    root = Element("ApiException" if is_error else "Response")
    root.set("xmlns:xsi", _XSI)
    root.set("xmlns:xsd", _XSD)
    for key, value in body.items():
        _append(root, key, value, item_type)
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + tostring(
        root, encoding="utf-8", xml_declaration=False
    )


def _append(parent: Element, key: str, value: Any, item_type: str | None) -> None:
    if value is None:
        return  # Xero leaves an empty field out of its XML
    element = SubElement(parent, key)
    if isinstance(value, Mapping):
        for name, inner in value.items():
            _append(element, name, inner, item_type)
    elif isinstance(value, list | tuple):
        name = item_name(key)
        for item in value:
            if isinstance(item, Mapping):
                child = SubElement(element, name)
                if name == "DataContractBase" and item_type:
                    child.set("xsi:type", item_type)
                for inner_key, inner in item.items():
                    _append(child, inner_key, inner, item_type)
            elif item is not None:
                SubElement(element, name).text = _text(item)
    else:
        element.text = _text(value)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return f"{value:f}"
    if isinstance(value, str):
        match = _MS_DATE.match(value)
        if match:
            return _iso(_EPOCH + timedelta(milliseconds=int(match.group(1))))
        return value
    if isinstance(value, datetime):
        return _iso(value)
    return str(value)


def _iso(moment: datetime) -> str:
    """``2024-06-21T01:15:39.902`` (UTC, no zone), or whole seconds when there are no milliseconds."""
    moment = moment.astimezone(UTC)
    if moment.microsecond:
        return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
    return moment.strftime("%Y-%m-%dT%H:%M:%S")
