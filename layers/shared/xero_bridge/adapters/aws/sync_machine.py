"""The initial-sync state machine (Step Functions): started by deterministic name, watched while it runs."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from xero_bridge.adapters.aws import clients

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

__all__ = ["StepFunctionsSyncMachine", "execution_name"]


def execution_name(org_id: str, connect_id: str) -> str:
    """A deterministic execution name for one connect (≤ 80 chars, only ``[A-Za-z0-9_-]``).

    Standard workflows refuse a second execution of the same name for 90 days, so a callback retried
    after a timeout cannot start two initial syncs.
    """
    digest = hashlib.sha256(f"{org_id}\n{connect_id}".encode()).hexdigest()[:40]
    return f"initial-sync-{digest}"


class StepFunctionsSyncMachine:
    """``InitialSyncStateMachine`` (``INITIAL_SYNC_STATE_MACHINE_ARN``): the connect callback's sync starter
    and the sync service's machine.

    Parameters
    ----------
    state_machine_arn : str
        The state machine to start.
    client : SFNClient, optional
        A Step Functions client; the container's shared one is created on first use when omitted.
    """

    def __init__(self, state_machine_arn: str, client: SFNClient | None = None) -> None:
        self._arn = state_machine_arn
        self._client = client

    @property
    def client(self) -> SFNClient:
        if self._client is None:
            self._client = clients.stepfunctions()
        return self._client

    def start(self, name: str, payload: dict[str, Any]) -> str:
        """Start ``name``; a name already started (a retried request) gives the existing execution's ARN."""
        try:
            response = self.client.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps(payload, sort_keys=True)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
            # Already started: its ARN is derived from the machine's ARN and the name.
            return self._arn.replace(":stateMachine:", ":execution:") + f":{name}"
        return response["executionArn"]

    def start_initial_sync(self, *, org_id: str, tenant_id: str, connect_id: str, reconnect: bool) -> str:
        """Start the sync of one connect; return the execution ARN (the existing one if already started)."""
        payload = {
            "org_id": org_id,
            "tenant_id": tenant_id,
            # A reconnect of the same tenant resumes from the stored cursor instead of a full import.
            "trigger": "reconnect" if reconnect else "connect",
        }
        return self.start(execution_name(org_id, connect_id), payload)

    def is_running(self, execution_arn: str) -> bool:
        try:
            description = self.client.describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return False
            raise
        return description["status"] == "RUNNING"
