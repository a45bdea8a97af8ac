"""The adapters over ``ConnectionsTable``'s connect items: OAuth states, connections, token sets, leases.

One adapter per port, each over the same physical table: :class:`OAuthStatesTable`, :class:`ConnectionsTable`,
:class:`TokensTable` and :class:`RefreshLeaseTable` (sync runs: :mod:`.sync_runs`; the rate limiter's
items: :mod:`.rate_limiter`).

Key design (single table, ``pk``/``sk`` strings; ``expires_at`` is the table's TTL attribute):

================  =====================  ==========================  ==================================
item              pk                     sk                          other attributes
================  =====================  ==========================  ==================================
connection        ``ORG#{org_id}``       ``CONNECTION``              tenant_id (→ GSI ``ByTenant``),
                                                                     tenant_name, status, reason,
                                                                     xero_connection_id, scopes,
                                                                     connected_by_user_id, auth_event_id,
                                                                     first_connected_at, connected_at,
                                                                     updated_at
token set         ``ORG#{org_id}``       ``TOKENS``                  tenant_id, ciphertext (B, KMS),
                                                                     version (N), access_expires_at,
                                                                     updated_at
refresh lease     ``ORG#{org_id}``       ``LEASE#TOKEN_REFRESH``     owner, lease_until (N, epoch ms),
                                                                     expires_at (TTL)
OAuth state       ``STATE#{state}``      ``STATE``                   org_id, code_verifier, browser_hash,
                                                                     user_email, created_at,
                                                                     expires_at (N, epoch s, TTL)
connect session   ``SESSION#{sha256}``   ``SESSION``                 org_id, user_email, created_at,
                                                                     expires_at (N, epoch s, TTL)
tenant binding    ``TENANT#{tenant_id}`` ``BINDING``                 org_id, bound_at: one tenant, one org
sync run          ``ORG#{org_id}``       ``SYNC#{run_id}``           see :mod:`.sync_runs`
================  =====================  ==========================  ==================================

``ByTenant`` (``tenant_id`` + ``sk``, keys only) routes a Xero tenant id to its AR org; the item itself is
then read from the table with a strongly consistent ``GetItem`` (a GSI is only eventually consistent).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from botocore.exceptions import ClientError

from xero_bridge.adapters.aws.dynamodb import (
    DynamoDBTableAdapter,
    from_item,
    is_conditional_check_failure,
    iso,
    to_item,
)
from xero_bridge.errors import (
    ConnectionConflictError,
    InvalidSessionError,
    InvalidStateError,
    StaleTokenVersionError,
)
from xero_bridge.models.connection import (
    ConnectionStatus,
    ConnectSession,
    OAuthState,
    TokenRecord,
    XeroConnection,
)

if TYPE_CHECKING:
    pass

__all__ = [
    "BY_TENANT_INDEX",
    "ConnectSessionsTable",
    "ConnectionsTable",
    "OAuthStatesTable",
    "OrgLeaseTable",
    "RefreshLeaseTable",
    "TokensTable",
]

BY_TENANT_INDEX = "ByTenant"
SK_CONNECTION = "CONNECTION"
SK_TOKENS = "TOKENS"
SK_REFRESH_LEASE = "LEASE#TOKEN_REFRESH"
SK_STATE = "STATE"
SK_SESSION = "SESSION"
SK_BINDING = "BINDING"
# Leases and states linger this long after they stop mattering, then DynamoDB's TTL sweeps them.
_TTL_GRACE = timedelta(days=1)


def org_pk(org_id: str) -> str:
    return f"ORG#{org_id}"


def tenant_pk(tenant_id: str) -> str:
    return f"TENANT#{tenant_id}"


def _token_update(
    org_id: str, tenant_id: str, ciphertext: bytes, access_expires_at: datetime, now: datetime
) -> dict[str, Any]:
    # The version only grows: it orders rotations, and a reconnect's new grant is newer than any refresh.
    return {
        "UpdateExpression": (
            "SET #type = :type, org_id = :org, tenant_id = :t, ciphertext = :c, "
            "access_expires_at = :x, updated_at = :u, #v = if_not_exists(#v, :zero) + :one"
        ),
        "ExpressionAttributeNames": {"#type": "type", "#v": "version"},
        "ExpressionAttributeValues": {
            ":org": {"S": org_id},
            ":t": {"S": tenant_id},
            ":c": {"B": ciphertext},
            ":x": {"S": iso(access_expires_at)},
            ":u": {"S": iso(now)},
            ":one": {"N": "1"},
            ":zero": {"N": "0"},
            ":type": {"S": "tokens"},
        },
    }


class _SingleUseItems(DynamoDBTableAdapter):
    """Items written once and taken once, refused after their ``expires_at`` (epoch seconds, the TTL)."""

    def _put_new(self, item: dict[str, Any]) -> None:
        """Store a new item; a (vanishingly unlikely) duplicate key is refused, never overwritten."""
        self.client.put_item(
            TableName=self._table, Item=to_item(item), ConditionExpression="attribute_not_exists(pk)"
        )

    def _take(
        self, key: dict[str, Any], *, now: datetime, invalid: Callable[..., Exception]
    ) -> dict[str, Any]:
        """Delete the item at ``key`` and return its values, unless it expired (even if DynamoDB has not
        swept it yet).

        Raises
        ------
        Exception
            ``invalid("unknown")`` when it never existed or was already taken, ``invalid("expired",
            org_id=...)`` when it outlived ``expires_at`` (it is removed on the way).
        """
        try:
            response = self.client.delete_item(
                TableName=self._table,
                Key=key,
                ConditionExpression="attribute_exists(pk) AND expires_at > :now",
                ExpressionAttributeValues={":now": {"N": str(int(now.timestamp()))}},
                ReturnValues="ALL_OLD",
            )
        except ClientError as exc:
            if not is_conditional_check_failure(exc):
                raise
            # Tell "expired" from "unknown or already used"; an expired one is removed on the way.
            old = self.client.delete_item(TableName=self._table, Key=key, ReturnValues="ALL_OLD")
            if "Attributes" in old:
                raise invalid("expired", org_id=from_item(old["Attributes"]).get("org_id")) from exc
            raise invalid("unknown") from exc
        return from_item(response["Attributes"])


class OAuthStatesTable(_SingleUseItems):
    """Pending OAuth states (``STATE#{state}``): single use, expiring (implements ``StateStore``)."""

    def put_state(self, state: OAuthState) -> None:
        """Store a new state; a (vanishingly unlikely) duplicate state value is refused, never overwritten."""
        item = {
            "pk": f"STATE#{state.state}",
            "sk": SK_STATE,
            "type": "oauth_state",
            "org_id": state.org_id,
            "code_verifier": state.code_verifier.get_secret_value(),
            "browser_hash": state.browser_hash or None,
            "user_email": state.user_email,
            "created_at": iso(state.created_at),
            "expires_at": int(state.expires_at.timestamp()),
        }
        self._put_new(item)

    def take_state(self, state: str, *, now: datetime) -> OAuthState:
        """Delete the state and return it; single use, refused once expired.

        Raises
        ------
        InvalidStateError
            ``reason="unknown"`` when it never existed or was already taken (a replayed callback),
            ``reason="expired"`` when it outlived its TTL, even if DynamoDB has not swept it yet.
        """
        key = to_item({"pk": f"STATE#{state}", "sk": SK_STATE})
        values = self._take(key, now=now, invalid=InvalidStateError)
        return OAuthState(
            state=state,
            org_id=values["org_id"],
            code_verifier=values["code_verifier"],
            browser_hash=values.get("browser_hash") or "",
            user_email=values.get("user_email"),
            created_at=datetime.fromisoformat(values["created_at"]),
            expires_at=datetime.fromtimestamp(int(values["expires_at"]), UTC),
        )


class ConnectSessionsTable(_SingleUseItems):
    """Connect links the AR platform asked for (``SESSION#{sha256 of the token}``): single use, expiring
    (``ConnectSessionStore``). The token itself is never stored."""

    def put_session(self, session: ConnectSession) -> None:
        item = {
            "pk": f"SESSION#{session.token_hash}",
            "sk": SK_SESSION,
            "type": "connect_session",
            "org_id": session.org_id,
            "user_email": session.user_email,
            "created_at": iso(session.created_at),
            "expires_at": int(session.expires_at.timestamp()),
        }
        self._put_new(item)

    def take_session(self, token_hash: str, *, now: datetime) -> ConnectSession:
        """Delete the session and return it: single use, refused once expired (``InvalidSessionError``)."""
        key = to_item({"pk": f"SESSION#{token_hash}", "sk": SK_SESSION})
        values = self._take(key, now=now, invalid=InvalidSessionError)
        return ConnectSession(
            token_hash=token_hash,
            org_id=values["org_id"],
            user_email=values.get("user_email"),
            created_at=datetime.fromisoformat(values["created_at"]),
            expires_at=datetime.fromtimestamp(int(values["expires_at"]), UTC),
        )


class ConnectionsTable(DynamoDBTableAdapter):
    """One AR org's Xero connection (``ORG#{org_id}`` / ``CONNECTION``) and the tenant → org route
    (GSI ``ByTenant``); a new grant's token set is written with it, atomically (``ConnectionStore``)."""

    def get_connection(self, org_id: str) -> XeroConnection | None:
        response = self.client.get_item(
            TableName=self._table,
            Key=to_item({"pk": org_pk(org_id), "sk": SK_CONNECTION}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        return self._connection(item) if item else None

    def list_connected(self) -> list[XeroConnection]:
        """Every connection that is ``connected`` (a paginated, strongly consistent ``Scan`` of the
        connection items: one item per org, read by the catch-up's fan-out every few minutes)."""
        pages = self.client.get_paginator("scan").paginate(
            TableName=self._table,
            FilterExpression="sk = :sk AND #s = :connected",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={
                ":sk": {"S": SK_CONNECTION},
                ":connected": {"S": ConnectionStatus.CONNECTED.value},
            },
            ConsistentRead=True,
        )
        return [self._connection(item) for page in pages for item in page.get("Items", [])]

    def find_by_tenant(self, tenant_id: str) -> list[XeroConnection]:
        """Every AR org whose connection names this tenant (normally one; a disconnected one may linger)."""
        response = self.client.query(
            TableName=self._table,
            IndexName=BY_TENANT_INDEX,
            KeyConditionExpression="tenant_id = :t AND sk = :sk",
            ExpressionAttributeValues={":t": {"S": tenant_id}, ":sk": {"S": SK_CONNECTION}},
        )
        found = []
        for key in response.get("Items", []):
            org_id = from_item(key)["pk"].removeprefix("ORG#")
            connection = self.get_connection(org_id)
            # The index lags the table: re-check the tenant on the consistent read.
            if connection is not None and connection.tenant_id == tenant_id:
                found.append(connection)
        return found

    def save_connection(
        self, connection: XeroConnection, *, ciphertext: bytes, access_expires_at: datetime, now: datetime
    ) -> int:
        """Write the connection and its new token set in one transaction; return the token set's version.

        The connection write is conditional: the org must have no connection, this same tenant, or a
        disconnected one, so two racing callbacks can never leave tokens of one tenant under another.

        Raises
        ------
        ConnectionConflictError
            The org is connected (or waiting for a reconnect) to a different tenant.
        """
        item = {
            "pk": org_pk(connection.org_id),
            "sk": SK_CONNECTION,
            "type": "connection",
            **connection.model_dump(mode="json", exclude_none=True),
        }
        item["scopes"] = list(connection.scopes)
        put_connection = {
            "TableName": self._table,
            "Item": to_item(item),
            "ConditionExpression": "attribute_not_exists(pk) OR tenant_id = :t OR #s = :disconnected",
            "ExpressionAttributeNames": {"#s": "status"},
            "ExpressionAttributeValues": {
                ":t": {"S": connection.tenant_id},
                ":disconnected": {"S": ConnectionStatus.DISCONNECTED.value},
            },
        }
        update_tokens = {
            "TableName": self._table,
            "Key": to_item({"pk": org_pk(connection.org_id), "sk": SK_TOKENS}),
            **_token_update(connection.org_id, connection.tenant_id, ciphertext, access_expires_at, now),
        }
        # One tenant feeds one AR org: its binding item is written in the same transaction, only if it is
        # free or already this org's (a disconnect frees it), so two racing callbacks of two orgs for one
        # tenant cannot both succeed.
        bind_tenant = {
            "TableName": self._table,
            "Item": to_item(
                {
                    "pk": tenant_pk(connection.tenant_id),
                    "sk": SK_BINDING,
                    "type": "tenant_binding",
                    "tenant_id_bound": connection.tenant_id,
                    "org_id": connection.org_id,
                    "bound_at": iso(now),
                }
            ),
            "ConditionExpression": "attribute_not_exists(pk) OR org_id = :org",
            "ExpressionAttributeValues": {":org": {"S": connection.org_id}},
        }
        transaction: Any = [{"Put": put_connection}, {"Update": update_tokens}, {"Put": bind_tenant}]
        try:
            self.client.transact_write_items(TransactItems=transaction)
        except ClientError as exc:
            reasons = exc.response.get("CancellationReasons", [])
            failed = [r.get("Code") == "ConditionalCheckFailed" for r in reasons]
            if failed and failed[0]:
                raise ConnectionConflictError(connection.org_id, kind="different_organisation") from exc
            if len(failed) > 2 and failed[2]:
                raise ConnectionConflictError(connection.org_id, kind="organisation_in_use") from exc
            raise
        stored = TokensTable(self._table, self.client).get_tokens(connection.org_id)
        return stored.version if stored else 1

    def set_status(
        self,
        org_id: str,
        status: ConnectionStatus,
        reason: str | None,
        *,
        now: datetime,
        reason_code: str | None = None,
    ) -> None:
        """Change the status (and its reason) of an existing connection; a missing one stays missing."""
        names = {"#s": "status", "#r": "reason", "#c": "reason_code", "#u": "updated_at"}
        values: dict[str, Any] = {":s": {"S": status.value}, ":u": {"S": iso(now)}}
        sets, removes = ["#s = :s", "#u = :u"], []
        for placeholder, value in (("#r", reason), ("#c", reason_code)):
            if value is None:
                removes.append(placeholder)
            else:
                sets.append(f"{placeholder} = :{placeholder[1:]}")
                values[f":{placeholder[1:]}"] = {"S": value}
        update = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
        try:
            self.client.update_item(
                TableName=self._table,
                Key=to_item({"pk": org_pk(org_id), "sk": SK_CONNECTION}),
                UpdateExpression=update,
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeNames=names,
                ExpressionAttributeValues=values,
            )
        except ClientError as exc:
            if not is_conditional_check_failure(exc):
                raise

    def disconnect(self, org_id: str, tenant_id: str, *, reason: str, now: datetime) -> None:
        """Mark the connection disconnected and free its tenant's binding, in one transaction (idempotent)."""
        self.client.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": to_item({"pk": org_pk(org_id), "sk": SK_CONNECTION}),
                        "UpdateExpression": "SET #s = :s, #r = :r, #c = :c, #u = :u",
                        "ConditionExpression": "attribute_exists(pk) AND tenant_id = :t",
                        "ExpressionAttributeNames": {
                            "#s": "status",
                            "#r": "reason",
                            "#c": "reason_code",
                            "#u": "updated_at",
                        },
                        "ExpressionAttributeValues": {
                            ":s": {"S": ConnectionStatus.DISCONNECTED.value},
                            ":r": {"S": reason},
                            ":c": {"S": "disconnected"},
                            ":u": {"S": iso(now)},
                            ":t": {"S": tenant_id},
                        },
                    }
                },
                {
                    "Delete": {
                        "TableName": self._table,
                        "Key": to_item({"pk": tenant_pk(tenant_id), "sk": SK_BINDING}),
                        # Only our own binding: a tenant another org took since is left alone.
                        "ConditionExpression": "attribute_not_exists(pk) OR org_id = :org",
                        "ExpressionAttributeValues": {":org": {"S": org_id}},
                    }
                },
            ]
        )

    def record_change(self, org_id: str, at: datetime) -> None:
        """Keep when a change from Xero last reached the writer (never moved back)."""
        try:
            self.client.update_item(
                TableName=self._table,
                Key=to_item({"pk": org_pk(org_id), "sk": SK_CONNECTION}),
                UpdateExpression="SET last_change_at = :at",
                ConditionExpression="attribute_exists(pk) AND "
                "(attribute_not_exists(last_change_at) OR last_change_at < :at)",
                ExpressionAttributeValues={":at": {"S": iso(at)}},
            )
        except ClientError as exc:
            if not is_conditional_check_failure(exc):
                raise

    @staticmethod
    def _connection(item: dict[str, Any]) -> XeroConnection:
        values = from_item(item)
        values["scopes"] = tuple(values.get("scopes") or ())
        return XeroConnection.model_validate(values)


