"""The local stack's DynamoDB serves one request at a time, as DynamoDB applies each request atomically."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from moto.dynamodb.models import DynamoDBBackend

from tools.local_stack import LocalStack

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
