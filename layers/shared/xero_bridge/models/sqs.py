"""An SQS record as Lambda hands it to a queue consumer: the fields our consumers read, typed.

Powertools' own ``SqsRecordModel`` would do, but importing it imports every event model of its parser (about
40 ms of a cold start for three fields). Consumers subclass :class:`SqsRecord` to type the body
(``body: Json[RecordsMessage]``) and pass it to ``BatchProcessor(model=...)``.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict

__all__ = ["SqsAttributes", "SqsRecord"]


class SqsAttributes(BaseModel):
    """The system attributes our consumers use (SQS sends more; they are ignored)."""

    ApproximateReceiveCount: int
    SentTimestamp: datetime  # epoch milliseconds in the event


class SqsRecord(BaseModel):
    """One record of an SQS event. ``hide_input_in_errors``: a body that fails validation is not echoed into
    the error, hence never into a log line."""

    model_config = ConfigDict(hide_input_in_errors=True)

    messageId: str  # noqa: N815 - SQS's own field names
    receiptHandle: str  # noqa: N815
    body: str
    attributes: SqsAttributes
