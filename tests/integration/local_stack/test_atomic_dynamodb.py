"""The local stack's DynamoDB serves one request at a time, as DynamoDB applies each request atomically:
the in-process requests (tests, pollers, state machines) and the functions' over HTTP alike."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import boto3
import pytest
from moto.dynamodb.models import DynamoDBBackend

from tools.local_stack import LocalStack
from tools.local_stack.aws_server import AwsRequest

pytestmark = pytest.mark.integration


def test_concurrent_lambdas_never_run_inside_motos_dynamodb_at_once(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given moto's GetItem made slow (the window in which another thread's write would interleave)
    inside, most_inside = 0, 0
    lock = threading.Lock()
    original: Callable[..., Any] = DynamoDBBackend.get_item

    def slow_get_item(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        nonlocal inside, most_inside
        with lock:
            inside += 1
            most_inside = max(most_inside, inside)
        try:
            time.sleep(0.02)
            return original(self, *args, **kwargs)
        finally:
            with lock:
                inside -= 1

    monkeypatch.setattr(DynamoDBBackend, "get_item", slow_get_item)
    table = stack.physical_id("RecordsTable")
    client = stack.client("dynamodb")
    key_schema = client.describe_table(TableName=table)["Table"]["KeySchema"]
    key = {k["AttributeName"]: {"S": "atomic-test"} for k in key_schema}

    # When eight threads (as eight concurrent invocations would) read at once
    threads = [threading.Thread(target=lambda: client.get_item(TableName=table, Key=key)) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then moto served them one at a time
    assert most_inside == 1


def test_requests_over_http_are_served_one_at_a_time_too(
    stack: LocalStack, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given moto's GetItem made slow, and clients of moto's server (the functions' way in)
    inside, most_inside, in_server, most_in_server = 0, 0, 0, 0
    lock = threading.Lock()
    original: Callable[..., Any] = DynamoDBBackend.get_item

    def slow_get_item(self: DynamoDBBackend, *args: Any, **kwargs: Any) -> Any:
        nonlocal inside, most_inside, in_server
        with lock:
            inside += 1
            most_inside = max(most_inside, inside)
        try:
            time.sleep(0.02)
            return original(self, *args, **kwargs)
        finally:
            with lock:
                inside -= 1
                in_server -= 1

    def note_arrival(request: AwsRequest) -> None:
        nonlocal in_server, most_in_server
        with lock:
            in_server += 1
            most_in_server = max(most_in_server, in_server)

    table = stack.physical_id("RecordsTable")
    clients = [
        boto3.client(
            "dynamodb",
            endpoint_url=stack.aws_endpoint,
            region_name=stack.region,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )
        for _ in range(8)
    ]
    key = {"pk": {"S": "atomic-http-test"}, "sk": {"S": "x"}}
    for client in clients:  # connected, and moto's server app for DynamoDB built, before the race
        client.get_item(TableName=table, Key=key)
    monkeypatch.setattr(DynamoDBBackend, "get_item", slow_get_item)
    start = threading.Barrier(len(clients))

    def read(client: Any) -> None:
        start.wait()
        client.get_item(TableName=table, Key=key)

    # When eight sandboxes' worth of requests arrive over HTTP at once
    with stack.intercept_aws(note_arrival):
        threads = [threading.Thread(target=read, args=(client,)) for client in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    # Then moto served them one at a time, though they were in its server at the same time
    assert most_inside == 1
    assert most_in_server > 1
