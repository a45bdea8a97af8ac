"""The one Logger and Metrics of xero-bridge, and the redaction guard on every log line.

Tracing is Lambda's own (``Tracing: Active`` in template.yaml): X-Ray records each invocation's segment
(initialisation, invocation, overhead) without any SDK in the function. There is no in-code tracer: the
X-Ray SDK that Powertools' Tracer wraps is retiring (maintenance since 2026-02-25, end of support
2027-02-25), and OpenTelemetry's SDK and exporter would cost a cold start more than they tell here (the
numbers are in the commit that made this choice, measured by ``make bench BENCH=cold_import``); the logs
and metrics below carry what an on-call engineer needs.

Code never logs a token or a secret on purpose (tokens are ``SecretStr`` from the moment they leave Xero's
answer). The guard here is defence in depth: the final JSON of every log line goes through :func:`redact`,
which blanks anything shaped like a bearer token, a JWT, an OAuth ``code=``/``client_secret=`` value or a
token-named JSON field, whatever path it took to get there (an exception message, an ``extra=`` dict...).
"""

from __future__ import annotations

import functools
import logging
import re
import threading
import warnings
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter
from aws_lambda_powertools.metrics import MetricUnit, single_metric
from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider
from aws_lambda_powertools.utilities.typing import LambdaContext

from xero_bridge.settings import get_settings

__all__ = [
    "DIMENSIONS",
    "REDACTED",
    "RedactingFilter",
    "RedactingFormatter",
    "count",
    "invocation",
    "logger",
    "metrics",
    "redact",
]

REDACTED = "[REDACTED]"

# JSON field names whose string value is always secret, wherever they appear in a log line.
_SECRET_KEYS = (
    "access_token|refresh_token|id_token|client_secret|code_verifier|code|authorization|password|secret"
    "|x-xero-signature|webhook_key|token"
)
_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # "access_token": "..." (the value may contain escaped quotes once serialised).
    (
        re.compile(rf'("(?:{_SECRET_KEYS})"\s*:\s*)"(?:[^"\\]|\\.)*"', re.IGNORECASE),
        rf'\1"{REDACTED}"',
    ),
    # Authorization: Bearer <token> / Basic <credentials>.
    (re.compile(r"\b(Bearer|Basic)\s+[A-Za-z0-9\-._~+/]+=*", re.IGNORECASE), rf"\1 {REDACTED}"),
    # Any JWT (header.payload.signature, base64url, header always starts with eyJ).
    (re.compile(r"\beyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"), REDACTED),
    # Form or query values: client_secret=..., code=..., refresh_token=... (not error_code=).
    (
        re.compile(
            r"(?<![A-Za-z0-9_])(client_secret|code|code_verifier|refresh_token|access_token|id_token)"
            r"=(?!\[REDACTED\])[^&\s\"'\\,;}]+",
            re.IGNORECASE,
        ),
        rf"\1={REDACTED}",
    ),
    # Prose such as "refresh_token: abc" (but not "status code: 400").
    (
        re.compile(
            r"(?<![A-Za-z0-9_])(client_secret|refresh_token|access_token|id_token)"
            r"(:\s*)(?!\[REDACTED\])[^&\s\"'\\,;}]+",
            re.IGNORECASE,
        ),
        rf"\1\2{REDACTED}",
    ),
)


def redact(text: str) -> str:
    """Return ``text`` with everything that looks like a credential replaced by ``[REDACTED]``.

    Parameters
    ----------
    text : str
        A log line (usually the serialised JSON of a structured log record).

    Returns
    -------
    str
        The same text, still valid JSON if it was, with secret-looking values blanked.
    """
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text


class RedactingFormatter(LambdaPowertoolsFormatter):
    """Powertools' JSON formatter whose final output goes through :func:`redact`."""

    def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]  # LogRecord is a dict alias
        return redact(super().serialize(log))


