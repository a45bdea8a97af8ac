"""The export's rules, pure: what a Xero answer means for a payment, and the words a finance user reads.

- :func:`xero_reference` tags the reference we set in Xero with our payment id (``[AR:pay-42]``), so that a
  payment whose answer was lost can be found again on its invoice (:func:`find_ours`) and adopted instead of
  being posted twice, however long after Xero forgot the ``Idempotency-Key``.
- :func:`idempotency_key` names one attempt at one batch: the same payments at the same attempts give the
  same key (a transport retry of that request is answered from Xero's memory); a new attempt gets a new key.
- :func:`classify` reads Xero's own validation messages (its wording, see the brief's payment facts);
  :func:`decide_on_invoice` settles the cases only the invoice can (paid by hand, paid by credits, not
  approved, less due than paid).
- :func:`retry_delay_seconds`: the export queue's backoff between receives of a message that failed for a
  transient reason.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from xero_bridge.models import records as ours
from xero_bridge.models import xero
from xero_bridge.models.payments import (
    ClosedReason,
    ExportErrorCode,
    InvoiceFacts,
    PaymentRecord,
    XeroPaymentRef,
)

__all__ = [
    "Decision",
    "classify",
    "currency_mismatch",
    "decide_on_invoice",
    "facts_from_record",
    "facts_from_xero",
    "find_ours",
    "idempotency_key",
    "message_for",
    "payment_tag",
    "retry_delay_seconds",
    "xero_reference",
]

IDEMPOTENCY_KEY_PREFIX = "xb-pay-"
MAX_RETRY_DELAY_SECONDS = 900  # SQS's longest message delay; also a sensible ceiling for a backoff


def payment_tag(payment_id: str) -> str:
    """The tag that marks a Xero payment as the export of our payment ``payment_id``."""
    return f"[AR:{payment_id}]"


def xero_reference(payment: PaymentRecord) -> str:
    """The ``Reference`` we set in Xero: the AR team's own reference, then our tag."""
    tag = payment_tag(payment.payment_id)
    return f"{payment.reference} {tag}" if payment.reference else tag


def find_ours(invoice: InvoiceFacts, payment_id: str) -> XeroPaymentRef | None:
    """The payment on ``invoice`` in Xero that is our export of ``payment_id``, if Xero holds it."""
    tag = payment_tag(payment_id)
    return next((p for p in invoice.payments or () if p.reference and tag in p.reference), None)


def _tagged(reference: str | None) -> bool:
    return bool(reference) and "[AR:" in str(reference)


def idempotency_key(tenant_id: str, attempts: Iterable[tuple[str, int]]) -> str:
    """``Idempotency-Key`` of one attempt at a batch: derived from the tenant and each (payment, attempt).

    63 characters (Xero takes up to 128). Stable across the transport's own retries of the request, and new
    for every new attempt: Xero then never sees one key with two different bodies (a 400).
    """
    parts = [tenant_id, *sorted(f"{payment_id}#{attempt}" for payment_id, attempt in attempts)]
    digest = hashlib.sha256("\n".join(parts).encode()).hexdigest()
    return IDEMPOTENCY_KEY_PREFIX + digest[:56]


def retry_delay_seconds(receive_count: int, base_seconds: int) -> int:
    """Exponential backoff between receives: ``base``, ``2 base``, ``4 base``... up to 15 minutes."""
    if base_seconds <= 0:
        return 0
    return min(MAX_RETRY_DELAY_SECONDS, base_seconds * 2 ** max(receive_count - 1, 0))


# --- the invoice as the exporter sees it ---------------------------------------------------------------


