"""Balance keeper (C7): consumes RecordsTable's DynamoDB stream; notes every stored version with its source
(the sync trail) and rechecks the balance of every customer a batch touches, within seconds of the write.

The writer stays the one writer of synced records: it knows nothing of balances. A batch that fails (DynamoDB
throttling...) is retried whole, split in two on each failure (``BisectBatchOnFunctionError``), and after its
retries goes to ``BalanceKeeperDeadLetterQueue`` (alarmed) as Lambda's record of the batch; every step is
idempotent, so a retry never counts twice.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from pydantic import ValidationError

from xero_bridge import wiring
from xero_bridge.models.balances import RecordChange
from xero_bridge.observability import invocation, logger, metrics


# No correlation_id_path: a batch holds many records' changes; each line says what the batch did instead.
@invocation(flow="balances")
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    records = event.get("Records") or []
    if records:  # the batch's stream sequence numbers: where it sits in the stream, for the DLQ's record too
        first = (records[0].get("dynamodb") or {}).get("SequenceNumber")
        last = (records[-1].get("dynamodb") or {}).get("SequenceNumber")
        logger.set_correlation_id(f"{first}..{last}")
    changes: list[RecordChange] = []
    for raw in records:  # the stream's records as Lambda hands them over (DynamoDB JSON)
        try:
            change = wiring.decode_record_change(str(raw.get("eventName")), raw.get("dynamodb") or {})
        except ValidationError as exc:  # not a record we wrote: retrying cannot help; say where, not what
            logger.warning(
                "unreadable stream record skipped",
                extra={
                    "sequence": (raw.get("dynamodb") or {}).get("SequenceNumber"),
                    "errors": exc.error_count(),
                },
            )
            metrics.add_metric(name="BalanceRecordsUnreadable", unit=MetricUnit.Count, value=1)
            continue
        if change is not None:
            changes.append(change)
    orgs = {(change.org_id, change.tenant_id) for change in changes}
    if len(orgs) == 1:  # one org's batch (the usual case): its lines name it
        ((org_id, tenant_id),) = orgs
        logger.append_keys(org_id=org_id, tenant_id=tenant_id)
    kept = wiring.balance_keeper().apply(changes)
    metrics.add_metric(name="CustomersChecked", unit=MetricUnit.Count, value=kept.customers_checked)
    metrics.add_metric(name="CustomersOffBalance", unit=MetricUnit.Count, value=kept.off_balance)
    logger.info("records stream batch kept", extra={"records": len(records), **asdict(kept)})
    return {"versions": kept.versions, "customers_checked": kept.customers_checked}
