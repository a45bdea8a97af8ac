"""A DynamoDB client that counts what its queries read: a listing's cost, as DynamoDB bills it."""

from __future__ import annotations

from typing import Any


class CountingClient:
    """The DynamoDB client, adding up each ``Query``'s ``ScannedCount`` (the items read, kept or not)."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.scanned = 0
        self.queries: list[dict[str, Any]] = []

    def query(self, **request: Any) -> Any:
        response = self._client.query(**request)
        self.scanned += int(response["ScannedCount"])
        self.queries.append(request)
        return response

    def reset(self) -> None:
        self.scanned = 0
        self.queries.clear()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)