def facts_from_xero(invoice: xero.Invoice) -> InvoiceFacts:
    """An invoice as Xero answered it (its payments listed with their references)."""
    return InvoiceFacts(
        invoice_id=invoice.invoice_id.lower(),
        number=invoice.invoice_number,
        status=str(invoice.status or ""),
        currency=invoice.currency_code,
        amount_due=invoice.amount_due,
        amount_paid=invoice.amount_paid,
        amount_credited=invoice.amount_credited,
        payments=tuple(
            XeroPaymentRef(payment_id=p.payment_id, reference=p.reference, amount=p.amount)
            for p in invoice.payments
            if str(p.status or "AUTHORISED") != "DELETED"
        ),
        from_xero=True,
    )


def facts_from_record(invoice: ours.Invoice) -> InvoiceFacts:
    """An invoice as the sync holds it (no payment list: that needs Xero's own answer)."""
    return InvoiceFacts(
        invoice_id=invoice.xero_id.lower(),
        number=invoice.number,
        status=invoice.status,
        currency=invoice.currency,
        amount_due=invoice.amount_due,
        amount_paid=invoice.amount_paid,
        amount_credited=invoice.amount_credited,
    )


# --- what an answer means ------------------------------------------------------------------------------


_MESSAGES: tuple[tuple[str, ExportErrorCode | None], ...] = (
    ("invoice could not be found", ExportErrorCode.INVOICE_NOT_FOUND),
    ("payments can only be made against authorised documents", ExportErrorCode.INVOICE_NOT_AUTHORISED),
    ("cannot be before the period lock date", ExportErrorCode.PERIOD_LOCKED),
    ("cannot be before the end of year lock date", ExportErrorCode.PERIOD_LOCKED),
    ("the currency of the bank account", ExportErrorCode.CURRENCY_MISMATCH),
    # Only the invoice says which: already paid (by hand? by credits?), voided, or less due than paid.
    ("invoice not of valid status for modification", None),
    ("payment amount exceeds the amount outstanding", None),
)


def classify(messages: Sequence[str]) -> ExportErrorCode | None:
    """The code Xero's messages for one payment mean; None when only the invoice can tell (see
    :func:`decide_on_invoice`). Unknown messages are ``xero_rejected``: Xero's words reach the user."""
    lowered = [m.lower() for m in messages]
    needs_invoice = False
    for needle, code in _MESSAGES:
        if any(needle in m for m in lowered):
            if code is None:
                needs_invoice = True
                continue
            return code
    return None if needs_invoice else ExportErrorCode.XERO_REJECTED


@dataclass(frozen=True)
class Decision:
    """Close the payment (``closed``) or fail it with ``code``; ``message`` is what the user reads."""

    message: str
    code: ExportErrorCode | None = None
    closed: ClosedReason | None = None


def currency_mismatch(payment: PaymentRecord, invoice: InvoiceFacts) -> Decision | None:
    """Xero takes a payment in the invoice's currency; one recorded in another cannot be sent as it is."""
    if invoice.currency and invoice.currency != payment.currency:
        return Decision(
            code=ExportErrorCode.CURRENCY_MISMATCH,
            message=(
                f"The payment is in {payment.currency} but invoice {invoice.label} is in {invoice.currency} "
                f"in Xero: record the payment in {invoice.currency}."
            ),
        )
    return None


