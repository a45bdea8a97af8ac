"""The four connect adapters over one physical ConnectionsTable, for tests that set it up or look inside."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from xero_bridge.adapters.aws.connections_table import (
    ConnectionsTable,
    ConnectSessionsTable,
    OAuthStatesTable,
    RefreshLeaseTable,
    TokensTable,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


@dataclass(frozen=True)
class ConnectTables:
    sessions: ConnectSessionsTable
    states: OAuthStatesTable
    connections: ConnectionsTable
    tokens: TokensTable
    lease: RefreshLeaseTable

    @classmethod
    def over(cls, table_name: str, client: DynamoDBClient | None = None) -> ConnectTables:
        return cls(
            sessions=ConnectSessionsTable(table_name, client),
            states=OAuthStatesTable(table_name, client),
            connections=ConnectionsTable(table_name, client),
            tokens=TokensTable(table_name, client),
            lease=RefreshLeaseTable(table_name, client),
        )
