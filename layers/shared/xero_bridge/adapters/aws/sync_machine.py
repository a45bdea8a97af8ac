"""The initial-sync state machine (Step Functions): started by deterministic name, watched while it runs."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from xero_bridge.adapters.aws import clients

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

__all__ = ["StepFunctionsSyncMachine"]


class StepFunctionsSyncMachine:
    """``InitialSyncStateMachine`` (``INITIAL_SYNC_STATE_MACHINE_ARN``), started by the connect callback and
    by ``POST /orgs/{org_id}/sync``.

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

    def start(self, name: str, payload: Mapping[str, str]) -> str:
        """Start ``name``; a name already started (a retried request) gives the existing execution's ARN."""
        try:
            response = self.client.start_execution(
                stateMachineArn=self._arn, name=name, input=json.dumps(dict(payload), sort_keys=True)
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "ExecutionAlreadyExists":
                raise
            # Already started: its ARN is derived from the machine's ARN and the name.
            return self._arn.replace(":stateMachine:", ":execution:") + f":{name}"
        return response["executionArn"]

    def stop(self, execution_arn: str, *, cause: str) -> bool:
        """Stop a running execution (a disconnect); False when it had already ended or never existed."""
        if not self.is_running(execution_arn):
            return False
        try:
            self.client.stop_execution(executionArn=execution_arn, error="Disconnected", cause=cause[:32768])
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return False
            raise
        return True

    def is_running(self, execution_arn: str) -> bool:
        try:
            description = self.client.describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return False
            raise
        return description["status"] == "RUNNING"
