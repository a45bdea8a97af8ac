"""SQS event source mappings, polled the way Lambda's pollers do it.

What Lambda does and this reproduces: receive up to ``BatchSize`` messages (several receives of at most 10
within ``MaximumBatchingWindowInSeconds``), build the ``aws:sqs`` event, invoke the function
synchronously, then

* without ``ReportBatchItemFailures``: delete the whole batch on success, nothing on an error;
* with it: delete every message not listed in ``batchItemFailures``; an invalid response (an
  ``itemIdentifier`` that is empty or not in the batch) fails the whole batch, an empty or null one
  succeeds it;

and leave what is not deleted to reappear after the queue's visibility timeout. Redrive to the DLQ is
moto's: on receive, a message whose receive count has reached ``maxReceiveCount`` moves to the queue named
by ``RedrivePolicy`` (``moto/sqs/models.py: receive_message``), which is where SQS does it too.

Not reproduced: ``FilterCriteria`` (logged; every message is delivered), scaling beyond a fixed number of
pollers per source, FIFO "stop at the first failure in a group".
"""

from __future__ import annotations

import base64
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tools.local_stack.model import SqsSource
from tools.local_stack.runtime import InvokeResult

LOG = logging.getLogger("tools.local_stack")

Invoke = Callable[[str, Any], InvokeResult]

#: Within the last second of a batching window SQS cannot long-poll (it waits in whole seconds): the
#: poller looks again this often instead of asking moto in a tight loop.
_WINDOW_POLL_INTERVAL = 0.05


@dataclass
class PollResult:
    """One batch: what was received, deleted, left for redelivery, and the invocation."""

    source: str
    received: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    invocation: InvokeResult | None = None


def _message_attributes(attributes: dict[str, Any]) -> dict[str, Any]:
    """SQS API attribute shape (``StringValue``...) to the Lambda event's (``stringValue``...)."""
    out: dict[str, Any] = {}
    for name, value in attributes.items():
        item: dict[str, Any] = {"stringListValues": [], "binaryListValues": [], "dataType": value["DataType"]}
        if "StringValue" in value:
            item["stringValue"] = value["StringValue"]
        if "BinaryValue" in value:
            item["binaryValue"] = base64.b64encode(value["BinaryValue"]).decode()
        out[name] = item
    return out


def build_event(messages: list[dict[str, Any]], source: SqsSource, region: str) -> dict[str, Any]:
    """The event Lambda passes to an SQS consumer."""
    records = []
    for message in messages:
        record: dict[str, Any] = {
            "messageId": message["MessageId"],
            "receiptHandle": message["ReceiptHandle"],
            "body": message["Body"],
            "attributes": dict(message.get("Attributes", {})),
            "messageAttributes": _message_attributes(message.get("MessageAttributes", {})),
            "md5OfBody": message["MD5OfBody"],
            "eventSource": "aws:sqs",
            "eventSourceARN": source.queue_arn,
            "awsRegion": region,
        }
        if message.get("MD5OfMessageAttributes"):
            record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
        records.append(record)
    return {"Records": records}