class RedactingFilter(logging.Filter):
    """A stdlib filter for loggers outside Powertools' (httpx, botocore...) with the same guard."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = redact(record.getMessage())
        record.args = None
        return True


class SerializedEMFProvider(AmazonCloudWatchEMFProvider):
    """Powertools' CloudWatch EMF metrics, with adding and flushing under one lock.

    Powertools keeps one metric set per process. A Lambda sandbox runs one invocation at a time, but two
    invocations sharing a process (the local stack's concurrent invocations of a function, or a handler's
    own threads) could flush the set while the other was between "is it empty?" and serialising it, and fail
    with ``SchemaValidationError: Must contain at least one metric``: a failed page fetch or, for the writer,
    a whole batch back on the queue. Under the lock a flush publishes every metric added so far, whoever
    added it; the totals are the same.
    """

    _lock = threading.RLock()  # re-entrant: add_metric flushes by itself at 100 metrics

    def add_metric(self, *args: Any, **kwargs: Any) -> None:
        with self._lock:
            super().add_metric(*args, **kwargs)

    def flush_metrics(self, raise_on_empty_metrics: bool = False) -> None:
        with self._lock:
            super().flush_metrics(raise_on_empty_metrics=raise_on_empty_metrics)


def _metrics() -> Metrics:
    shared = Metrics()  # its metric, dimension and metadata sets are Powertools' process-wide ones
    return Metrics(
        provider=SerializedEMFProvider(
            metric_set=shared.metric_set,
            dimension_set=shared.dimension_set,
            metadata_set=shared.metadata_set,
            default_dimensions=shared.default_dimensions,
        )
    )


logger = Logger(logger_formatter=RedactingFormatter(utc=True))

#: The only dimensions a metric may have beside Powertools' ``service``: each takes a handful of values.
#: Never an org, a tenant, a payment or a record id (one series per customer would cost per series and
#: hide the pattern an alarm looks for); those are in the log lines, which carry them on every line.
DIMENSIONS = {
    "record_type": "contact, invoice, credit_note, payment, overpayment, prepayment, bank_account...",
    "source": "initial_sync, webhook, catch_up (where a synced record came from)",
    "outcome": "exported, found_in_xero, closed, error, retrying / ok, failed",
    "error_code": "an export's ExportErrorCode (missing_bank_account, xero_rejected, needs_reconnect...)",
    "limit": "Xero's X-Rate-Limit-Problem: minute, day, concurrent, appminute",
    "reason": "a ReconnectReason: token_revoked, expired, user_removed, scopes_missing",
}
metrics = _metrics()


def count(name: str, value: float = 1, *, unit: MetricUnit = MetricUnit.Count, **dimensions: str) -> None:
    """Publish one metric in the service's namespace, with its own low-cardinality dimensions.

    Without dimensions it joins the invocation's metric set (``metrics.log_metrics`` flushes it); with them
    it is written at once as its own EMF line (Powertools' ``single_metric``), so two dimension values in one
    invocation stay two series.

    Parameters
    ----------
    name : str
        The metric's name (the dashboard and the alarms in template.yaml name it).
    value : float
        The value (a count, by default).
    unit : MetricUnit
        Its unit.
    **dimensions : str
        Names from :data:`DIMENSIONS` only; a value is a short code, never an id.

    Raises
    ------
    ValueError
        A dimension outside :data:`DIMENSIONS` (an org or tenant id, say).
    """
    unknown = sorted(set(dimensions) - set(DIMENSIONS))
    if unknown:
        raise ValueError(f"metric {name}: dimension(s) {', '.join(unknown)} not allowed (see DIMENSIONS)")
    if not dimensions:
        metrics.add_metric(name=name, unit=unit, value=value)
        return
    with single_metric(name=name, unit=unit, value=value) as metric:
        for key, dimension in sorted(dimensions.items()):
            metric.add_dimension(name=key, value=str(dimension))


Handler = Callable[[dict[str, Any], Any], dict[str, Any]]  # the context: Lambda's, or a test's stand-in


def invocation(flow: str, *, correlation_id_path: str | None = None) -> Callable[[Handler], Handler]:
    """What every function's ``lambda_handler`` does around its own work, in one place.

    Powertools' ``inject_lambda_context`` with ``clear_state`` (no key of an earlier invocation stays) and
    the correlation id found at ``correlation_id_path`` (none for a batch: each line names its own item),
    ``metrics.log_metrics`` (the invocation's metrics flushed), the settings read first (a missing variable
    fails the invocation there, with its name), and ``flow`` on every line.

    Parameters
    ----------
    flow : str
        The flow every log line of the invocation names (``api``, ``write``, ``webhook``...).
    correlation_id_path : str, optional
        Where the event holds the correlation id (``correlation_paths.API_GATEWAY_REST``, ``run_id``...).
    """

    def decorate(handler: Handler) -> Handler:
        @logger.inject_lambda_context(correlation_id_path=correlation_id_path, clear_state=True)
        @metrics.log_metrics
        @functools.wraps(handler)
        def invoked(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
            get_settings()
            logger.append_keys(flow=flow)
            return handler(event, context)

        return invoked

    return decorate


# Most invocations of the API functions publish no metric of their own; Powertools then warns on every one,
# which would bury real log lines in Lambda's log stream.
warnings.filterwarnings("ignore", message="No application metrics to publish", category=UserWarning)

# httpx logs every request URL at INFO; a query string could carry a code. Guard it too.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).addFilter(RedactingFilter())
