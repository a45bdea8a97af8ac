"""The import rules (C6): which Xero records enter the AR platform, and in what shape. Pure: no I/O.

Two halves that must agree:

- :data:`SOURCE_FILTERS` / :func:`source_filter` — what to ask Xero for, so no call fetches what we would
  drop (Xero filters with ``where`` server-side; each page then holds only records we keep, which is what
  keeps the initial sync at the call floor);
- ``map_*`` / :func:`map_records` — the rules applied to what comes back, whatever the filter said (defence
  in depth: a record the filter should have excluded is skipped with a reason, never imported).

A record the rules leave out becomes a :class:`~xero_bridge.models.records.SkippedRecord` with a reason code,
and :func:`why_not_imported` gives the same answer for any Xero record — support's answer to "why is this
contact (or document) not in the AR platform?".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError

from xero_bridge.errors import MalformedXeroRecord
from xero_bridge.models import records as our
from xero_bridge.models import xero
from xero_bridge.models.records import (
    RecordSource,
    RecordType,
    SkippedRecord,
    SkipReason,
    SyncedRecord,
)

__all__ = [
    "RECEIVABLE_PAYMENT_TYPES",
    "RECORD_TYPE_OF",
    "SOURCE_FILTERS",
    "MappedBatch",
    "map_account",
    "map_contact",
    "map_credit_note",
    "map_invoice",
    "map_organisation",
    "map_overpayment",
    "map_payment",
    "map_prepayment",
    "map_records",
    "mobile_number",
    "record_key",
    "skipped_malformed",
    "source_filter",
    "why_not_imported",
]

RECEIVABLE_PAYMENT_TYPES: tuple[str, ...] = (
    xero.PaymentType.ACCRECPAYMENT,
    xero.PaymentType.ARCREDITPAYMENT,
    xero.PaymentType.AROVERPAYMENTPAYMENT,
    xero.PaymentType.ARPREPAYMENTPAYMENT,
)
"""Xero's ``PaymentType`` values on the receivable side (the spec's enum, AR half)."""

RECEIVE_OVERPAYMENT = "RECEIVE-OVERPAYMENT"
RECEIVE_PREPAYMENT = "RECEIVE-PREPAYMENT"
_RECEIVABLE_PAYMENT_TYPES = frozenset(RECEIVABLE_PAYMENT_TYPES)
_RECEIVABLE_DOCUMENT_TYPES = frozenset({xero.InvoiceType.ACCREC, xero.InvoiceType.ACCRECCREDIT})

SOURCE_FILTERS: dict[str, dict[str, Any]] = {
    # Xero leaves archived contacts out unless includeArchived=true: the initial sync never sees them.
    "Contacts": {"where": "IsCustomer==true", "include_archived": False},
    "Invoices": {"where": 'Type=="ACCREC"'},
    "CreditNotes": {"where": 'Type=="ACCRECCREDIT"'},
    "Payments": {"where": " OR ".join(f'PaymentType=="{kind}"' for kind in RECEIVABLE_PAYMENT_TYPES)},
    "Overpayments": {"where": f'Type=="{RECEIVE_OVERPAYMENT}"'},
    "Prepayments": {"where": f'Type=="{RECEIVE_PREPAYMENT}"'},
    # Where payments can go: BANK accounts, and accounts with "enable payments to this account" ticked.
    "Accounts": {"where": 'Type=="BANK" OR EnablePaymentsToAccount==true'},
    "Organisation": {},  # one record, no filter
}
"""Keyword arguments of ``XeroClient.list_page`` per resource for the initial sync (``where`` is Xero's
filter syntax, sent as is; ``include_archived`` is ``includeArchived``)."""

RECORD_TYPE_OF: dict[str, RecordType] = {resource: kind for kind, resource in our.RESOURCE_OF.items()}
"""The record type each Xero resource maps to (``"Invoices"`` → ``INVOICE``)."""


def source_filter(resource: str, *, incremental: bool) -> dict[str, Any]:
    """The filter to send Xero for ``resource``: :data:`SOURCE_FILTERS`, widened for incremental syncs.

    An incremental sync (webhook fetch, catch-up) must see contacts archived since the initial sync, to mark
    them inactive: it asks with ``includeArchived=true`` (still ``IsCustomer==true`` only).

    Raises
    ------
    KeyError
        For a resource the sync does not read.
    """
    filters = dict(SOURCE_FILTERS[resource])
    if incremental and resource == "Contacts":
        filters["include_archived"] = True
    return filters


# --- Small helpers -------------------------------------------------------------------------------------


def _skip(kind: RecordType, xero_id: str | None, reason: SkipReason, detail: str) -> SkippedRecord:
    return SkippedRecord(record_type=kind, xero_id=xero_id, reason=reason, detail=detail)


def skipped_malformed(resource: str, xero_id: str | None, detail: str) -> SkippedRecord:
    """A record that could not be read (e.g. a ``BadRecord`` of the Xero client's page) as a skip.

    ``detail`` must name fields, never quote values.
    """
    return _skip(RECORD_TYPE_OF[resource], xero_id, SkipReason.MALFORMED, detail)


def mobile_number(contact: xero.Contact) -> str | None:
    """The contact's ``MOBILE`` phone as one string (``+64 21 555 0101``), or None when it has none.

    Only MOBILE counts (C6): DEFAULT, DDI, FAX and OFFICE numbers are never used, even as a fallback.
    """
    phone = contact.mobile_phone
    if phone is None or not (phone.phone_number or "").strip():
        return None
    country = (phone.phone_country_code or "").strip().lstrip("+")
    parts = [f"+{country}" if country else "", (phone.phone_area_code or "").strip(), phone.phone_number]
    return " ".join(part.strip() for part in parts if part and part.strip())


def _last4(number: str | None) -> str | None:
    digits = "".join(ch for ch in number or "" if ch.isdigit())
    return digits[-4:] or None


def _updated(record: Any, kind: RecordType) -> datetime:
    updated = getattr(record, "updated_date_utc", None)
    if updated is None:
        # Without Xero's version we could not tell a late delivery from a newer one: refuse it rather
        # than risk overwriting newer data. Xero always sends UpdatedDateUTC on these resources.
        raise MalformedXeroRecord(kind, "UpdatedDateUTC is missing: the version cannot be ordered")
    return updated


def _allocations(allocations: Iterable[xero.Allocation]) -> tuple[our.Allocation, ...]:
    # A deleted allocation no longer applies credit to the invoice: keeping it would double-count.
    return tuple(
        our.Allocation(
            allocation_id=allocation.allocation_id,
            invoice_id=allocation.invoice.invoice_id if allocation.invoice else None,
            amount=allocation.amount,
            date=allocation.date,
        )
        for allocation in allocations
        if not allocation.is_deleted
    )


def _contact_ref(contact: xero.ContactRef | None) -> tuple[str | None, str | None]:
    return (contact.contact_id, contact.name) if contact else (None, None)


# --- The rules, per resource ----------------------------------------------------------------------------


def _contact_refusal(contact: xero.Contact, *, incremental: bool) -> SkippedRecord | None:
    kind = RecordType.CONTACT
    if not contact.is_customer:
        if contact.is_supplier:
            return _skip(
                kind, contact.contact_id, SkipReason.SUPPLIER_ONLY, "a supplier only in Xero (no sales)"
            )
        return _skip(
            kind,
            contact.contact_id,
            SkipReason.NOT_A_CUSTOMER,
            "not a customer in Xero yet: imported once it has a sales invoice",
        )
    if contact.contact_status == xero.ContactStatus.GDPRREQUEST and not incremental:
        return _skip(kind, contact.contact_id, SkipReason.GDPR_REQUEST, "erased in Xero on a GDPR request")
    if contact.contact_status == xero.ContactStatus.ARCHIVED and not incremental:
        return _skip(
            kind,
            contact.contact_id,
            SkipReason.ARCHIVED,
            "archived in Xero: not imported (one archived after import is kept, marked inactive)",
        )
    return None


def map_contact(
    contact: xero.Contact, source: RecordSource, *, incremental: bool
) -> SyncedRecord | SkippedRecord:
    """A Xero contact → a :class:`~xero_bridge.models.records.Customer`, or why not.

    Rules (C6): only ``IsCustomer`` contacts (supplier-only never; customer-and-supplier yes); an archived
    contact is never imported, but in an incremental sync (``incremental=True``) an archived customer
    yields ``active=False`` with ``only_if_exists`` — marked inactive if we hold it, never created. A contact
    that becomes a customer later is imported by the incremental sync that sees it. Only the MOBILE phone.
    """
    refusal = _contact_refusal(contact, incremental=incremental)
    if refusal is not None:
        return refusal
    active = contact.contact_status not in {xero.ContactStatus.ARCHIVED, xero.ContactStatus.GDPRREQUEST}
    receivable = contact.balances.accounts_receivable if contact.balances else None
    customer = our.Customer(
        xero_id=contact.contact_id,
        name=contact.name,
        email=contact.email_address or None,
        mobile_phone=mobile_number(contact),
        contact_number=contact.contact_number,
        account_number=contact.account_number,
        default_currency=contact.default_currency,
        is_customer=True,
        is_supplier=bool(contact.is_supplier),
        active=active,
        ar_outstanding=receivable.outstanding if receivable else None,
        ar_overdue=receivable.overdue if receivable else None,
        xero_updated_at=_updated(contact, RecordType.CONTACT),
    )
    return SyncedRecord.of(customer, source, only_if_exists=not active)


def _document_type_refusal(
    kind: RecordType, xero_id: str, doc_type: str | None, wanted: str
) -> SkippedRecord | None:
    if doc_type is None:
        return _skip(kind, xero_id, SkipReason.MALFORMED, "Type is missing: receivable or payable unknown")
    if doc_type != wanted:
        return _skip(
            kind, xero_id, SkipReason.NOT_RECEIVABLE, f"a {doc_type} document, not a receivable ({wanted})"
        )
    return None


def map_invoice(
    invoice: xero.Invoice, source: RecordSource, *, incremental: bool
) -> SyncedRecord | SkippedRecord:
    """A Xero invoice → an :class:`~xero_bridge.models.records.Invoice` (ACCREC only, every status kept)."""
    del incremental  # the same rules whatever the path: an invoice's type never changes
    kind = RecordType.INVOICE
    refusal = _document_type_refusal(kind, invoice.invoice_id, invoice.type, xero.InvoiceType.ACCREC)
    if refusal is not None:
        return refusal
    if invoice.status is None:
        return _skip(kind, invoice.invoice_id, SkipReason.MALFORMED, "Status is missing")
    contact_id, contact_name = _contact_ref(invoice.contact)
    record = our.Invoice(
        xero_id=invoice.invoice_id,
        number=invoice.invoice_number,
        contact_id=contact_id,
        contact_name=contact_name,
        status=invoice.status,
        date=invoice.date,
        due_date=invoice.due_date,
        expected_payment_date=invoice.expected_payment_date,
        planned_payment_date=invoice.planned_payment_date,
        fully_paid_on=invoice.fully_paid_on_date,
        currency=invoice.currency_code,
        currency_rate=invoice.currency_rate,
        sub_total=invoice.sub_total,
        total_tax=invoice.total_tax,
        total=invoice.total,
        amount_due=invoice.amount_due,
        amount_paid=invoice.amount_paid,
        amount_credited=invoice.amount_credited,
        reference=invoice.reference,
        xero_updated_at=_updated(invoice, kind),
    )
    return SyncedRecord.of(record, source)


def map_credit_note(
    note: xero.CreditNote, source: RecordSource, *, incremental: bool
) -> SyncedRecord | SkippedRecord:
    """A Xero credit note → a :class:`~xero_bridge.models.records.CreditNote` (ACCRECCREDIT only)."""
    del incremental
    kind = RecordType.CREDIT_NOTE
    refusal = _document_type_refusal(kind, note.credit_note_id, note.type, xero.CreditNoteType.ACCRECCREDIT)
    if refusal is not None:
        return refusal
    if note.status is None:
        return _skip(kind, note.credit_note_id, SkipReason.MALFORMED, "Status is missing")
    contact_id, contact_name = _contact_ref(note.contact)
    record = our.CreditNote(
        xero_id=note.credit_note_id,
        number=note.credit_note_number,
        contact_id=contact_id,
        contact_name=contact_name,
        status=note.status,
        date=note.date,
        due_date=note.due_date,
        fully_paid_on=note.fully_paid_on_date,
        currency=note.currency_code,
        currency_rate=note.currency_rate,
        sub_total=note.sub_total,
        total_tax=note.total_tax,
        total=note.total,
        remaining_credit=note.remaining_credit,
        reference=note.reference,
        allocations=_allocations(note.allocations),
        xero_updated_at=_updated(note, kind),
    )
    return SyncedRecord.of(record, source)


def _payment_is_receivable(payment: xero.Payment) -> bool | None:
    """True/False from ``PaymentType``; from the invoice's type when Xero left the payment type out."""
    if payment.payment_type is not None:
        return payment.payment_type in _RECEIVABLE_PAYMENT_TYPES
    if payment.invoice is not None and payment.invoice.type is not None:
        return payment.invoice.type in _RECEIVABLE_DOCUMENT_TYPES
    return None


def _nested_contact_id(invoice: xero.InvoiceRef | None) -> str | None:
    # Xero nests the invoice's Contact in a payment; the model keeps it as an extra field.
    contact = (invoice.model_extra or {}).get("Contact") if invoice is not None else None
    if isinstance(contact, dict):
        value = contact.get("ContactID")
        return str(value) if value else None
    return None


def map_payment(
    payment: xero.Payment, source: RecordSource, *, incremental: bool
) -> SyncedRecord | SkippedRecord:
    """A Xero payment → a :class:`~xero_bridge.models.records.Payment` (receivable side only)."""
    del incremental
    kind = RecordType.PAYMENT
    receivable = _payment_is_receivable(payment)
    if receivable is None:
        return _skip(
            kind, payment.payment_id, SkipReason.MALFORMED, "PaymentType is missing and no invoice type"
        )
    if not receivable:
        return _skip(
            kind,
            payment.payment_id,
            SkipReason.NOT_RECEIVABLE,
            f"a {payment.payment_type or 'payable'} payment, not on the receivable side",
        )
    record = our.Payment(
        xero_id=payment.payment_id,
        payment_type=payment.payment_type,
        invoice_id=payment.invoice.invoice_id if payment.invoice else None,
        credit_note_id=payment.credit_note.credit_note_id if payment.credit_note else None,
        overpayment_id=payment.overpayment.overpayment_id if payment.overpayment else None,
        prepayment_id=payment.prepayment.prepayment_id if payment.prepayment else None,
        contact_id=_nested_contact_id(payment.invoice),
        account_id=payment.account.account_id if payment.account else None,
        amount=payment.amount,
        currency=payment.invoice.currency_code if payment.invoice else None,
        currency_rate=payment.currency_rate,
        date=payment.date,
        status=payment.status,
        reference=payment.reference,
        is_reconciled=bool(payment.is_reconciled),
        xero_updated_at=_updated(payment, kind),
    )
    return SyncedRecord.of(record, source)


def _map_prepaid(
    document: xero.Overpayment | xero.Prepayment,
    xero_id: str,
    kind: RecordType,
    wanted: str,
    source: RecordSource,
) -> SyncedRecord | SkippedRecord:
    refusal = _document_type_refusal(kind, xero_id, document.type, wanted)
    if refusal is not None:
        return refusal
    contact_id, contact_name = _contact_ref(document.contact)
    model = our.Overpayment if kind is RecordType.OVERPAYMENT else our.Prepayment
    record = model(
        xero_id=xero_id,
        type=wanted,
        contact_id=contact_id,
        contact_name=contact_name,
        status=document.status,
        date=document.date,
        currency=document.currency_code,
        currency_rate=document.currency_rate,
        sub_total=document.sub_total,
        total_tax=document.total_tax,
        total=document.total,
        remaining_credit=document.remaining_credit,
        reference=document.reference,
        allocations=_allocations(document.allocations),
        xero_updated_at=_updated(document, kind),
    )
    return SyncedRecord.of(record, source)


def map_overpayment(
    overpayment: xero.Overpayment, source: RecordSource, *, incremental: bool
) -> SyncedRecord | SkippedRecord:
    """A Xero overpayment → an :class:`~xero_bridge.models.records.Overpayment` (RECEIVE-* only)."""
    del incremental
    return _map_prepaid(
        overpayment, overpayment.overpayment_id, RecordType.OVERPAYMENT, RECEIVE_OVERPAYMENT, source
    )


def map_prepayment(
    prepayment: xero.Prepayment, source: RecordSource, *, incremental: bool
) -> SyncedRecord | SkippedRecord:
    """A Xero prepayment → a :class:`~xero_bridge.models.records.Prepayment` (RECEIVE-* only)."""
    del incremental
    return _map_prepaid(
        prepayment, prepayment.prepayment_id, RecordType.PREPAYMENT, RECEIVE_PREPAYMENT, source
    )


def map_account(
    account: xero.Account, source: RecordSource, *, incremental: bool
) -> SyncedRecord | SkippedRecord:
    """A Xero account payments can go into → a :class:`~xero_bridge.models.records.BankAccount`: a BANK
    account, or one with payments enabled (Xero's ``EnablePaymentsToAccount``, e.g. a clearing account).

    Archived ones are kept with their status: an export must be able to say "this account is archived in
    Xero" rather than "unknown account". ``currency`` None means the organisation's base currency.
    """
    del incremental
    kind = RecordType.BANK_ACCOUNT
    if not account.accepts_payments:
        return _skip(
            kind,
            account.account_id,
            SkipReason.NOT_A_BANK_ACCOUNT,
            f"a {account.type or 'typeless'} account that takes no payments",
        )
    record = our.BankAccount(
        xero_id=account.account_id,
        code=account.code,
        name=account.name,
        type=str(account.type) if account.type else None,
        currency=account.currency_code or None,
        status=account.status,
        number_last4=_last4(account.bank_account_number),
        # Xero dates account changes; when it does not, the read time orders versions (newer read wins).
        xero_updated_at=account.updated_date_utc or source.fetched_at,
    )
    return SyncedRecord.of(record, source)


def map_organisation(
    organisation: xero.Organisation, source: RecordSource, *, incremental: bool
) -> SyncedRecord | SkippedRecord:
    """The Xero organisation → an :class:`~xero_bridge.models.records.Organisation`.

    Xero gives the organisation no update time: the time it was read is its version (a later read wins).
    """
    del incremental
    record = our.Organisation(
        xero_id=organisation.organisation_id,
        name=organisation.name,
        short_code=organisation.short_code,
        base_currency=organisation.base_currency,
        timezone=organisation.timezone,
        country_code=organisation.country_code,
        xero_updated_at=source.fetched_at,
    )
    return SyncedRecord.of(record, source)


# --- Batches --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Rule:
    model: type[xero.XeroModel]
    id_key: str  # Xero's name of the id, to name a malformed record
    id_attr: str  # the model's attribute for it
    mapper: Callable[..., SyncedRecord | SkippedRecord]


_RULES: dict[str, _Rule] = {
    "Contacts": _Rule(xero.Contact, "ContactID", "contact_id", map_contact),
    "Invoices": _Rule(xero.Invoice, "InvoiceID", "invoice_id", map_invoice),
    "CreditNotes": _Rule(xero.CreditNote, "CreditNoteID", "credit_note_id", map_credit_note),
    "Payments": _Rule(xero.Payment, "PaymentID", "payment_id", map_payment),
    "Overpayments": _Rule(xero.Overpayment, "OverpaymentID", "overpayment_id", map_overpayment),
    "Prepayments": _Rule(xero.Prepayment, "PrepaymentID", "prepayment_id", map_prepayment),
    "Accounts": _Rule(xero.Account, "AccountID", "account_id", map_account),
    "Organisation": _Rule(xero.Organisation, "OrganisationID", "organisation_id", map_organisation),
}


@dataclass(frozen=True)
class MappedBatch:
    """What a batch of Xero records becomes: records for the writer, and the ones left out with why."""

    records: list[SyncedRecord] = field(default_factory=list)
    skipped: list[SkippedRecord] = field(default_factory=list)


def _describe(exc: ValidationError) -> str:
    """Field names and messages, never the values (the text is logged and stored)."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        location = ".".join(str(part) for part in error["loc"]) or "record"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)[:500]


def _id_of(raw: Any, rule: _Rule) -> str | None:
    if isinstance(raw, dict):
        value = raw.get(rule.id_key) or raw.get(rule.id_key[0].lower() + rule.id_key[1:])
        return str(value) if isinstance(value, str | int) and value != "" else None
    value = getattr(raw, rule.id_attr, None)
    return value if isinstance(value, str) else None


def record_key(resource: str, record: xero.XeroModel) -> tuple[RecordType, str] | None:
    """The key we hold a Xero record under (our record type, Xero's id), or None without a readable id."""
    rule = _RULES.get(resource)
    xero_id = _id_of(record, rule) if rule is not None else None
    return (RECORD_TYPE_OF[resource], xero_id) if xero_id else None


def map_records(
    resource: str, records: Sequence[Any], source: RecordSource, *, incremental: bool
) -> MappedBatch:
    """Apply the rules of ``resource`` to a batch; a malformed record is skipped, never sinks the batch.

    Parameters
    ----------
    resource
        Xero's resource name (``"Invoices"``...; the Xero client's ``Resource`` values work as they are).
    records
        Xero models (as the client's pages give them) or raw Xero JSON objects (PascalCase dicts).
    source
        Where the batch came from; stored with each record.
    incremental
        False for the initial sync, True for webhook fetches and catch-ups (see :func:`map_contact`).

    Raises
    ------
    KeyError
        For a resource the sync does not read.
    """
    rule = _RULES[resource]
    kind = RECORD_TYPE_OF[resource]
    out = MappedBatch()
    for raw in records:
        try:
            record = raw if isinstance(raw, rule.model) else rule.model.model_validate(raw)
            result = rule.mapper(record, source, incremental=incremental)
        except ValidationError as exc:
            out.skipped.append(_skip(kind, _id_of(raw, rule), SkipReason.MALFORMED, _describe(exc)))
            continue
        except MalformedXeroRecord as exc:
            out.skipped.append(
                _skip(RecordType(exc.kind), _id_of(raw, rule), SkipReason.MALFORMED, exc.detail)
            )
            continue
        if isinstance(result, SyncedRecord):
            out.records.append(result)
        else:
            out.skipped.append(result)
    return out


def why_not_imported(record: BaseModel, *, incremental: bool = False) -> SkippedRecord | None:
    """Why this Xero record is not (or would not be) in the AR platform; None when it is imported.

    Parameters
    ----------
    record
        A Xero record (:class:`~xero_bridge.models.xero.Contact`, ``Invoice``, ``CreditNote``, ``Payment``,
        ``Overpayment``, ``Prepayment``, ``Account`` or ``Organisation``), e.g. fetched by id for support.
    incremental
        True answers for a record seen after the initial sync (an archived customer is then kept, inactive).

    Returns
    -------
    SkippedRecord | None
        The reason code and a sentence for a human, or None.

    Raises
    ------
    TypeError
        For a model that is not one of the synced Xero records.
    """
    for resource, rule in _RULES.items():
        if isinstance(record, rule.model):
            # The organisation is versioned by its read time, which does not matter for the answer.
            source = RecordSource(kind="by_id")
            try:
                result = rule.mapper(record, source, incremental=incremental)
            except (ValidationError, MalformedXeroRecord) as exc:
                detail = _describe(exc) if isinstance(exc, ValidationError) else exc.detail
                return _skip(RECORD_TYPE_OF[resource], _id_of(record, rule), SkipReason.MALFORMED, detail)
            return result if isinstance(result, SkippedRecord) else None
    raise TypeError(f"not a synced Xero record: {type(record).__name__}")
