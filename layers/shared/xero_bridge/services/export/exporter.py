"""Send payments to Xero in batches, each one at most once, whatever fails on the way.

For one tenant's batch (up to ``batch_size`` payments, one ``PUT /Payments`` when all goes well):

1. **Claim** each payment in the ledger (``sending``, attempt n+1, under a lease): a conditional write, so of
   two exporters holding the same payment (a redelivery and a replay, two replays) one goes on, the other
   leaves it. Payments exported, closed, refused for good, or held by a live lease are not touched.
2. **Bank account** for the payment's currency from the settings, else ``missing_bank_account`` (no call).
3. **Invoices**: the synced records; Xero itself (``GET /Invoices?IDs=``, one call for the batch) for an
   invoice not synced yet, one the sync saw paid, and any payment whose earlier attempt's answer was lost.
4. **Lost answers**: a payment ``in_doubt`` is looked for among its invoice's payments in Xero by the tag of
   our reference; found, it is adopted (``exported``, never posted again); not found, it may be posted.
   This holds past Xero's ~6-minute ``Idempotency-Key`` memory, through DLQ replays and concurrent replays.
5. **Before sending**: a payment in another currency than its invoice is ``currency_mismatch``; an invoice
   already paid in Xero closes the payment (``paid_in_xero``: paid by hand) or fails it (``invoice_paid``).
6. **Send** the rest in one ``PUT /Payments?summarizeErrors=false`` with an ``Idempotency-Key`` derived from
   the payments and their attempts, and read each element's own result: ``exported`` with Xero's PaymentID,
   or Xero's messages classified (an answer only the invoice can settle is settled with one more read).
7. **Write** each outcome, conditional on the claim: a transient failure (429, 5xx, timeout, a dropped
   connection) leaves the payment ``error`` with a retryable code -- ``in_doubt`` if the request may have
   reached Xero -- and its message goes back to the queue with backoff, then to the DLQ.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from xero_bridge.domain.export_rules import (
    Decision,
    classify,
    currency_mismatch,
    decide_on_invoice,
    facts_from_record,
    facts_from_xero,
    find_ours,
    idempotency_key,
    message_for,
    xero_reference,
)
from xero_bridge.domain.payment_ledger import claim, closed, exported, failed, not_claimable_because
from xero_bridge.errors import (
    DailyLimitReached,
    NeedsReconnect,
    RateLimitWaitExceeded,
    RetryLater,
    XeroError,
    XeroForbidden,
    XeroInvalidGrant,
    XeroRateLimited,
    XeroServerError,
    XeroTimeout,
    XeroUnauthorized,
    XeroValidationError,
)
from xero_bridge.models.payments import (
    ExportErrorCode,
    ExportSettings,
    InvoiceFacts,
    PaymentRecord,
)
from xero_bridge.models.xero import PaymentCreate
from xero_bridge.observability import logger
from xero_bridge.services.ports import (
    ExportSettingsStore,
    PaymentLedger,
    SyncedRecords,
    TimeLeft,
    XeroPayments,
    XeroPaymentsClient,
    utc_now,
)

__all__ = ["ExportPayments", "ExportReport"]


@dataclass
class ExportReport:
    """What one run of the exporter did (counts for metrics and logs; ``retrying`` for the queue)."""

    exported: int = 0
    found_in_xero: int = 0
    closed: int = 0
    failed: int = 0
    retrying: set[tuple[str, str]] = field(default_factory=set)  # (org_id, payment_id)
    reasons: dict[str, str] = field(default_factory=dict)  # payment_id -> why it is retried
    skipped: dict[str, str] = field(default_factory=dict)  # payment_id -> why it was left alone
    unknown: list[str] = field(default_factory=list)
    xero_calls: int = 0
    batch_sizes: list[int] = field(default_factory=list)  # payments per PUT /Payments
    error_codes: Counter[str] = field(default_factory=Counter)  # error code -> payments (final or retried)

    def merge(self, other: ExportReport) -> None:
        self.exported += other.exported
        self.found_in_xero += other.found_in_xero
        self.closed += other.closed
        self.failed += other.failed
        self.retrying |= other.retrying
        self.reasons.update(other.reasons)
        self.skipped.update(other.skipped)
        self.unknown.extend(other.unknown)
        self.xero_calls += other.xero_calls
        self.batch_sizes.extend(other.batch_sizes)
        self.error_codes.update(other.error_codes)


@dataclass
class _Attempt:
    """One claimed payment through one batch: where it stands and what was decided."""

    claimed: PaymentRecord
    in_doubt: bool  # may an earlier attempt be in Xero unseen? (cleared once Xero was searched)
    posted: bool = False  # this attempt's PUT carried it
    requests: int = 0  # HTTP requests that PUT made (the transport retries a 5xx, a timeout, a 429)
    outcome: PaymentRecord | None = None

    @property
    def payment_id(self) -> str:
        return self.claimed.payment_id

    @property
    def invoice_id(self) -> str:
        return self.claimed.invoice_id.lower()


class ExportPayments:
    """The exporter (``payment_exporter``).

    Parameters
    ----------
    ledger
        The export ledger.
    settings
        The bank account per currency.
    records
        The synced invoices.
    xero
        ``xero(tenant_id, time_left=...)``: the metered, rate-limited Xero client of one batch.
    batch_size
        Payments per ``PUT /Payments`` (Xero's batch).
    lease_seconds
        How long a claim protects a payment: longer than the exporter's whole run (its Lambda timeout),
        so a lease that ran out means that attempt is over.
    now
        Aware-UTC clock.
    """

    def __init__(
        self,
        *,
        ledger: PaymentLedger,
        settings: ExportSettingsStore,
        records: SyncedRecords,
        xero: XeroPayments,
        batch_size: int = 50,
        lease_seconds: float = 150.0,
        now: Callable[[], datetime] = utc_now,
    ) -> None:
        self._ledger = ledger
        self._settings = settings
        self._records = records
        self._xero = xero
        self._batch_size = batch_size
        self._lease_seconds = lease_seconds
        self._now = now

    def export(
        self,
        org_id: str,
        payment_ids: Sequence[str],
        *,
        last_try: frozenset[str] = frozenset(),
        time_left: TimeLeft | None = None,
    ) -> ExportReport:
        """Export the org's ``payment_ids``: one ``PUT /Payments`` per tenant and ``batch_size`` payments.

        Parameters
        ----------
        last_try
            Payments whose message will not come back by itself if this try fails (its receives are
            spent: it goes to the DLQ); their error says so.
        time_left
            Real seconds the Lambda has left (bounds the rate limiter's waits).

        Returns
        -------
        ExportReport
            Counts, and the payments that met a transient failure (their messages are retried).
        """
        report = ExportReport()
        records = self._ledger.get_many(org_id, payment_ids)
        report.unknown = [pid for pid in dict.fromkeys(payment_ids) if pid not in records]
        by_tenant: dict[str, list[PaymentRecord]] = {}
        for record in records.values():
            by_tenant.setdefault(record.tenant_id, []).append(record)
        for tenant_id, tenant_records in by_tenant.items():
            for start in range(0, len(tenant_records), self._batch_size):
                batch = tenant_records[start : start + self._batch_size]
                report.merge(self._export_batch(org_id, tenant_id, batch, last_try, time_left))
        return report

    # --- one batch ---------------------------------------------------------------------------------------

    def _export_batch(
        self,
        org_id: str,
        tenant_id: str,
        records: Sequence[PaymentRecord],
        last_try: frozenset[str],
        time_left: TimeLeft | None,
    ) -> ExportReport:
        report = ExportReport()
        attempts = self._claim(records, report)
        if not attempts:
            return report
        xero = self._xero(tenant_id, time_left=time_left)
        try:
            self._decide_and_send(org_id, tenant_id, attempts, xero, report)
        except (XeroError, RetryLater, NeedsReconnect) as exc:
            # Xero (or the way to it) failed the batch: every payment not decided yet gets the error that
            # means, a transient one retried through its message. Anything else (DynamoDB, a bug) leaves the
            # claims as they are: their leases run out, and the next attempt searches Xero before posting.
            self._fail_undecided(attempts, exc, last_try)
            logger.warning(
                "export batch failed",
                extra={"org_id": org_id, "tenant_id": tenant_id, "error": type(exc).__name__},
            )
        finally:
            report.xero_calls += xero.calls
        self._write_outcomes(org_id, attempts, report)
        return report

    def _claim(self, records: Sequence[PaymentRecord], report: ExportReport) -> list[_Attempt]:
        attempts = []
        now = self._now()
        for record in records:
            taken = claim(record, now, lease_seconds=self._lease_seconds)
            if taken is None:
                report.skipped[record.payment_id] = not_claimable_because(record, now) or "not claimable"
                continue
            if not self._ledger.save(taken, previous_version=record.version):
                report.skipped[record.payment_id] = "claimed by another exporter"
                continue
            attempts.append(_Attempt(claimed=taken, in_doubt=record.in_doubt))
        return attempts

    def _decide_and_send(
        self,
        org_id: str,
        tenant_id: str,
        attempts: list[_Attempt],
        xero: XeroPaymentsClient,
        report: ExportReport,
    ) -> None:
        settings = self._settings.get_settings(org_id)
        for attempt in attempts:
            if settings.bank_accounts.get(attempt.claimed.currency) is None:
                self._fail(attempt, ExportErrorCode.MISSING_BANK_ACCOUNT)
        live = [a for a in attempts if a.outcome is None]
        if not live:
            return
        facts = self._invoices(tenant_id, live, xero)
        for attempt in live:
            if attempt.in_doubt:
                self._search(attempt, facts.get(attempt.invoice_id))
        to_send = []
        for attempt in live:
            if attempt.outcome is not None:
                continue
            invoice = facts.get(attempt.invoice_id)
            decision = None
            if invoice is not None:
                decision = currency_mismatch(attempt.claimed, invoice)
                if decision is None and invoice.fully_paid:
                    decision = decide_on_invoice(attempt.claimed, invoice)
            if decision is not None:
                self._apply(attempt, decision)
            else:
                to_send.append(attempt)
        if to_send:
            self._send(tenant_id, to_send, settings, facts, xero, report)

    def _invoices(
        self, tenant_id: str, live: Sequence[_Attempt], xero: XeroPaymentsClient
    ) -> dict[str, InvoiceFacts]:
        """The invoices of the batch: synced records, and Xero's own answer where a record could mislead."""
        wanted = sorted({a.invoice_id for a in live})
        facts = {
            key.lower(): facts_from_record(invoice)
            for key, invoice in self._records.invoices(tenant_id, wanted).items()
        }
        ask = sorted(
            {
                a.invoice_id
                for a in live
                if a.in_doubt or a.invoice_id not in facts or facts[a.invoice_id].fully_paid
            }
        )
        if ask:
            for invoice in xero.invoices(ask):
                fresh = facts_from_xero(invoice)
                facts[fresh.invoice_id] = fresh
            for invoice_id in ask:  # Xero does not know it: PUT /Payments says so in Xero's words
                if invoice_id in facts and not facts[invoice_id].from_xero:
                    del facts[invoice_id]
        return facts

    def _search(self, attempt: _Attempt, invoice: InvoiceFacts | None) -> None:
        """An earlier attempt may be in Xero: adopt it if the invoice lists it, else it may be posted."""
        ours = find_ours(invoice, attempt.payment_id) if invoice is not None else None
        attempt.in_doubt = False
        if ours is not None:
            attempt.outcome = exported(attempt.claimed, self._now(), ours.payment_id, found=True)
            logger.info(
                "payment found in Xero: adopted, not posted again",
                extra={"payment_id": attempt.payment_id, "xero_payment_id": ours.payment_id},
            )

    def _send(  # noqa: PLR0917 - one batch's state, passed along the steps
        self,
        tenant_id: str,
        to_send: list[_Attempt],
        settings: ExportSettings,
        facts: dict[str, InvoiceFacts],
        xero: XeroPaymentsClient,
        report: ExportReport,
    ) -> None:
        payments = [
            PaymentCreate(
                invoice_id=a.claimed.invoice_id,
                account_id=settings.bank_accounts[a.claimed.currency],
                date=a.claimed.date,
                amount=a.claimed.amount,
                reference=xero_reference(a.claimed),
            )
            for a in to_send
        ]
        key = idempotency_key(tenant_id, [(a.payment_id, a.claimed.attempt) for a in to_send])
        for attempt in to_send:
            attempt.posted = True
        calls_before = xero.calls
        try:
            results = xero.create_payments(payments, idempotency_key=key)
        except BaseException:
            for attempt in to_send:
                attempt.requests = xero.calls - calls_before
            raise
        report.batch_sizes.append(len(payments))
        settle: list[tuple[_Attempt, list[str]]] = []
        for attempt, result in zip(to_send, results, strict=True):
            attempt.in_doubt = False  # Xero answered for this element
            if result.payment_id is not None and not result.validation_errors:
                attempt.outcome = exported(attempt.claimed, self._now(), result.payment_id, found=False)
                continue
            code = classify(result.validation_errors)
            if code is None:
                settle.append((attempt, result.validation_errors))
                continue
            invoice = facts.get(attempt.invoice_id)
            self._fail(attempt, code, result.validation_errors, invoice.label if invoice else None)
        if settle:
            fresh = {
                f.invoice_id: f
                for f in (
                    facts_from_xero(i) for i in xero.invoices(sorted({a.invoice_id for a, _ in settle}))
                )
            }
            for attempt, messages in settle:
                invoice = fresh.get(attempt.invoice_id)
                decision = decide_on_invoice(attempt.claimed, invoice) if invoice is not None else None
                if decision is None:
                    self._fail(attempt, ExportErrorCode.XERO_REJECTED, messages)
                else:
                    self._apply(attempt, decision, messages)

    # --- outcomes ---------------------------------------------------------------------------------------

    def _fail(
        self,
        attempt: _Attempt,
        code: ExportErrorCode,
        xero_messages: Sequence[str] = (),
        invoice_label: str | None = None,
        *,
        message: str | None = None,
    ) -> None:
        """Fail the attempt with ``code``: ``message``, else the code's own words for this payment."""
        attempt.outcome = failed(
            attempt.claimed,
            self._now(),
            code,
            message
            if message is not None
            else message_for(code, attempt.claimed, invoice_label=invoice_label),
            xero_message="; ".join(xero_messages) or None,
            in_doubt=attempt.in_doubt,
        )

    def _apply(self, attempt: _Attempt, decision: Decision, xero_messages: Sequence[str] = ()) -> None:
        if decision.closed is not None:
            attempt.outcome = closed(attempt.claimed, self._now(), decision.closed, decision.message)
            return
        assert decision.code is not None
        self._fail(attempt, decision.code, xero_messages, message=decision.message)

    def _fail_undecided(
        self, attempts: Sequence[_Attempt], exc: BaseException, last_try: frozenset[str]
    ) -> None:
        code, final = _failure_code(exc)
        # Xero's own words where it gave any (a refusal, a 5xx body); a timeout or a 429 has none.
        if isinstance(exc, XeroValidationError):
            xero_words: str | None = "; ".join(exc.messages) or exc.message
        elif isinstance(exc, XeroForbidden | XeroUnauthorized | XeroServerError):
            xero_words = exc.message[:300]
        elif isinstance(exc, NeedsReconnect) and isinstance(exc.__cause__, XeroForbidden | XeroUnauthorized):
            xero_words = exc.__cause__.message[:300]  # the client's refusal, once a refresh did not help
        else:
            xero_words = None
        for attempt in attempts:
            if attempt.outcome is not None:
                continue
            # The request went out and no readable answer came back: it may be in Xero.
            unseen = attempt.posted and _may_have_reached_xero(exc, attempt.requests)
            in_doubt = attempt.in_doubt or unseen
            message = message_for(code, attempt.claimed)
            if isinstance(exc, NeedsReconnect):
                message = f"{message} ({exc.reason})"
            retries_left = not final and attempt.payment_id not in last_try
            if not final and not retries_left:
                message = (
                    f"{message.removesuffix(' the export is tried again.').rstrip(';. ')}: the automatic "
                    'retries are spent and the export waits in the exports dead-letter queue. Use "Export '
                    'back to Xero" (or redrive the queue) once Xero answers again.'
                )
            attempt.outcome = failed(
                attempt.claimed,
                self._now(),
                code,
                message,
                xero_message=xero_words,
                in_doubt=in_doubt,
                auto_retry=retries_left,
            )

    def _write_outcomes(self, org_id: str, attempts: Sequence[_Attempt], report: ExportReport) -> None:
        for attempt in attempts:
            outcome = attempt.outcome
            assert outcome is not None  # every claimed payment is decided (or failed) above
            if not self._ledger.save(outcome, previous_version=attempt.claimed.version):
                # Our lease ran out and another exporter took the payment: its outcome stands.
                logger.warning(
                    "payment taken over by another exporter; outcome dropped",
                    extra={"org_id": org_id, "payment_id": attempt.payment_id},
                )
                continue
            if outcome.error_code is not None:
                report.error_codes[outcome.error_code.value] += 1
            if outcome.error_code is not None and outcome.retryable:
                report.retrying.add((org_id, attempt.payment_id))
                report.reasons[attempt.payment_id] = f"{outcome.error_code.value}: " + (
                    outcome.xero_message or outcome.error_message or ""
                )
            if outcome.state.value == "exported":
                if outcome.history and outcome.history[-1].event == "found_in_xero":
                    report.found_in_xero += 1
                else:
                    report.exported += 1
            elif outcome.state.value == "closed":
                report.closed += 1
            elif not outcome.retryable:
                report.failed += 1
            logger.info(
                "payment export outcome",
                extra={
                    "org_id": org_id,
                    "payment_id": attempt.payment_id,
                    "attempt": outcome.attempt,
                    "status": outcome.status.value,
                    "error_code": outcome.error_code.value if outcome.error_code else None,
                    "in_doubt": outcome.in_doubt,
                },
            )


def _failure_code(exc: BaseException) -> tuple[ExportErrorCode, bool]:
    """The error code a failure of the whole batch means, and whether it is final."""
    if isinstance(exc, NeedsReconnect | XeroUnauthorized | XeroForbidden | XeroInvalidGrant):
        return ExportErrorCode.NEEDS_RECONNECT, True
    if isinstance(exc, XeroValidationError):
        return ExportErrorCode.XERO_REJECTED, True
    if isinstance(exc, XeroRateLimited | RateLimitWaitExceeded | DailyLimitReached):
        return ExportErrorCode.XERO_RATE_LIMITED, False
    if isinstance(exc, XeroTimeout):
        return ExportErrorCode.XERO_TIMEOUT, False
    return ExportErrorCode.XERO_UNAVAILABLE, False


def _may_have_reached_xero(exc: BaseException, requests: int) -> bool:
    """A failure that does not prove the request was refused: a 5xx, a timeout or dropped connection, an
    answer we could not read. (A 429, 401, 403 or 400 is Xero refusing it before doing anything.)

    ``requests`` is how many HTTP requests the PUT made. None: nothing went out (the rate limiter could not
    give a slot in time). More than one: the transport retried, and ``exc`` is only the *last* request's
    failure -- an earlier one may have been saved by Xero and its answer lost (a 5xx, a dropped
    connection), then the retry met a 429, a limiter wait too long, or Xero's answer after it forgot the
    ``Idempotency-Key``: in doubt, so the next attempt looks in Xero before it posts.
    """
    if requests == 0:
        return False
    if requests > 1:
        return True
    if isinstance(exc, XeroRateLimited | XeroUnauthorized | XeroForbidden | XeroValidationError):
        return False
    return isinstance(exc, XeroError)