class TokensTable(DynamoDBTableAdapter):
    """The KMS-encrypted token set of a connection, versioned (``TokenStore``)."""

    def get_tokens(self, org_id: str) -> TokenRecord | None:
        response = self.client.get_item(
            TableName=self._table,
            Key=to_item({"pk": org_pk(org_id), "sk": SK_TOKENS}),
            ConsistentRead=True,
        )
        item = response.get("Item")
        if not item:
            return None
        values = from_item(item)
        return TokenRecord(
            org_id=values["org_id"],
            tenant_id=values["tenant_id"],
            ciphertext=values["ciphertext"],
            version=int(values["version"]),
            access_expires_at=datetime.fromisoformat(values["access_expires_at"]),
            updated_at=datetime.fromisoformat(values["updated_at"]),
        )

    def put_tokens(
        self,
        org_id: str,
        tenant_id: str,
        ciphertext: bytes,
        *,
        access_expires_at: datetime,
        now: datetime,
        expected_version: int | None = None,
    ) -> int:
        """Write the token set and bump its version; conditional on ``expected_version`` when given.

        Raises
        ------
        StaleTokenVersionError
            ``expected_version`` was given and the stored version differs (someone else rotated it).
        """
        update = _token_update(org_id, tenant_id, ciphertext, access_expires_at, now)
        if expected_version is not None:
            update["ConditionExpression"] = "#v = :expected"
            update["ExpressionAttributeValues"][":expected"] = {"N": str(expected_version)}
        try:
            response = self.client.update_item(
                TableName=self._table,
                Key=to_item({"pk": org_pk(org_id), "sk": SK_TOKENS}),
                ReturnValues="UPDATED_NEW",
                **update,
            )
        except ClientError as exc:
            if is_conditional_check_failure(exc):
                raise StaleTokenVersionError(org_id) from exc
            raise
        return int(response["Attributes"]["version"]["N"])

    def delete_tokens(self, org_id: str) -> None:
        """Erase the token set (a disconnect); there is nothing left to decrypt."""
        self.client.delete_item(TableName=self._table, Key=to_item({"pk": org_pk(org_id), "sk": SK_TOKENS}))


