"""boto3 clients, created on first use (never at import, so a test's moto mock is always in place first).

One client per service and container: Lambda reuses the container, and boto3 clients are thread-safe.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient
    from mypy_boto3_kms import KMSClient
    from mypy_boto3_sqs import SQSClient
    from mypy_boto3_stepfunctions import SFNClient

__all__ = ["dynamodb", "kms", "reset_clients", "sqs", "stepfunctions"]

# Fail fast inside a Lambda's time budget; "standard" retries back off on throttling.
_CONFIG = Config(connect_timeout=3, read_timeout=5, retries={"mode": "standard", "max_attempts": 4})


@lru_cache(maxsize=1)
def dynamodb() -> DynamoDBClient:
    return boto3.client("dynamodb", config=_CONFIG)


@lru_cache(maxsize=1)
def kms() -> KMSClient:
    return boto3.client("kms", config=_CONFIG)


@lru_cache(maxsize=1)
def sqs() -> SQSClient:
    # A longer read timeout: SendMessageBatch carries up to 256 KiB.
    return boto3.client("sqs", config=_CONFIG.merge(Config(read_timeout=10)))


@lru_cache(maxsize=1)
def stepfunctions() -> SFNClient:
    return boto3.client("stepfunctions", config=_CONFIG)


def reset_clients() -> None:
    """Forget the clients (tests start a fresh moto mock per case)."""
    for factory in (dynamodb, kms, sqs, stepfunctions):
        factory.cache_clear()
