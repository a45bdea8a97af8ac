"""SQS event sources polled like Lambda (partial failures, redrive) and schedules fired on demand."""

from __future__ import annotations

import time
from typing import Any

from tools.local_stack import LocalStack, SqsSource
from tools.local_stack.runtime import InvokeResult
from tools.local_stack.sqs_poller import SqsPoller, build_event


def _times(stack: LocalStack, body: str) -> int:
    item = stack.client("dynamodb").get_item(
        TableName=stack.physical_id("RecordsTable"),
        Key={"pk": {"S": f"msg#{body}"}, "sk": {"S": "processed"}},
    )
    return int(item.get("Item", {}).get("times", {}).get("N", 0))


def _dlq_bodies(stack: LocalStack) -> list[str]:
    sqs = stack.client("sqs")
    messages = sqs.receive_message(
        QueueUrl=stack.resources["WorkDeadLetterQueue"].ref, MaxNumberOfMessages=10
    )
    for message in messages.get("Messages", []):
        sqs.delete_message(
            QueueUrl=stack.resources["WorkDeadLetterQueue"].ref, ReceiptHandle=message["ReceiptHandle"]
        )
    return [m["Body"] for m in messages.get("Messages", [])]


def test_partial_batch_failure_then_redrive_to_the_dlq(stack: LocalStack) -> None:
    # Given a good, a poison and another good message
    sqs = stack.client("sqs")
    queue = stack.resources["WorkQueue"].ref
    for body in ("one", "poison", "two"):
        sqs.send_message(QueueUrl=queue, MessageBody=body)

    # When Lambda polls: only the poison message is reported failed and left on the queue
    first = stack.poll_once("ConsumerFunction")
    assert len(first.received) == 3 and len(first.deleted) == 2 and len(first.failed) == 1
    assert stack.poll_once("ConsumerFunction").received == []  # invisible for VisibilityTimeout (1 s)

    time.sleep(1.05)
    second = stack.poll_once("ConsumerFunction")
    assert second.received == first.failed and second.failed == first.failed

    # Then after maxReceiveCount (2) receives it moves to the DLQ; the others were processed once
    time.sleep(1.05)
    assert stack.poll_once("ConsumerFunction").received == []
    assert _dlq_bodies(stack) == ["poison"]
    assert (_times(stack, "one"), _times(stack, "two")) == (1, 1)


def test_background_pollers_and_drain(stack: LocalStack) -> None:
    sqs = stack.client("sqs")
    queue = stack.resources["WorkQueue"].ref
    stack.start_pollers()
    try:
        for body in ("three", "poison", "four"):
            sqs.send_message(QueueUrl=queue, MessageBody=body)
        stack.drain(timeout=15)
    finally:
        stack.stop_pollers()

    assert (_times(stack, "three"), _times(stack, "four")) == (1, 1)
    assert _dlq_bodies(stack) == ["poison"]


def test_sqs_event_shape(stack: LocalStack) -> None:
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName="shape-check")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sqs.send_message(
        QueueUrl=url,
        MessageBody="hi",
        MessageAttributes={"tenant": {"DataType": "String", "StringValue": "t1"}},
    )
    source = SqsSource(logical_id="Shape", function="EchoFunction", queue_arn=arn, queue_url=url)
    seen: list[Any] = []

    def fake_invoke(function: str, event: Any) -> InvokeResult:
        seen.append(event)
        return InvokeResult(function=function, request_id="r", payload=None)

    result = SqsPoller(source, sqs, fake_invoke, "eu-west-1").poll_once()

    (record,) = seen[0]["Records"]
    assert record["body"] == "hi" and record["eventSource"] == "aws:sqs" and record["eventSourceARN"] == arn
    assert record["awsRegion"] == "eu-west-1" and record["md5OfBody"] and record["receiptHandle"]
    assert record["attributes"]["ApproximateReceiveCount"] == "1" and "SentTimestamp" in record["attributes"]
    assert record["messageAttributes"]["tenant"] == {
        "stringValue": "t1",
        "stringListValues": [],
        "binaryListValues": [],
        "dataType": "String",
    }
    assert result.deleted == result.received  # success without ReportBatchItemFailures deletes the batch
    assert build_event([], source, "eu-west-1") == {"Records": []}


def test_without_partial_failures_an_error_keeps_the_whole_batch(stack: LocalStack) -> None:
    sqs = stack.client("sqs")
    url = sqs.create_queue(QueueName="all-or-nothing", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    for body in ("a", "b"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    failing = InvokeResult(function="f", request_id="r", error={"errorType": "Boom", "errorMessage": "x"})
    plain = SqsSource(logical_id="Plain", function="f", queue_arn=arn, queue_url=url)

    failed = SqsPoller(plain, sqs, lambda f, e: failing, "eu-west-1").poll_once()
    assert failed.deleted == [] and len(failed.failed) == 2

    # An invalid batchItemFailures response fails the whole batch too (ReportBatchItemFailures on)
    partial = SqsSource(
        logical_id="P", function="f", queue_arn=arn, queue_url=url, report_batch_item_failures=True
    )
    bogus = InvokeResult(
        function="f", request_id="r", payload={"batchItemFailures": [{"itemIdentifier": "nope"}]}
    )
    assert SqsPoller(partial, sqs, lambda f, e: bogus, "eu-west-1").poll_once().deleted == []
    ok = InvokeResult(function="f", request_id="r", payload={"batchItemFailures": []})
    assert len(SqsPoller(partial, sqs, lambda f, e: ok, "eu-west-1").poll_once().deleted) == 2


def test_fire_rule_scheduler_and_function_schedules(stack: LocalStack) -> None:
    (nightly,) = stack.fire_schedule("NightlyRule")
    assert nightly.invocation is not None and nightly.invocation.payload["written"] == "Scheduled Event"
    assert nightly.event["source"] == "aws.events" and nightly.event["detail"] == {}
    assert nightly.event["resources"] == [stack.resources["NightlyRule"].arn]

    (hourly,) = stack.fire_schedule("WriterFunction")  # the function's own ScheduleV2 event, with its Input
    assert hourly.invocation is not None and hourly.invocation.payload["written"] == "from-schedule-v2"

    (echo,) = stack.fire_schedule("EchoSchedule")
    assert echo.invocation is not None and echo.invocation.payload["event"] == {"from": "scheduler"}

    (daily,) = stack.fire_schedule("FlowStateMachine")
    assert daily.execution_arn is not None
    assert stack.wait_execution(daily.execution_arn, timeout=10)[0] == "SUCCEEDED"
