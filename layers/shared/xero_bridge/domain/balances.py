"""Off balance (C7): a customer's balance from the synced documents, beside Xero's own figure, and the
documents that explain a difference.

Xero's ``Balances.AccountsReceivable.Outstanding`` of a contact is "the raw outstanding amount, not converted
to the base currency" (Xero's documentation of ``Balances``); the emulator computes it the same way
(``emulator/xero_emulator/store.py``), and so do we, from the documents we hold:

* ``+ AmountDue`` of the customer's ``AUTHORISED`` sales invoices (ACCREC);
* ``- RemainingCredit`` of its ``AUTHORISED`` sales credit notes (ACCRECCREDIT), overpayments and
  prepayments (unallocated credit reduces what the customer owes; allocated credit already lowered the
  invoices' ``AmountDue``).

Amounts in every currency are added as they are, as Xero adds them: a customer invoiced in two currencies
has one raw figure, and ``by_currency`` shows its parts.

A customer whose two figures differ is off balance. :func:`explain_locally` then looks for the documents we
hold that account for the difference, without asking Xero: one we count that Xero's figure does not (or
the reverse), one whose version is older than the customer's (Xero's figure is newer than what we hold of
the document), payments or allocations we hold that the invoice's version does not show yet, a currency
other than the customer's. :func:`compare_with_xero` is the definitive answer once Xero's own documents of
the customer were fetched (the targeted re-fetch).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from xero_bridge.models.balances import BalanceCause, BalanceFinding, CustomerBalance
from xero_bridge.models.records import (
    CreditNote,
    Customer,
    Invoice,
    Overpayment,
    Payment,
    Prepayment,
    RecordPayload,
    RecordSource,
    RecordType,
    SkippedRecord,
    StoredRecord,
)

__all__ = [
    "BalanceDocument",
    "HeldDocument",
    "balance_of",
    "compare_with_xero",
    "contribution",
    "describe_source",
    "explain_locally",
    "held_documents",
    "is_balance_document",
]

BalanceDocument = Invoice | CreditNote | Overpayment | Prepayment
"""A document that moves a customer's receivable balance."""

_ZERO = Decimal(0)
_CREDITS = (CreditNote, Overpayment, Prepayment)
_NOUN: dict[RecordType, str] = {
    RecordType.INVOICE: "invoice",
    RecordType.CREDIT_NOTE: "credit note",
    RecordType.OVERPAYMENT: "overpayment",
    RecordType.PREPAYMENT: "prepayment",
}


@dataclass(frozen=True)
class HeldDocument:
    """A document we hold, with where its version came from (for the explanation's words)."""

    payload: BalanceDocument
    source: RecordSource | None = None


def held_documents(stored: Iterable[StoredRecord]) -> list[HeldDocument]:
    """The balance documents among records we hold (payments and the customer itself left out)."""
    return [
        HeldDocument(payload=s.payload, source=s.source)
        for s in stored
        if isinstance(s.payload, BalanceDocument)
    ]


def contribution(document: BalanceDocument) -> Decimal:
    """What one document adds to the customer's receivable balance (negative for unallocated credit)."""
    if document.status != "AUTHORISED":
        return _ZERO
    if isinstance(document, Invoice):
        return document.amount_due or _ZERO
    return -(document.remaining_credit or _ZERO)


def _would_count(document: BalanceDocument) -> Decimal:
    """What the document would add were it ``AUTHORISED`` with nothing paid or allocated (a draft
    approved)."""
    total = document.total or _ZERO
    return total if isinstance(document, Invoice) else -total


def _number(document: BalanceDocument) -> str:
    number = getattr(document, "number", None)
    noun = _NOUN[document.record_type]
    return f"{noun} {number}" if number else f"{noun} {document.xero_id}"


def _money(amount: Decimal, currency: str | None) -> str:
    text = f"{amount.quantize(Decimal('0.01')) if amount == amount.quantize(Decimal('0.01')) else amount}"
    return f"{text} {currency}" if currency else text


