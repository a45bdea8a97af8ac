"""Secrets from Secrets Manager through Powertools Parameters, cached per container for ``max_age``."""

from __future__ import annotations

from aws_lambda_powertools.utilities import parameters
from pydantic import SecretStr

from xero_bridge.errors import SecretUnavailableError

__all__ = ["read_secret"]


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
