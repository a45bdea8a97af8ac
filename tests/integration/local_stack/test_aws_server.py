"""moto's server (the functions' AWS) and moto in-process (the tests', pollers' and state machines') are one
AWS: one state, whichever way a request comes in."""

from __future__ import annotations

from typing import Any

import boto3
import pytest

from tools.local_stack import LocalStack

pytestmark = pytest.mark.integration


def test_moto_over_http_and_moto_in_process_are_one_aws(stack: LocalStack) -> None:
    # Given a client of moto's server (what the sandboxes use) and one of the in-process mock (the tests')
    seen: list[str] = []
    over_http: dict[str, Any] = {
        service: boto3.client(
            service,
            endpoint_url=stack.aws_endpoint,
            region_name=stack.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        for service in ("dynamodb", "sqs")
    }
    in_process: dict[str, Any] = {service: stack.client(service) for service in ("dynamodb", "sqs")}
    table = stack.physical_id("RecordsTable")

    def key(pk: str) -> dict[str, Any]:
        return {"pk": {"S": pk}, "sk": {"S": "shared"}}

    # When each writes what the other reads
    with stack.intercept_aws(lambda request: seen.append(request.operation)):
        over_http["dynamodb"].put_item(TableName=table, Item={**key("from-http"), "v": {"S": "1"}})
        in_process["dynamodb"].put_item(TableName=table, Item={**key("from-process"), "v": {"S": "2"}})
        read_in_process = in_process["dynamodb"].get_item(TableName=table, Key=key("from-http"))
        read_over_http = over_http["dynamodb"].get_item(TableName=table, Key=key("from-process"))
        queue = in_process["sqs"].create_queue(QueueName="one-aws")["QueueUrl"]
        over_http["sqs"].send_message(QueueUrl=queue, MessageBody="sent over http")
        received = in_process["sqs"].receive_message(QueueUrl=queue, WaitTimeSeconds=1)

    # Then both see one state
    assert read_in_process["Item"]["v"] == {"S": "1"} and read_over_http["Item"]["v"] == {"S": "2"}
    assert [m["Body"] for m in received["Messages"]] == ["sent over http"]
    assert seen == ["PutItem", "GetItem", "SendMessage"]  # (the server saw exactly the HTTP client's calls)
