"""The two queue consumers: the export queue's (``payment_exporter``) and ``ExportReplayQueue``'s
(``export_replay``).

Export messages name payments one by one (the API) or by the fifty (replays); the consumer gathers every
payment of an invocation's messages by org, so the exporter fills whole Xero batches, then maps the outcome
back to the messages: a message is retried (after a backoff set on the message itself) when one of its
payments met a transient failure; it is moved to the dead-letter queue with its reason (a ``reason`` message
attribute) when its receives are spent or when it is not a message we can read. (Should that move fail, the
queue's own redrive after ``maxReceiveCount`` moves it, without the attribute: the payments still say why.)
Everything else is done with: its payments are exported, closed, refused, or being sent by another
exporter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from xero_bridge.domain.export_rules import retry_delay_seconds
from xero_bridge.errors import ExportQueueError
from xero_bridge.models.payments import ExportMessage, QueuedMessage, ReplayMessage, ReplayResult
from xero_bridge.observability import logger
from xero_bridge.services.export.exporter import ExportPayments, ExportReport
from xero_bridge.services.export.replay import ReplayPayments
from xero_bridge.services.ports import DeadLetters, ExportQueue, TimeLeft

__all__ = ["ExportFromQueue", "QueueOutcome", "ReplayFromQueue", "describe_invalid"]


def describe_invalid(exc: ValidationError) -> str:
    """Which fields of a message are wrong, without quoting the message."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        location = ".".join(str(part) for part in error["loc"]) or "body"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)[:500]


@dataclass
class QueueOutcome:
    """What one invocation did with its messages."""

    retry: set[str] = field(default_factory=set)  # message ids to leave on the queue (their backoff is set)
    dead_lettered: int = 0
    report: ExportReport = field(default_factory=ExportReport)


class ExportFromQueue:
    """The export queue's consumer.

    Parameters
    ----------
    exporter
        The exporter.
    queue
        The export queue (a retried message's backoff is set on it).
    dead_letters
        The exports DLQ (a message that cannot be read goes there at once, with why).
    retry_base_seconds
        First backoff of a transient failure (doubling per receive, at most 15 minutes).
    max_receives
        The queue's ``maxReceiveCount``: a message failing at that receive goes to the DLQ next.
    lease_seconds
        The exporter's lease: a message whose exporter stopped unexpectedly comes back after it, when its
        claims have run out and the payments can be taken again (after a search of Xero).
    """

    def __init__(
        self,
        *,
        exporter: ExportPayments,
        queue: ExportQueue,
        dead_letters: DeadLetters,
        retry_base_seconds: int,
        max_receives: int,
        lease_seconds: float,
    ) -> None:
        self._exporter = exporter
        self._queue = queue
        self._dead_letters = dead_letters
        self._retry_base = retry_base_seconds
        self._max_receives = max_receives
        self._lease_seconds = lease_seconds

    def handle(self, messages: Sequence[QueuedMessage], *, time_left: TimeLeft | None = None) -> QueueOutcome:
        """Export every payment the messages name; say which messages to leave on the queue."""
        outcome = QueueOutcome()
        by_org: dict[str, list[tuple[QueuedMessage, ExportMessage]]] = {}
        for message in messages:
            parsed = self._parse(message, outcome)
            if parsed is not None:
                by_org.setdefault(parsed.org_id, []).append((message, parsed))
        delays: dict[str, int] = {}
        spent: dict[str, str] = {}  # message id -> why, for messages whose receives are spent
        for org_id, org_messages in by_org.items():
            ids = list(dict.fromkeys(pid for _, parsed in org_messages for pid in parsed.payment_ids))
            try:
                report = self._exporter.export(
                    org_id, ids, last_try=self._last_try(org_messages), time_left=time_left
                )
            except Exception:
                # Not Xero's doing (DynamoDB, a bug): the claims stay until their lease runs out, so the
                # messages come back after it, when the payments can be taken again (Xero searched first).
                logger.exception(
                    "export failed; the messages come back after the lease", extra={"org_id": org_id}
                )
                for message, _ in org_messages:
                    delays[message.message_id] = max(
                        int(self._lease_seconds) + 1,
                        retry_delay_seconds(message.receive_count, self._retry_base),
                    )
                continue
            outcome.report.merge(report)
            if report.unknown:  # a message naming payments never recorded (another stack's, a typo)
                logger.warning(
                    "export message names unknown payments",
                    extra={"org_id": org_id, "unknown": report.unknown[:20], "count": len(report.unknown)},
                )
            for message, parsed in org_messages:
                failing = [pid for pid in parsed.payment_ids if (org_id, pid) in report.retrying]
                if not failing:
                    continue
                if message.receive_count >= self._max_receives:
                    why = "; ".join(
                        f"{pid}: {report.reasons.get(pid, 'transient failure')}" for pid in failing
                    )
                    spent[message.message_id] = f"retries spent after {message.receive_count} receives: {why}"
                else:
                    delays[message.message_id] = retry_delay_seconds(message.receive_count, self._retry_base)
        for message in messages:
            if message.message_id in spent and self._dead_letter(message, spent[message.message_id]):
                outcome.dead_lettered += 1
            elif message.message_id in delays or message.message_id in spent:
                self._queue.retry_later(message.receipt_handle, delays.get(message.message_id, 0))
                outcome.retry.add(message.message_id)
        return outcome

    def _dead_letter(self, message: QueuedMessage, reason: str) -> bool:
        """Move a message to the DLQ with why; False if SQS refused (its redrive then moves it, without)."""
        try:
            self._dead_letters.send(message.body, reason)
        except ExportQueueError:
            return False
        logger.warning(
            "export message dead-lettered", extra={"message_id": message.message_id, "reason": reason}
        )
        return True

    def _parse(self, message: QueuedMessage, outcome: QueueOutcome) -> ExportMessage | None:
        try:
            return ExportMessage.model_validate_json(message.body)
        except ValidationError as exc:
            reason = f"not an export message: {describe_invalid(exc)}"
        if self._dead_letter(message, reason):
            outcome.dead_lettered += 1
        else:
            outcome.retry.add(message.message_id)  # the queue's own redrive moves it later
        return None

    def _last_try(self, org_messages: Sequence[tuple[QueuedMessage, ExportMessage]]) -> frozenset[str]:
        """Payments no message of which will come back by itself if this try fails."""
        receives: dict[str, int] = {}
        for message, parsed in org_messages:
            for pid in parsed.payment_ids:
                receives[pid] = min(receives.get(pid, message.receive_count), message.receive_count)
        return frozenset(pid for pid, count in receives.items() if count >= self._max_receives)


class ReplayFromQueue:
    """``ExportReplayQueue``'s consumer: the AR platform's own tooling asks for a replay by message."""

    def __init__(self, *, replay: ReplayPayments, dead_letters: DeadLetters) -> None:
        self._replay = replay
        self._dead_letters = dead_letters

    def handle(self, message: QueuedMessage) -> ReplayResult | None:
        """Replay what the message asks; None when it is not a replay message (moved to the DLQ, with why).

        Raises
        ------
        ExportQueueError
            SQS refused (the replay's payments stay pending): the message is tried again.
        """
        try:
            request = ReplayMessage.model_validate_json(message.body)
        except ValidationError as exc:
            reason = f"not a replay message: {describe_invalid(exc)}"
            self._dead_letters.send(message.body, reason)
            logger.warning(
                "replay message dead-lettered", extra={"message_id": message.message_id, "reason": reason}
            )
            return None
        return self._replay.replay(request.org_id, request, by="queue")
