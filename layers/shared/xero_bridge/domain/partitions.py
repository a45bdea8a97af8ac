"""How a run splits its import: what the AR team chases with first, the history after, nothing lost between.

A finance team that connects Xero wants to chase, not to wait for years of paid invoices. So a full run
reads each receivable resource in two partitions, with Xero's own filters (``Statuses``, ``where``), in two
parts fetched one after the other:

=================  ====================================================  =====================================
resource           chase part (``OPEN``: open at the snapshot)           history part (``REST``)
=================  ====================================================  =====================================
Contacts           customers                                             customers changed since the snapshot
Invoices           ``Statuses=AUTHORISED,SUBMITTED``                     every other status
CreditNotes        ``Status=="AUTHORISED" AND RemainingCredit > 0``      spent, voided, deleted, draft
Overpayments       the same: not yet allocated                           allocated, voided
Prepayments        the same: not yet allocated                           allocated, voided
Payments           —                                                     every payment
=================  ====================================================  =====================================

Nothing is lost between the parts, however Xero changes while they are read
------------------------------------------------------------------------------
Xero's filters select by a record's *current* status, so a record could move from a partition not read
yet into one already read (an invoice whose payment is deleted goes back from PAID to AUTHORISED after
the chase part was read) and be missed by both. The split therefore takes an instant from Xero's own
clock when the run begins, the *snapshot*, and cuts every resource in two sets that are exact complements
at every moment:

* ``OPEN`` = chased **and** ``UpdatedDateUTC <= snapshot``. A record can only *leave* it (any change in
  Xero moves its ``UpdatedDateUTC`` past the snapshot); nothing can enter it.
* ``REST`` = not chased **or** ``UpdatedDateUTC > snapshot``. A record can only *enter* it: whatever
  leaves ``OPEN``, whatever is created, whatever changes again stays in it.

The chase part reads ``OPEN``, the history part ``REST`` afterwards. A record that changes while the run
reads is therefore always in ``REST`` when the history part reads it, at its newest version then; the
writer keeps the newest of the copies it is given. And because each set only shrinks or only grows, both
are paged in an immutable order (the record's id) and read in the direction that keeps an unchanged record
from being pushed past the reads (:mod:`xero_bridge.domain.paged_reads`), whose ``itemCount`` per read
tells when a page boundary needs a re-read.

An incremental run (a reconnect after a finished sync) reads one ``CHANGES`` partition per resource: what
changed since the resource's cursor (a set that only grows), all in the chase part.

Xero lists ``UpdatedDateUTC`` among neither the optimised ``where`` fields of Invoices nor of Payments: an
organisation above Xero's high-volume thresholds (500,000 invoices) may see the history part refused.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from xero_bridge.domain.import_rules import source_filter
from xero_bridge.models.sync import PAGED_RESOURCES, Part, Share, partition_key

__all__ = [
    "CHASED",
    "ORDER_BY",
    "SNAPSHOT_MARGIN",
    "Partition",
    "full_run_partitions",
    "incremental_run_partitions",
    "partition_query",
    "partitions_of",
    "snapshot_from",
    "xero_datetime",
]

SNAPSHOT_MARGIN = timedelta(seconds=30)
"""Taken off Xero's clock for the snapshot: a change Xero stamps a little behind the clock that answered
(another of its servers) still falls after the snapshot. A record changed within the margin before the run
began is read by the history part: later, never lost."""

ORDER_BY: dict[str, str] = {
    "Contacts": "ContactID",
    "Invoices": "InvoiceID",
    "CreditNotes": "CreditNoteID",
    "Payments": "PaymentID",
    "Overpayments": "OverpaymentID",
    "Prepayments": "PrepaymentID",
}
"""The immutable order every partition is paged in (Xero optimises ordering by these ids): a record that
changes keeps its place, so only records coming or going move the others."""


@dataclass(frozen=True)
class _Chased:
    """What of a resource the AR team chases with: a ``Status`` in ``statuses`` (with open credit)."""

    statuses: tuple[str, ...] = ()
    open_credit: bool = False  # and RemainingCredit > 0
    as_statuses_parameter: bool = False  # sent as Statuses= (Invoices: Xero's optimised filter)
    everything: bool = False  # every record of the resource's source filter (Contacts: customers)

    def where(self) -> str | None:
        """The ``where`` terms of the chased records (None: nothing beyond the source filter)."""
        terms = []
        if self.statuses and not self.as_statuses_parameter:
            terms.append(" OR ".join(f'Status=="{status}"' for status in self.statuses))
        if self.open_credit:
            terms.append("RemainingCredit > 0")
        return " AND ".join(f"({term})" if " OR " in term else term for term in terms) or None

    def negation(self) -> str | None:
        """The ``where`` of the records *not* chased (None: every record is), written out by De Morgan's
        laws rather than with ``NOT``, each ``AND`` group in parentheses."""
        if self.everything:
            return None
        terms = []
        if self.statuses:
            terms.append(" AND ".join(f'Status!="{status}"' for status in self.statuses))
        if self.open_credit:
            terms.append("RemainingCredit <= 0")
        return " OR ".join(f"({term})" if " AND " in term else term for term in terms)


CHASED: dict[str, _Chased] = {
    "Contacts": _Chased(everything=True),
    "Invoices": _Chased(statuses=("AUTHORISED", "SUBMITTED"), as_statuses_parameter=True),
    "CreditNotes": _Chased(statuses=("AUTHORISED",), open_credit=True),
    "Overpayments": _Chased(statuses=("AUTHORISED",), open_credit=True),
    "Prepayments": _Chased(statuses=("AUTHORISED",), open_credit=True),
}
"""Per resource, what the chase part reads (as it stood at the snapshot); Payments are all history."""


@dataclass(frozen=True)
class Partition:
    """One resource's share read in one part of a run."""

    resource: str
    part: Part
    share: Share

    @property
    def key(self) -> str:
        return partition_key(self.resource, self.part)


