"""The initial-sync state machine (Step Functions), as the sync service starts and watches it."""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

if TYPE_CHECKING:
    from mypy_boto3_stepfunctions import SFNClient

__all__ = ["StepFunctionsSyncMachine"]

_CONFIG = Config(connect_timeout=3, read_timeout=5, retries={"mode": "standard", "max_attempts": 4})
_lock = threading.Lock()
_clients: dict[str, Any] = {}


def _sfn() -> SFNClient:
    with _lock:
        if "sfn" not in _clients:
            _clients["sfn"] = boto3.client("stepfunctions", config=_CONFIG)
        client: SFNClient = _clients["sfn"]
        return client


class StepFunctionsSyncMachine:
    """Starts executions by deterministic name and tells whether one still runs.

    Parameters
    ----------
    state_machine_arn
        ``INITIAL_SYNC_STATE_MACHINE_ARN``.
    client
        A Step Functions client; the container's shared one is created on first use when omitted.
    """

    def __init__(self, state_machine_arn: str, client: SFNClient | None = None) -> None:
        self._arn = state_machine_arn
        self._client = client

    @property
    def client(self) -> SFNClient:
        if self._client is None:
            self._client = _sfn()
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
            return self._arn.replace(":stateMachine:", ":execution:") + f":{name}"
        return response["executionArn"]

    def is_running(self, execution_arn: str) -> bool:
        try:
            description = self.client.describe_execution(executionArn=execution_arn)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "ExecutionDoesNotExist":
                return False
            raise
        return description["status"] == "RUNNING"
