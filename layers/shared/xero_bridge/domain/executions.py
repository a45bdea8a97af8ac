"""Names of sync runs and state-machine executions: deterministic, so a retried start never starts two."""

from __future__ import annotations

import hashlib
import re
import uuid
from datetime import UTC, datetime

__all__ = ["execution_name", "new_run_id"]

_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")
_HASH_LENGTH = 40


def new_run_id(now: datetime) -> str:
    """A run id that sorts by start time: ``20261121T102400Z-1a2b3c4d``."""
    return f"{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:8]}"


def execution_name(prefix: str, *identity: str, hashed: bool = False) -> str:
    """The one execution name of ``identity`` (≤ 80 characters of ``[A-Za-z0-9_-]``, as Step Functions wants).

    Standard workflows refuse a second execution of one name for 90 days, so a start retried after a
    timeout cannot start the same work twice. The readable ``{prefix}-{identity...}`` is used when it fits
    and ``hashed`` is False; otherwise ``{prefix}-{sha256 of the identity}``, which is also what keeps a
    value that should not be shown (an OAuth state, a user's id) out of the name.

    Examples
    --------
    >>> execution_name("sync", "20261121T102400Z-1a2b3c4d", "a2")
    'sync-20261121T102400Z-1a2b3c4d-a2'
    """
    readable = "-".join((prefix, *identity))
    if not hashed and _SAFE.match(readable):
        return readable
    digest = hashlib.sha256("\n".join(identity).encode()).hexdigest()[:_HASH_LENGTH]
    return f"{prefix}-{digest}"
