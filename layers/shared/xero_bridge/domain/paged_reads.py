"""Which pages of a partition are left to read, so that no record is lost while Xero changes under the reads.

Xero pages by offset. When a record leaves the set a partition reads, every record after it moves up one
place; when one arrives, every record after it moves down one. A record that never changed can so cross a
page boundary between the reads of the two pages beside it and be on neither page when each was read.

The partitions of :mod:`xero_bridge.domain.partitions` make that rare and detectable, at no call when
nothing moved:

* each is paged in an immutable order (the record's id), and its membership only ever *shrinks*
  (``OPEN``) or only ever *grows* (``REST``, ``CHANGES``) while it is read, so an unchanged record only
  moves up (towards page 1) in a shrinking partition and only down in a growing one;
* every read tells the partition's size at that instant (``pagination.itemCount``), and because the size
  only moves one way, the counts of two reads also say which came first and how many records moved between
  them.

An unchanged record *r* missed by every page read must have crossed a boundary between the reads of the two
pages around it, in the direction its partition moves records. Between pages *p* and *p + 1* that can only
happen when page *p* saw more members than page *p + 1* (``N_p > N_(p+1)``): in a shrinking partition page
*p* was then read first and members left in between; in a growing one page *p + 1* was read first and
members arrived. Such a boundary is *risky*, and *r* is within the records that moved since: a re-read of
the page on the side *r* moved to (*p* when shrinking, *p + 1* when growing) finds it, or, when more than a
page of records moved, the re-reads go on page after page in the same direction until they cover all that
moved (each later re-read sees at least as much movement as the one before, so the reads cannot step over
*r*: see ``tests/unit/domain/test_paged_reads.py``, which plays every order of reads against a moving set).

Pages are handed out in the order that makes a boundary rarely risky: a shrinking partition from its last
page down (page 1, read by the planner first, is the exception, so its boundary with page 2 is risky
whenever anything left the partition during the part), a growing one from page 1 up. A growing partition
whose count passed its planned pages is read further, page after page, until a read sees it end.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from xero_bridge.models.sync import PageCheckpoint, PartitionPlan

__all__ = ["PageRead", "Reads", "pages_to_read"]


@dataclass(frozen=True)
class PageRead:
    """A page to read: a planned page, a page past the planned ones, or a re-read across a boundary."""

    page: int
    repair_of: int | None = None


@dataclass(frozen=True)
class Reads:
    """What is left to read of a partition, and its page count as now known."""

    pages: tuple[PageRead, ...]
    pages_total: int


def pages_to_read(plan: PartitionPlan, done: Iterable[PageCheckpoint]) -> Reads:
    """The reads left of a partition with a pagination envelope, given the reads done.

    Parameters
    ----------
    plan
        The partition's plan (``pages_total`` known, ``page_size`` as Xero served it, ``grows``).
    done
        The checkpoints of the partition's reads so far (pages and re-reads).

    Returns
    -------
    Reads
        First the planned pages not read yet (in the order that keeps boundaries safe); once all are read,
        the pages a growing partition has grown into; then the re-reads of risky boundaries; nothing when
        every unchanged record is accounted for.
    """
    if plan.pages_total is None:
        raise ValueError(f"{plan.key} has no pagination envelope: it is read as a tail")
    pages: dict[int, PageCheckpoint] = {}
    repairs: dict[int, list[PageCheckpoint]] = {}
    for checkpoint in done:
        if checkpoint.repair_of is None:
            pages[checkpoint.page] = checkpoint
        else:
            repairs.setdefault(checkpoint.repair_of, []).append(checkpoint)
    planned = max(plan.pages_total, 1)
    missing = [n for n in range(1, planned + 1) if n not in pages]
    if missing:
        return Reads(tuple(PageRead(n) for n in sorted(missing, reverse=not plan.grows)), planned)
    size = plan.page_size
    last_page = max(pages)
    if plan.grows:
        seen = [c.item_count for c in (*pages.values(), *(r for rs in repairs.values() for r in rs))]
        largest = max((n for n in seen if n is not None), default=0)
        needed = math.ceil(largest / size)
        if needed > last_page:  # it grew past the pages read: read on until a read sees it end
            return Reads(tuple(PageRead(n) for n in range(last_page + 1, needed + 1)), needed)
    risky = tuple(
        p
        for p in range(1, last_page)
        if (before := pages[p].item_count) is not None
        and (after := pages[p + 1].item_count) is not None
        and before > after
    )
    reads = []
    for boundary in risky:
        next_read = _next_repair(plan, pages, boundary, repairs.get(boundary, []))
        if next_read is not None:
            reads.append(PageRead(next_read, repair_of=boundary))
    return Reads(tuple(reads), last_page)


def _next_repair(
    plan: PartitionPlan, pages: dict[int, PageCheckpoint], boundary: int, made: list[PageCheckpoint]
) -> int | None:
    """The next page to re-read for ``boundary`` (None: the re-reads made cover everything that moved).

    The re-reads go away from the boundary in the direction records move: pages ``boundary``,
    ``boundary - 1``... in a shrinking partition, ``boundary + 1``, ``boundary + 2``... in a growing one.
    They cover what moved once ``k`` re-reads span at least as many records as the counts say moved
    between the boundary's earlier read and the last re-read.
    """
    size = plan.page_size
    step = 1 if plan.grows else -1
    first = boundary + 1 if plan.grows else boundary
    if made:
        last = max(made, key=lambda c: c.page * step)
        if last.item_count is None:
            return None  # no count to judge by: nothing more can be learnt by reading on
        if plan.grows:
            moved = last.item_count - (pages[boundary + 1].item_count or 0)
        else:
            moved = (pages[boundary].item_count or 0) - last.item_count
        if size * len(made) >= moved:
            return None
    following = first + step * len(made)
    return following if following >= 1 else None