class OrgLeaseTable(DynamoDBTableAdapter):
    """A lease per org (``ORG#{org_id}`` / :attr:`lease_sk`): one owner at a time, until ``lease_until``
    (epoch ms); DynamoDB's TTL sweeps it a day later."""

    lease_sk: ClassVar[str]

    def acquire(self, org_id: str, owner: str, *, now: datetime, seconds: float) -> bool:
        """Take the org's lease if nobody holds it (or the holder's lease ran out).

        The conditional put is atomic in DynamoDB, so across every concurrent Lambda exactly one wins.
        """
        now_ms = int(now.timestamp() * 1000)
        until = now + timedelta(seconds=seconds)
        item = {
            "pk": org_pk(org_id),
            "sk": self.lease_sk,
            "type": "lease",
            "owner": owner,
            "lease_until": int(until.timestamp() * 1000),
            "expires_at": int((until + _TTL_GRACE).timestamp()),
        }
        try:
            self.client.put_item(
                TableName=self._table,
                Item=to_item(item),
                ConditionExpression="attribute_not_exists(pk) OR lease_until < :now OR #o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":now": {"N": str(now_ms)}, ":me": {"S": owner}},
            )
        except ClientError as exc:
            if is_conditional_check_failure(exc):
                return False
            raise
        return True

    def release(self, org_id: str, owner: str) -> None:
        """Give the lease back, only if it is still ours (it may have expired and been taken over)."""
        try:
            self.client.delete_item(
                TableName=self._table,
                Key=to_item({"pk": org_pk(org_id), "sk": self.lease_sk}),
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={":me": {"S": owner}},
            )
        except ClientError as exc:
            if not is_conditional_check_failure(exc):
                raise


class RefreshLeaseTable(OrgLeaseTable):
    """The per-connection lease that serialises token refreshes across every Lambda (``RefreshLease``)."""

    lease_sk = SK_REFRESH_LEASE

    def extend(self, org_id: str, owner: str, *, now: datetime, seconds: float) -> bool:
        """Push our lease to ``now + seconds`` (a refresh still running); False when it is no longer ours."""
        until = now + timedelta(seconds=seconds)
        try:
            self.client.update_item(
                TableName=self._table,
                Key=to_item({"pk": org_pk(org_id), "sk": self.lease_sk}),
                UpdateExpression="SET lease_until = :until, expires_at = :ttl",
                ConditionExpression="#o = :me",
                ExpressionAttributeNames={"#o": "owner"},
                ExpressionAttributeValues={
                    ":until": {"N": str(int(until.timestamp() * 1000))},
                    ":ttl": {"N": str(int((until + _TTL_GRACE).timestamp()))},
                    ":me": {"S": owner},
                },
            )
        except ClientError as exc:
            if is_conditional_check_failure(exc):
                return False
            raise
        return True
