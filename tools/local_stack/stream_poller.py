"""DynamoDB stream event sources, polled the way Lambda's stream pollers do it.

What Lambda does and this reproduces, per shard (moto's tables have one): start at ``StartingPosition``
(``TRIM_HORIZON`` or ``LATEST``, taken when the poller starts), read up to ``BatchSize`` records (waiting up
to ``MaximumBatchingWindowInSeconds`` for more once one arrived), build the ``aws:dynamodb`` event and invoke
the function synchronously, in order: the next batch waits for this one. Then

* success: the shard's position moves past the batch;
* an error (or, with ``ReportBatchItemFailures``, a ``batchItemFailures`` item): the batch is retried, split
  in two first when ``BisectBatchOnFunctionError`` is set, up to ``MaximumRetryAttempts``; once they are
  spent, Lambda's on-failure record (shard, first and last sequence numbers, the error) goes to the
  ``DestinationConfig.OnFailure`` SQS queue and the position moves past the batch.

Not reproduced: ``FilterCriteria`` (logged; every record is delivered), ``ParallelizationFactor``, tumbling
windows, record age limits, several shards (moto has one).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from tools.local_stack.model import StreamSource
from tools.local_stack.runtime import InvokeResult

LOG = logging.getLogger("tools.local_stack")

Invoke = Callable[[str, Any], InvokeResult]

_IDLE_WAIT = 0.05  # seconds between reads of an idle shard (Lambda polls a shard about 4 times a second)


@dataclass
class StreamPollResult:
    """One batch: the sequence numbers delivered, whether it succeeded, and the invocations it took."""

    source: str
    sequence_numbers: list[str] = field(default_factory=list)
    succeeded: bool = True
    invocations: list[InvokeResult] = field(default_factory=list)
    sent_to_on_failure: bool = False


def _lambda_record(record: dict[str, Any], stream_arn: str, region: str) -> dict[str, Any]:
    """A stream record as Lambda hands it over (``ApproximateCreationDateTime`` in epoch seconds)."""
    dynamodb = dict(record["dynamodb"])
    created = dynamodb.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        dynamodb["ApproximateCreationDateTime"] = float(
            int(created.replace(tzinfo=created.tzinfo or UTC).timestamp())
        )
    return {
        "eventID": record.get("eventID"),
        "eventName": record.get("eventName"),
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": region,
        "dynamodb": dynamodb,
        "eventSourceARN": stream_arn,
    }


class StreamPoller:
    """Polls one DynamoDB stream source; a background thread, or :meth:`poll_once` for tests."""

    def __init__(self, source: StreamSource, streams: Any, sqs: Any, invoke: Invoke, region: str) -> None:
        self.source = source
        self.streams = streams
        self.sqs = sqs
        self.invoke = invoke
        self.region = region
        self._iterator: str | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()  # one batch at a time: a shard is processed in order
        self._in_flight = 0
        self._pending: list[dict[str, Any]] = []  # read from the shard, not yet delivered
        if source.filter_criteria:
            LOG.warning(
                "%s: FilterCriteria is not applied locally; every record is delivered", source.logical_id
            )

    # ---- the shard ------------------------------------------------------------------------------------

    def _shard_iterator(self) -> str:
        if self._iterator is None:
            shards = self.streams.describe_stream(StreamArn=self.source.stream_arn)["StreamDescription"][
                "Shards"
            ]
            self._iterator = self.streams.get_shard_iterator(
                StreamArn=self.source.stream_arn,
                ShardId=shards[0]["ShardId"],
                ShardIteratorType=self.source.starting_position,
            )["ShardIterator"]
        return self._iterator

    def start_position(self) -> None:
        """Take the starting position now (``LATEST`` means: what is written from here on)."""
        self._shard_iterator()

    def _read(self, limit: int) -> list[dict[str, Any]]:
        if limit <= 0:
            return []
        response = self.streams.get_records(ShardIterator=self._shard_iterator(), Limit=limit)
        self._iterator = response.get("NextShardIterator") or self._iterator
        return list(response.get("Records", []))

    def _collect(self) -> list[dict[str, Any]]:
        size = self.source.batch_size
        batch = self._pending[:size]
        self._pending = self._pending[size:]
        batch += self._read(size - len(batch))
        if not batch or self.source.maximum_batching_window <= 0:
            return batch
        window_end = time.monotonic() + self.source.maximum_batching_window
        while len(batch) < size and not self._stop.is_set() and time.monotonic() < window_end:
            more = self._read(size - len(batch))
            batch += more
            if not more:
                self._stop.wait(_IDLE_WAIT)
        return batch

    # ---- one batch ------------------------------------------------------------------------------------

    def poll_once(self) -> StreamPollResult:
        """Read one batch (if any), invoke the function, retry or record it as Lambda does."""
        with self._lock:
            records = self._collect()
            result = StreamPollResult(source=self.source.logical_id)
            if not records:
                return result
            self._in_flight += 1
            try:
                result.sequence_numbers = [r["dynamodb"]["SequenceNumber"] for r in records]
                self._deliver(records, result)
            finally:
                self._in_flight -= 1
            return result

    def _deliver(self, records: list[dict[str, Any]], result: StreamPollResult) -> None:
        attempts = 0
        pending = [records]
        while pending:
            batch = pending.pop(0)
            error = self._invoke(batch, result)
            if error is None:
                continue
            attempts += 1
            retries = self.source.maximum_retry_attempts
            if retries >= 0 and attempts > retries:
                result.succeeded = False
                self._on_failure(batch, error)
                result.sent_to_on_failure = self.source.on_failure_arn is not None
                continue
            if self.source.bisect_on_error and len(batch) > 1:
                half = len(batch) // 2
                pending[:0] = [batch[:half], batch[half:]]
            else:
                pending.insert(0, batch)
            time.sleep(min(0.05 * attempts, 0.5))

    def _invoke(self, batch: list[dict[str, Any]], result: StreamPollResult) -> str | None:
        event = {"Records": [_lambda_record(r, self.source.stream_arn, self.region) for r in batch]}
        invocation = self.invoke(self.source.function, event)
        result.invocations.append(invocation)
        if invocation.error is not None:
            return str(invocation.error.get("errorType") or "Unhandled")
        payload = invocation.payload
        if (
            self.source.report_batch_item_failures
            and isinstance(payload, dict)
            and payload.get("batchItemFailures")
        ):
            return "BatchItemFailures"
        return None

    def _on_failure(self, batch: list[dict[str, Any]], error: str) -> None:
        LOG.warning("%s: batch of %d failed its retries (%s)", self.source.logical_id, len(batch), error)
        if self.source.on_failure_arn is None:
            return
        name = self.source.on_failure_arn.rsplit(":", 1)[-1]
        url = self.sqs.get_queue_url(QueueName=name)["QueueUrl"]
        record = {
            "requestContext": {
                "requestId": batch[0].get("eventID"),
                "functionArn": self.source.function,
                "condition": "RetryAttemptsExhausted",
                "approximateInvokeCount": self.source.maximum_retry_attempts + 1,
            },
            "responseContext": {"functionError": error},
            "version": "1.0",
            "timestamp": datetime.now(UTC).isoformat(),
            "DDBStreamBatchInfo": {
                "shardId": "shardId-local",
                "startSequenceNumber": batch[0]["dynamodb"]["SequenceNumber"],
                "endSequenceNumber": batch[-1]["dynamodb"]["SequenceNumber"],
                "batchSize": len(batch),
                "streamArn": self.source.stream_arn,
            },
        }
        self.sqs.send_message(QueueUrl=url, MessageBody=json.dumps(record))

    # ---- background polling ---------------------------------------------------------------------------

    def start(self) -> None:
        if not self.source.enabled or self._thread is not None:
            return
        self.start_position()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._loop, name=f"stream-poller-{self.source.logical_id}", daemon=True
        )
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                if not self.poll_once().sequence_numbers:
                    self._stop.wait(_IDLE_WAIT)
            except Exception:  # the poller must survive (e.g. moto torn down at exit)
                if self._stop.is_set():
                    return
                LOG.exception("%s: stream poller error", self.source.logical_id)
                time.sleep(0.2)

    def request_stop(self) -> None:
        self._stop.set()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    @property
    def in_flight(self) -> int:
        return self._in_flight

    def pending(self) -> int:
        """Records written to the stream and not yet delivered (reads ahead into a buffer to know)."""
        with self._lock:
            self._pending += self._read(self.source.batch_size)
            return len(self._pending)