class SqsPoller:
    """Polls one event source; background threads or :meth:`poll_once` for deterministic tests."""

    def __init__(self, source: SqsSource, sqs: Any, invoke: Invoke, region: str, pollers: int = 2) -> None:
        self.source = source
        self.sqs = sqs
        self.invoke = invoke
        self.region = region
        self.pollers = max(1, min(pollers, source.maximum_concurrency or pollers))
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._in_flight = 0
        self._lock = threading.Lock()
        if source.filter_criteria:
            LOG.warning(
                "%s: FilterCriteria is not applied locally; every message is delivered", source.logical_id
            )

    # ---- one batch ----------------------------------------------------------------------------------

    def _receive(self, count: int, wait: int) -> list[dict[str, Any]]:
        response = self.sqs.receive_message(
            QueueUrl=self.source.queue_url,
            MaxNumberOfMessages=max(1, min(10, count)),
            WaitTimeSeconds=wait,
            AttributeNames=["All"],
            MessageSystemAttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        return list(response.get("Messages", []))

    def _collect(self, first_wait: int) -> list[dict[str, Any]]:
        messages = self._receive(self.source.batch_size, first_wait)
        if not messages or self.source.maximum_batching_window <= 0:
            return messages
        window_end = time.monotonic() + self.source.maximum_batching_window
        while len(messages) < self.source.batch_size and not self._stop.is_set():
            remaining = window_end - time.monotonic()
            if remaining <= 0:
                break
            wait = min(1, int(remaining))  # SQS waits in whole seconds
            more = self._receive(self.source.batch_size - len(messages), wait)
            messages += more
            if not more and wait == 0:  # less than a second left: look again shortly, do not spin
                self._stop.wait(min(remaining, _WINDOW_POLL_INTERVAL))
        return messages

    def poll_once(self, wait_seconds: int = 0) -> PollResult:
        """Receive one batch (if any), invoke the function and settle the messages like Lambda."""
        messages = self._collect(wait_seconds)
        if not messages:
            return PollResult(source=self.source.logical_id)
        with self._lock:
            self._in_flight += 1
        try:
            return self._process(messages)
        finally:
            with self._lock:
                self._in_flight -= 1

    def _process(self, messages: list[dict[str, Any]]) -> PollResult:
        result = PollResult(source=self.source.logical_id, received=[m["MessageId"] for m in messages])
        if not messages:
            return result
        invocation = self.invoke(self.source.function, build_event(messages, self.source, self.region))
        result.invocation = invocation
        if invocation.error is not None:
            result.failed = list(result.received)
            LOG.info(
                "%s: batch of %d failed (%s); redelivered after the visibility timeout",
                self.source.logical_id,
                len(messages),
                invocation.error.get("errorType"),
            )
            return result
        failed = self._failed_ids(invocation.payload, set(result.received))
        result.failed = [mid for mid in result.received if mid in failed]
        to_delete = [m for m in messages if m["MessageId"] not in failed]
        for start in range(0, len(to_delete), 10):
            chunk = to_delete[start : start + 10]
            self.sqs.delete_message_batch(
                QueueUrl=self.source.queue_url,
                Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(chunk)],
            )
        result.deleted = [m["MessageId"] for m in to_delete]
        return result

    def _failed_ids(self, payload: Any, batch: set[str]) -> set[str]:
        if not self.source.report_batch_item_failures:
            return set()
        if not isinstance(payload, dict) or not payload.get("batchItemFailures"):
            return set()  # null, {} or an empty list: the whole batch succeeded
        failures = payload["batchItemFailures"]
        ids = {f.get("itemIdentifier") if isinstance(f, dict) else None for f in failures}
        if not isinstance(failures, list) or any(not i or i not in batch for i in ids):
            LOG.warning("%s: invalid batchItemFailures; the whole batch is retried", self.source.logical_id)
            return batch
        return {str(i) for i in ids}

    # ---- background polling -------------------------------------------------------------------------

    def start(self) -> None:
        if not self.source.enabled or self._threads:
            return
        self._stop.clear()
        for n in range(self.pollers):
            thread = threading.Thread(
                target=self._loop, name=f"sqs-poller-{self.source.logical_id}-{n}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                self.poll_once(wait_seconds=1)
            except Exception:  # the poller must survive (e.g. moto torn down at exit)
                if self._stop.is_set():
                    return
                LOG.exception("%s: poller error", self.source.logical_id)
                time.sleep(0.2)

    def request_stop(self) -> None:
        """Stop polling once the batches in flight are done (:meth:`stop` also waits for them)."""
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self._threads = []

    @property
    def in_flight(self) -> int:
        with self._lock:
            return self._in_flight

    def pending(self) -> int:
        """Messages still in the source queue (visible, in flight or delayed)."""
        attributes = self.sqs.get_queue_attributes(
            QueueUrl=self.source.queue_url,
            AttributeNames=[
                "ApproximateNumberOfMessages",
                "ApproximateNumberOfMessagesNotVisible",
                "ApproximateNumberOfMessagesDelayed",
            ],
        )["Attributes"]
        return sum(int(v) for v in attributes.values())