def decide_on_invoice(payment: PaymentRecord, invoice: InvoiceFacts) -> Decision | None:
    """The decision the invoice alone settles, or None when the payment may go to Xero.

    - fully paid in Xero with at least one payment not ours (entered by hand): **closed**, ``paid_in_xero``
      -- the AR team's payment is already in Xero, and posting it again would pay the invoice twice;
    - fully paid by our own earlier exports, or by credit notes or prepayments: ``invoice_paid`` -- a person
      must look (a duplicate recorded in the AR platform? money to refund or to keep as credit?);
    - not approved (draft, submitted, voided, deleted): ``invoice_not_authorised``;
    - less due than this payment: ``amount_exceeds_due``.
    """
    if invoice.fully_paid:
        payments = invoice.payments or ()
        by_hand = [p for p in payments if not _tagged(p.reference)]
        if by_hand:
            amount = sum((p.amount or Decimal(0) for p in by_hand), Decimal(0))
            return Decision(
                closed=ClosedReason.PAID_IN_XERO,
                message=(
                    f"Invoice {invoice.label} was paid in Xero ({_money(amount)} {payment.currency} entered "
                    "there) before this payment was exported, so it was not sent again."
                ),
            )
        how = (
            "by payments exported earlier from the AR platform"
            if payments
            else "by credit notes, overpayments or prepayments"
        )
        return Decision(
            code=ExportErrorCode.INVOICE_PAID,
            message=(
                f"Invoice {invoice.label} is already fully paid in Xero ({how}); this payment was not "
                "recorded. Check the customer's account: it may be a duplicate, or a credit to allocate."
            ),
        )
    if invoice.status in ("DRAFT", "SUBMITTED", "VOIDED", "DELETED"):
        return Decision(
            code=ExportErrorCode.INVOICE_NOT_AUTHORISED,
            message=(
                f"Invoice {invoice.label} is {invoice.status} in Xero: payments can only be recorded against "
                "an approved (AUTHORISED) invoice. Approve it in Xero, then export again."
            ),
        )
    if invoice.amount_due is not None and payment.amount > invoice.amount_due:
        return Decision(
            code=ExportErrorCode.AMOUNT_EXCEEDS_DUE,
            message=(
                f"The payment of {_money(payment.amount)} {payment.currency} is more than the "
                f"{_money(invoice.amount_due)} {payment.currency} still due on invoice {invoice.label} in "
                "Xero. Record the difference as an overpayment in Xero, or correct the amount."
            ),
        )
    return None


def message_for(code: ExportErrorCode, payment: PaymentRecord, *, invoice_label: str | None = None) -> str:
    """The sentence a finance user reads for ``code`` (Xero's own words are kept beside it)."""
    invoice = invoice_label or payment.invoice_id
    texts = {
        ExportErrorCode.MISSING_BANK_ACCOUNT: (
            f"No Xero bank account is chosen for {payment.currency} payments: set bank_accounts."
            f"{payment.currency} in the settings, then export again."
        ),
        ExportErrorCode.INVOICE_NOT_AUTHORISED: (
            f"Invoice {invoice} is not approved in Xero: payments can only be recorded against an "
            "AUTHORISED invoice. Approve it in Xero, then export again."
        ),
        ExportErrorCode.PERIOD_LOCKED: (
            f"The payment date {payment.date.isoformat()} is on or before a lock date in Xero: change the "
            "payment's date, or ask your adviser to move the lock date, then export again."
        ),
        ExportErrorCode.INVOICE_NOT_FOUND: (
            f"Xero has no invoice {payment.invoice_id} in this organisation: check the invoice the payment "
            "was recorded against."
        ),
        ExportErrorCode.CURRENCY_MISMATCH: (
            f"The bank account chosen for {payment.currency} cannot take a payment against invoice {invoice} "
            "in Xero: choose a bank account in the invoice's currency (or the base currency)."
        ),
        ExportErrorCode.NEEDS_RECONNECT: (
            "Xero refused access to the organisation: reconnect Xero, then export again."
        ),
        ExportErrorCode.XERO_REJECTED: "Xero refused the payment: see Xero's message.",
        ExportErrorCode.XERO_UNAVAILABLE: "Xero did not answer as expected; the export is tried again.",
        ExportErrorCode.XERO_RATE_LIMITED: "Xero's rate limit was reached; the export is tried again.",
        ExportErrorCode.XERO_TIMEOUT: "Xero did not answer in time; the export is tried again.",
        ExportErrorCode.INVOICE_PAID: f"Invoice {invoice} is already fully paid in Xero.",
        ExportErrorCode.AMOUNT_EXCEEDS_DUE: (
            f"The payment is more than the amount still due on invoice {invoice} in Xero."
        ),
    }
    return texts[code]


def _money(amount: Decimal) -> str:
    return f"{amount:,.2f}"
