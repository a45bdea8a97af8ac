"""Secrets from Secrets Manager through Powertools Parameters, cached per container for ``max_age``."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters
from pydantic import SecretStr

from xero_bridge.errors import SecretUnavailableError

__all__ = ["SecretsManagerKey", "read_secret"]


def read_secret(name: str, *, max_age: int) -> SecretStr:
    """Return the secret's string value, wrapped so it never prints.

    Parameters
    ----------
    name : str
        Name or ARN of the secret (``XERO_CLIENT_SECRET_NAME``).
    max_age : int
        Seconds this container reuses the value before asking Secrets Manager again (a rotated secret
        is picked up within that time).
    """
    try:
        value = parameters.get_secret(name, max_age=max_age)
    except parameters.exceptions.GetParameterError as exc:
        raise SecretUnavailableError(f"secret {name!r} could not be read") from exc
    return SecretStr(str(value))


class SecretsManagerKey:
    """A signing key kept in Secrets Manager, read through Powertools Parameters: the webhook key
    (``XERO_WEBHOOK_KEY_NAME``), the listing cursors' key (``CURSOR_KEY_NAME``).

    Powertools caches the value per container for ``max_age`` seconds: a hot path does not call Secrets
    Manager, and a rotated key is picked up within that time.
    """

    def __init__(self, name: str, *, max_age: int) -> None:
        self._name = name
        self._max_age = max_age

    def key(self) -> SecretStr:
        return read_secret(self._name, max_age=self._max_age)