def describe_source(source: RecordSource | None) -> str:
    """Where a version came from, in a finance user's words (the trail's summary)."""
    if source is None:
        return "an unknown delivery"
    if source.kind == "page":
        return f"page {source.page} of {source.resource} in sync run {source.run_id}"
    if source.kind == "webhook":
        sequence = f" (event sequence {source.event_sequence})" if source.event_sequence is not None else ""
        return f"webhook events{sequence}"
    if source.kind == "catch_up":
        since = f" from {source.cursor.isoformat()}" if source.cursor is not None else ""
        return f"the catch-up{since}"
    return "a fetch by id"


def balance_of(
    customer: Customer, documents: Iterable[BalanceDocument], *, checked_at: datetime
) -> CustomerBalance:
    """The customer's balance from ``documents`` beside Xero's figure (without the explanation)."""
    computed = _ZERO
    by_currency: dict[str, Decimal] = {}
    counted = 0
    for document in documents:
        amount = contribution(document)
        if document.status != "AUTHORISED":
            continue
        counted += 1
        computed += amount
        key = document.currency or customer.default_currency or "?"
        by_currency[key] = by_currency.get(key, _ZERO) + amount
    currencies = sorted(by_currency)
    currency = currencies[0] if len(currencies) == 1 else customer.default_currency
    xero = customer.ar_outstanding
    difference = None if xero is None else computed - xero
    return CustomerBalance(
        contact_id=customer.xero_id,
        computed=computed,
        xero_outstanding=xero,
        difference=difference,
        currency=currency if currency != "?" else None,
        by_currency={code: by_currency[code] for code in currencies},
        off_balance=difference is not None and difference != 0,
        documents_counted=counted,
        customer_version=customer.xero_updated_at,
        checked_at=checked_at,
    )


def _finding(
    document: BalanceDocument,
    cause: BalanceCause,
    amount: Decimal,
    text: str,
    *,
    ours: BalanceDocument | None = None,
    theirs: BalanceDocument | None = None,
    skipped: SkippedRecord | None = None,
) -> BalanceFinding:
    """A finding about ``document``, with our version (``ours``) and Xero's (``theirs``) when known."""
    return BalanceFinding(
        cause=cause,
        record_type=document.record_type,
        xero_id=document.xero_id,
        number=getattr(document, "number", None),
        amount=amount,
        explanation=text,
        our_version=ours.xero_updated_at if ours is not None else None,
        xero_version=theirs.xero_updated_at if theirs is not None else None,
        skip_reason=skipped.reason.value if skipped is not None else None,
    )


