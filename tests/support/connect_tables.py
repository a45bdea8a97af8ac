"""The four connect adapters over one physical ConnectionsTable, for tests that set it up or look inside."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from xero_bridge.adapters.aws.connections_table import (
    ConnectionsTable,
    ConnectSessionsTable,
    OAuthStatesTable,
    RefreshLeaseTable,
    TokensTable,
)
from xero_bridge.models.connection import ConnectionStatus, XeroConnection

if TYPE_CHECKING:
    from datetime import datetime

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

    def connected(self, org_id: str, tenant_id: str, *, now: datetime, **fields: Any) -> XeroConnection:
        """``org_id`` connected to ``tenant_id`` since ``now``; ``fields`` set the rest (a status, a reason).

        Saved with a placeholder ciphertext: for a test that reads the connection, not its tokens.
        """
        connection = XeroConnection.model_validate(
            {
                "org_id": org_id,
                "tenant_id": tenant_id,
                "status": ConnectionStatus.CONNECTED,
                "first_connected_at": now,
                "connected_at": now,
                "updated_at": now,
                **fields,
            }
        )
        self.connections.save_connection(connection, ciphertext=b"x", access_expires_at=now, now=now)
        return connection
