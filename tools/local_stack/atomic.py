"""DynamoDB's atomicity on the local stack: moto's DynamoDB serves one request at a time.

Why: DynamoDB applies each request atomically (a conditional write, a transaction). moto's backend does
not lock, and every request reaches it on a thread of this process: the tests', pollers' and state
machines' in-process (``mock_aws``), and the function sandboxes' over HTTP, one server thread per
connection (:mod:`tools.local_stack.aws_server`). Two page fetchers checkpointing at once made moto's
``TransactWriteItems`` fail with ``RuntimeError: dictionary changed size during iteration`` (it deep-copies
the tables while another thread writes to them); the page was then fetched from Xero again by the state
machine's retry, a call AWS would not have made. Serialising moto's DynamoDB requests, whichever way they
come in, through one lock (:data:`DYNAMODB_LOCK`: :func:`install` for the in-process path,
``AwsGateway`` for the HTTP one) gives the local stack the behaviour of the real service.

Only DynamoDB is serialised: its requests never block inside moto. SQS is not (a long-polling
``ReceiveMessage`` sleeps inside moto, and holding a lock there would stall every other request).
"""

from __future__ import annotations

import threading
from typing import Any

from moto.core.models import botocore_stubber

__all__ = ["DYNAMODB_LOCK", "FairLock", "install", "uninstall"]


class FairLock:
    """A first-come, first-served lock: threading.Lock lets one thread starve behind the others."""

    def __init__(self) -> None:
        self._condition = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def __enter__(self) -> None:
        with self._condition:
            ticket = self._next_ticket
            self._next_ticket += 1
            self._condition.wait_for(lambda: self._serving == ticket)

    def __exit__(self, *exc: object) -> None:
        with self._condition:
            self._serving += 1
            self._condition.notify_all()


#: Held around each DynamoDB request moto serves, in-process or over HTTP.
DYNAMODB_LOCK = FairLock()
_install_lock = threading.Lock()
_installed = 0
_original: Any = None


def _is_dynamodb(url: str) -> bool:
    host = url.split("://", 1)[-1].split("/", 1)[0]
    return host.startswith("dynamodb.")


def _serialised(request: Any) -> Any:
    if _is_dynamodb(str(request.url)):
        with DYNAMODB_LOCK:
            return _original(request)
    return _original(request)


def install() -> None:
    """Serialise moto's DynamoDB requests (reference counted: nested local stacks install once)."""
    global _installed, _original  # noqa: PLW0603 - one process-wide hook, reference counted
    with _install_lock:
        if _installed == 0:
            _original = botocore_stubber.process_request
            botocore_stubber.process_request = _serialised  # type: ignore[method-assign]
        _installed += 1


def uninstall() -> None:
    """Undo :func:`install`; moto's own request handling returns with the last local stack."""
    global _installed, _original  # noqa: PLW0603 - see install
    with _install_lock:
        if _installed == 0:
            return
        _installed -= 1
        if _installed == 0:
            botocore_stubber.process_request = _original  # type: ignore[method-assign]
            _original = None