def explain_locally(
    customer: Customer,
    held: Sequence[HeldDocument],
    payments: Sequence[Payment],
    balance: CustomerBalance,
) -> list[BalanceFinding]:
    """The documents we hold that account for an off-balance customer's difference, each with why.

    Without asking Xero, from what we hold: payments and credit allocations an invoice's version does not
    show (the invoice is older than Xero's), a document counted here whose amount is the difference (or
    not counted here whose total is), and whether its version is older than the customer's (Xero's figure
    is from later). An empty list means nothing we hold explains it (then offer the re-fetch).
    """
    if not balance.off_balance or balance.difference is None:
        return []
    difference = balance.difference  # ours - Xero's
    findings: list[BalanceFinding] = []
    seen: set[str] = set()
    invoices = {h.payload.xero_id: h for h in held if isinstance(h.payload, Invoice)}
    # 1. Payments and allocations we hold that an invoice we hold does not show: its version is older.
    paid: dict[str, Decimal] = {}
    for payment in payments:
        if payment.status == "AUTHORISED" and payment.invoice_id in invoices and payment.amount is not None:
            paid[payment.invoice_id] = paid.get(payment.invoice_id, _ZERO) + payment.amount
    credited: dict[str, Decimal] = {}
    for h in held:
        if isinstance(h.payload, _CREDITS) and h.payload.status in ("AUTHORISED", "PAID"):
            for allocation in h.payload.allocations:
                if allocation.invoice_id in invoices:
                    credited[allocation.invoice_id] = (
                        credited.get(allocation.invoice_id, _ZERO) + allocation.amount
                    )
    for invoice_id, h in invoices.items():
        invoice = h.payload
        assert isinstance(invoice, Invoice)
        unseen = (paid.get(invoice_id, _ZERO) - (invoice.amount_paid or _ZERO)) + (
            credited.get(invoice_id, _ZERO) - (invoice.amount_credited or _ZERO)
        )
        if invoice.status == "AUTHORISED" and unseen > 0:
            findings.append(
                _finding(
                    invoice,
                    BalanceCause.OLDER_THAN_XERO,
                    unseen,
                    f"{_number(invoice)}: we hold payments or credit of {_money(unseen, invoice.currency)} "
                    "on it "
                    f"that our version (changed in Xero at {invoice.xero_updated_at.isoformat()}, received "
                    "from "
                    f"{describe_source(h.source)}) does not show: Xero has a newer version we have not "
                    "received",
                    ours=invoice,
                )
            )
            seen.add(invoice_id)
    # 2. One document whose amount is the difference: counted here and not in Xero's figure, or the reverse.
    for h in held:
        document = h.payload
        if document.xero_id in seen:
            continue
        amount = contribution(document)
        newer_customer = customer.xero_updated_at > document.xero_updated_at
        when = (
            f"our version was changed in Xero at {document.xero_updated_at.isoformat()} (received from "
            f"{describe_source(h.source)})"
        )
        later = (
            f"; Xero's figure is from {customer.xero_updated_at.isoformat()}, later: the change has not "
            "reached us"
            if newer_customer
            else ""
        )
        if amount != 0 and amount == difference:
            findings.append(
                _finding(
                    document,
                    BalanceCause.COUNTED_HERE_NOT_IN_XERO,
                    amount,
                    f"{_number(document)} counts {_money(amount, document.currency)} here as "
                    f"{document.status}; "
                    f"Xero's figure does not count it (paid, credited, voided or deleted in Xero since): "
                    f"{when}{later}",
                    ours=document,
                )
            )
        elif document.status in ("DRAFT", "SUBMITTED") and _would_count(document) == -difference:
            findings.append(
                _finding(
                    document,
                    BalanceCause.COUNTED_IN_XERO_NOT_HERE,
                    -difference,
                    f"{_number(document)} is {document.status} here and not counted; Xero's figure counts "
                    f"{_money(-difference, document.currency)} for it (approved in Xero since): "
                    f"{when}{later}",
                    ours=document,
                )
            )
        else:
            continue
        seen.add(document.xero_id)
    # 3. A currency other than the customer's, on a document that accounts for the difference.
    for finding in list(findings):
        document = next(h.payload for h in held if h.payload.xero_id == finding.xero_id)
        if customer.default_currency and document.currency and document.currency != customer.default_currency:
            findings.append(
                finding.model_copy(
                    update={
                        "cause": BalanceCause.CURRENCY_MISMATCH,
                        "explanation": f"{_number(document)} is in {document.currency}, the customer in "
                        f"{customer.default_currency}: Xero adds the raw amounts of both currencies",
                    }
                )
            )
    return findings


