"""ReconciliationTable's batch writes: items DynamoDB leaves unprocessed are sent again, and never dropped
without a word."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, cast

import pytest

from xero_bridge.adapters.aws.reconciliation_table import ReconciliationTable
from xero_bridge.errors import TableUnavailable
from xero_bridge.models.balances import CustomerBalance

NOW = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)


class ThrottledDynamoDB:
    """A client whose ``BatchWriteItem`` leaves each request's last item unprocessed, ``rounds`` times."""

    def __init__(self, rounds: int) -> None:
        self.rounds = rounds
        self.requests: list[list[dict[str, Any]]] = []

    def batch_write_item(self, RequestItems: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:  # noqa: N803
        ((table, items),) = RequestItems.items()
        self.requests.append(items)
        if len(self.requests) > self.rounds:
            return {"UnprocessedItems": {}}
        return {"UnprocessedItems": {table: items[-1:]}}


def table(client: ThrottledDynamoDB) -> ReconciliationTable:
    return ReconciliationTable("reconciliation", client=cast(Any, client))


def balances(count: int) -> list[CustomerBalance]:
    return [CustomerBalance(contact_id=f"c{n}", computed=Decimal(n), checked_at=NOW) for n in range(count)]


def test_unprocessed_items_are_sent_again_until_written() -> None:
    client = ThrottledDynamoDB(rounds=2)

    table(client).put_balances("t1", "o1", balances(3))

    assert [len(items) for items in client.requests] == [3, 1, 1]
    assert client.requests[1] == client.requests[0][-1:]


def test_items_still_unprocessed_after_every_round_raise_rather_than_vanish() -> None:
    client = ThrottledDynamoDB(rounds=1_000)

    with pytest.raises(TableUnavailable):
        table(client).put_balances("t1", "o1", balances(2))