def full_run_partitions() -> tuple[Partition, ...]:
    """A full run's partitions: the chase part's (``OPEN``), then the history part's (``REST``)."""
    chase = tuple(Partition(r, Part.CHASE, Share.OPEN) for r in PAGED_RESOURCES if r in CHASED)
    history = tuple(Partition(r, Part.HISTORY, Share.REST) for r in PAGED_RESOURCES)
    return chase + history


def incremental_run_partitions() -> tuple[Partition, ...]:
    """An incremental run's partitions: every change since the cursors, in the chase part."""
    return tuple(Partition(r, Part.CHASE, Share.CHANGES) for r in PAGED_RESOURCES)


def partitions_of(partitions: Sequence[Partition], part: Part) -> list[Partition]:
    return [p for p in partitions if p.part == part]


def snapshot_from(server_time: datetime) -> datetime:
    """The run's snapshot: Xero's clock less :data:`SNAPSHOT_MARGIN`, in whole seconds (as ``where`` has)."""
    return (server_time.astimezone(UTC) - SNAPSHOT_MARGIN).replace(microsecond=0)


def xero_datetime(value: datetime) -> str:
    """An instant as ``where`` writes it: ``DateTime(2026, 11, 21, 10, 0, 0)`` (UTC, whole seconds)."""
    return value.astimezone(UTC).strftime("DateTime(%Y, %m, %d, %H, %M, %S)")


def partition_query(
    partition: Partition, *, snapshot_at: datetime | None, modified_since: datetime | None = None
) -> dict[str, Any]:
    """The keyword arguments of ``list_page`` that read ``partition``: filters, order, If-Modified-Since.

    Parameters
    ----------
    partition
        The partition.
    snapshot_at
        The run's snapshot (whole seconds); required by ``OPEN`` and ``REST``.
    modified_since
        The resource's cursor (``CHANGES``).

    Raises
    ------
    ValueError
        An ``OPEN`` or ``REST`` partition without a snapshot, or an ``OPEN`` one of a resource not chased.
    """
    resource = partition.resource
    if partition.share is Share.CHANGES:
        query = dict(source_filter(resource, incremental=modified_since is not None))
        if modified_since is not None:
            query["if_modified_since"] = modified_since
        return query | {"order": ORDER_BY[resource]}
    if snapshot_at is None:
        raise ValueError(f"{partition.key} is read against the run's snapshot, and the run has none")
    at = xero_datetime(snapshot_at)
    base = source_filter(resource, incremental=partition.share is Share.REST)
    terms = [f"({base['where']})"] if base.get("where") else []
    query = {k: v for k, v in base.items() if k != "where"}
    chased = CHASED.get(resource)
    if partition.share is Share.OPEN:
        if chased is None:
            raise ValueError(f"nothing of {resource} is chased: it has no open share")
        if chased.as_statuses_parameter:
            query["statuses"] = list(chased.statuses)
        if chased.where():
            terms.append(chased.where() or "")
        terms.append(f"UpdatedDateUTC <= {at}")
    elif chased is not None:  # a resource nothing of which is chased is all history: no more terms
        negation = chased.negation()
        terms.append(f"({negation} OR UpdatedDateUTC > {at})" if negation else f"UpdatedDateUTC > {at}")
    return query | {"where": " AND ".join(terms), "order": ORDER_BY[resource]}
