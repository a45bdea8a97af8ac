"""The local stack's DynamoDB stream poller does what Lambda's does: batches in order with Lambda's event
shape, retries a failing batch (split in two with BisectBatchOnFunctionError), then records it in the
on-failure queue and goes on."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from tools.local_stack.model import StreamSource
from tools.local_stack.runtime import InvokeResult
from tools.local_stack.stream_poller import StreamPoller

REGION = "eu-west-1"


@pytest.fixture
def aws() -> Iterator[dict[str, Any]]:
    with mock_aws():
        ddb = boto3.client("dynamodb", region_name=REGION)
        table = ddb.create_table(
            TableName="records",
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
            StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
        )["TableDescription"]
        sqs = boto3.client("sqs", region_name=REGION)
        queue = sqs.create_queue(QueueName="keeper-dlq")["QueueUrl"]
        yield {"ddb": ddb, "sqs": sqs, "queue": queue, "stream": table["LatestStreamArn"]}


def poller(aws: dict[str, Any], invoke: Any, **fields: Any) -> StreamPoller:
    source = StreamSource(
        logical_id="KeeperRecordsStream",
        function="KeeperFunction",
        stream_arn=aws["stream"],
        starting_position="TRIM_HORIZON",
        batch_size=fields.pop("batch_size", 3),
        on_failure_arn=f"arn:aws:sqs:{REGION}:123456789012:keeper-dlq",
        **fields,
    )
    return StreamPoller(
        source, boto3.client("dynamodbstreams", region_name=REGION), aws["sqs"], invoke, REGION
    )


def write(aws: dict[str, Any], *keys: str) -> None:
    for key in keys:
        aws["ddb"].put_item(TableName="records", Item={"pk": {"S": key}, "n": {"N": "1"}})


def test_batches_arrive_in_order_with_lambdas_event_shape(aws: dict[str, Any]) -> None:
    seen: list[dict[str, Any]] = []

    def invoke(function: str, event: Any) -> InvokeResult:
        seen.append(event)
        return InvokeResult(function=function, request_id="r", payload=None)

    stream = poller(aws, invoke)
    write(aws, "a", "b", "c", "d")

    assert len(stream.poll_once().sequence_numbers) == 3
    assert len(stream.poll_once().sequence_numbers) == 1
    assert stream.poll_once().sequence_numbers == []
    keys = [r["dynamodb"]["Keys"]["pk"]["S"] for event in seen for r in event["Records"]]
    assert keys == ["a", "b", "c", "d"]
    first = seen[0]["Records"][0]
    assert first["eventSource"] == "aws:dynamodb" and first["eventName"] == "INSERT"
    assert first["eventSourceARN"] == aws["stream"] and first["awsRegion"] == REGION
    assert isinstance(first["dynamodb"]["ApproximateCreationDateTime"], float)
    assert first["dynamodb"]["NewImage"]["pk"] == {"S": "a"}


def test_a_failing_record_is_retried_split_then_recorded_on_failure_and_the_shard_goes_on(
    aws: dict[str, Any],
) -> None:
    delivered: list[list[str]] = []

    def invoke(function: str, event: Any) -> InvokeResult:
        keys = [r["dynamodb"]["Keys"]["pk"]["S"] for r in event["Records"]]
        delivered.append(keys)
        if "bad" in keys:
            return InvokeResult(function=function, request_id="r", error={"errorType": "ClientError"})
        return InvokeResult(function=function, request_id="r", payload=None)

    stream = poller(aws, invoke, batch_size=4, bisect_on_error=True, maximum_retry_attempts=2)
    write(aws, "a", "bad", "c", "d")

    result = stream.poll_once()

    assert result.succeeded is False and result.sent_to_on_failure is True
    assert delivered[0] == ["a", "bad", "c", "d"]
    assert ["c", "d"] in delivered and ["a"] in delivered  # split: the good halves went through
    letters = aws["sqs"].receive_message(QueueUrl=aws["queue"])["Messages"]
    info = json.loads(letters[0]["Body"])
    assert info["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert (
        info["DDBStreamBatchInfo"]["batchSize"] == 1
        and info["DDBStreamBatchInfo"]["streamArn"] == aws["stream"]
    )
    write(aws, "e")
    assert len(stream.poll_once().sequence_numbers) == 1 and delivered[-1] == ["e"]