def compare_with_xero(
    customer_held: Customer | None,
    customer_xero: Customer,
    held: Mapping[str, HeldDocument],
    in_xero: Sequence[BalanceDocument],
    skipped: Mapping[str, SkippedRecord],
) -> list[BalanceFinding]:
    """Document by document, what we hold beside what Xero holds now (the re-fetch's answer).

    Parameters
    ----------
    customer_held, customer_xero
        The customer as we hold it and as Xero holds it now.
    held
        The customer's documents we hold, by Xero id.
    in_xero
        The customer's receivable documents in Xero now (mapped by the import rules).
    skipped
        Why we left out those of ``in_xero`` we do not hold, when we did.
    """
    findings: list[BalanceFinding] = []
    if (
        customer_held is not None
        and customer_held.xero_updated_at < customer_xero.xero_updated_at
        and customer_held.ar_outstanding != customer_xero.ar_outstanding
    ):
        findings.append(
            BalanceFinding(
                cause=BalanceCause.OLDER_THAN_XERO,
                record_type=RecordType.CONTACT,
                xero_id=customer_xero.xero_id,
                number=customer_xero.name,
                amount=(customer_xero.ar_outstanding or _ZERO) - (customer_held.ar_outstanding or _ZERO),
                explanation="the customer's own figure moved in Xero from "
                f"{customer_held.ar_outstanding} to "
                f"{customer_xero.ar_outstanding} (changed at "
                f"{customer_xero.xero_updated_at.isoformat()}); "
                f"we held the version of {customer_held.xero_updated_at.isoformat()}",
                our_version=customer_held.xero_updated_at,
                xero_version=customer_xero.xero_updated_at,
            )
        )
    xero_ids = set()
    for document in in_xero:
        xero_ids.add(document.xero_id)
        ours = held.get(document.xero_id)
        theirs = contribution(document)
        if ours is None:
            if theirs == 0:
                continue
            skip = skipped.get(document.xero_id)
            why = f" (left out: {skip.detail})" if skip is not None else " (no version of it reached us)"
            findings.append(
                _finding(
                    document,
                    BalanceCause.MISSING_HERE,
                    -theirs,
                    f"{_number(document)}: Xero has it ({document.status}, "
                    f"{_money(theirs, document.currency)} in its figure) and we do not hold it{why}",
                    theirs=document,
                    skipped=skip,
                )
            )
            continue
        mine = ours.payload
        effect = contribution(mine) - theirs
        if mine.currency != document.currency:
            cause = BalanceCause.CURRENCY_MISMATCH
            text = (
                f"{_number(document)} is in {mine.currency} here and in {document.currency} in "
                f"Xero: our version of {mine.xero_updated_at.isoformat()} (from "
                f"{describe_source(ours.source)}) predates the change"
            )
        elif effect == 0:
            continue
        elif mine.xero_updated_at < document.xero_updated_at:
            state = (
                f"{mine.status} here, {document.status} in Xero"
                if mine.status != document.status
                else f"{_money(contribution(mine), mine.currency)} here, "
                f"{_money(theirs, document.currency)} in Xero"
            )
            cause = BalanceCause.OLDER_THAN_XERO
            text = (
                f"{_number(document)}: {state}; our version of "
                f"{mine.xero_updated_at.isoformat()} (from {describe_source(ours.source)}) is older than "
                f"Xero's of {document.xero_updated_at.isoformat()}: that change never reached us"
            )
        else:
            cause = (
                BalanceCause.COUNTED_HERE_NOT_IN_XERO if effect > 0 else BalanceCause.COUNTED_IN_XERO_NOT_HERE
            )
            text = (
                f"{_number(document)}: the same version here and in Xero, yet it counts "
                f"{_money(contribution(mine), mine.currency)} here and "
                f"{_money(theirs, document.currency)} in Xero's documents"
            )
        findings.append(_finding(document, cause, effect, text, ours=mine, theirs=document))
    for xero_id, ours in held.items():
        if xero_id not in xero_ids and contribution(ours.payload) != 0:
            findings.append(
                _finding(
                    ours.payload,
                    BalanceCause.COUNTED_HERE_NOT_IN_XERO,
                    contribution(ours.payload),
                    f"{_number(ours.payload)} counts here, but Xero no longer lists it for this "
                    f"customer (moved to another contact, or removed)",
                    ours=ours.payload,
                )
            )
    return findings


def is_balance_document(payload: RecordPayload) -> bool:
    """Whether a record moves a customer's receivable balance."""
    return isinstance(payload, BalanceDocument)
