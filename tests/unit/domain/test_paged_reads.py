"""Paged reads of a set that moves while it is read: every record that never changed is read.

A partition is played as Xero pages it (an offset into the records in id order, with the count of that
instant), while records leave it (a shrinking partition) or arrive in it (a growing one) between any two
reads, and the reads of each pass come back in any order (the Map runs five at a time). The planner's rule
(:func:`pages_to_read`) must leave no unchanged record unread, whatever the order and the moves.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

import pytest

from xero_bridge.domain.paged_reads import PageRead, pages_to_read
from xero_bridge.models.sync import PageCheckpoint, Part, PartitionPlan, Share

SIZE = 10


@dataclass
class MovingPartition:
    """Record ids in their (immutable) order; some leave, or new ones arrive, between reads."""

    grows: bool
    rng: random.Random
    ids: list[float] = field(default_factory=list)
    moved: set[float] = field(default_factory=set)

    def read(self, page: int) -> tuple[list[float], int]:
        return self.ids[(page - 1) * SIZE : page * SIZE], len(self.ids)

    def move(self) -> None:
        if self.grows:
            new = self.rng.random()
            self.ids = sorted([*self.ids, new])
            self.moved.add(new)
        elif self.ids:
            self.moved.add(self.ids.pop(self.rng.randrange(len(self.ids))))


def play(seed: int, *, grows: bool, repairs: bool = True) -> tuple[set[float], set[float], int]:
    """Read a moving partition as the planner and the Map do; (unchanged records, records read, passes)."""
    rng = random.Random(seed)
    partition = MovingPartition(
        grows=grows, rng=rng, ids=sorted(rng.random() for _ in range(rng.randint(1, 60)))
    )
    unchanged_at_start = set(partition.ids)
    # Moves between two reads: none, one in five reads, one a read on average (a tenth of a page: far more
    # than an organisation's edits against Xero's pages of 1,000 a second, but it tries every interleaving).
    move_chance = rng.choice([0.0, 0.2, 0.5])
    read: set[float] = set()
    checkpoints: list[PageCheckpoint] = []

    def do(page: PageRead) -> None:
        while rng.random() < move_chance:
            partition.move()
        records, count = partition.read(page.page)
        read.update(records)
        checkpoints.append(
            PageCheckpoint(
                partition="X:chase",
                page=page.page,
                records=len(records),
                is_last=page.page * SIZE >= count,
                item_count=count,
                repair_of=page.repair_of,
            )
        )

    do(PageRead(1))  # the planner's page 1 tells the page count
    first_count = checkpoints[0].item_count or 0
    plan = PartitionPlan(
        resource="X",
        part=Part.CHASE,
        share=Share.REST if grows else Share.OPEN,
        pages_total=max(math.ceil(first_count / SIZE), 1),
        page_size=SIZE,
        item_count=first_count,
    )
    passes = 0
    while True:
        reads = pages_to_read(plan, checkpoints)
        pages = [p for p in reads.pages if repairs or p.repair_of is None]
        if not pages:
            break
        passes += 1
        assert passes < 40, "the reads never settle"
        plan = plan.model_copy(update={"pages_total": reads.pages_total})
        # The Map: the pages handed out, read five at a time, so in a shuffled order near the given one
        order = sorted(range(len(pages)), key=lambda i: i + rng.uniform(-2.5, 2.5))
        for i in order:
            do(pages[i])
    return unchanged_at_start - partition.moved, read, passes


@pytest.mark.parametrize("grows", [False, True], ids=["shrinking", "growing"])
def test_every_unchanged_record_is_read_whatever_moves_and_whatever_the_order(grows: bool) -> None:
    rereads = 0
    for seed in range(400):
        unchanged, read, passes = play(seed, grows=grows)
        missed = unchanged - read
        assert not missed, f"seed {seed}: {len(missed)} unchanged records never read"
        rereads += passes > 1
    assert rereads > 20  # the scenarios do move records across page boundaries, and get them back


@pytest.mark.parametrize("grows", [False, True], ids=["shrinking", "growing"])
def test_without_the_rereads_the_same_scenarios_lose_records(grows: bool) -> None:
    # The check above can fail: reading only the planned pages (and, growing, the pages it grew into)
    # misses unchanged records in some of the same scenarios.
    lost = sum(
        bool(unchanged - read)
        for unchanged, read, _ in (play(s, grows=grows, repairs=False) for s in range(400))
    )
    assert lost > 0


def test_nothing_moved_means_no_reread_and_pages_in_the_safe_order() -> None:
    shrinking = PartitionPlan(resource="X", part=Part.CHASE, share=Share.OPEN, pages_total=4, page_size=10)
    growing = shrinking.model_copy(update={"share": Share.REST})
    page_1 = PageCheckpoint(partition="X:chase", page=1, records=10, is_last=False, item_count=35)
    # the planned pages: a shrinking partition from its last page down, a growing one from page 2 up
    assert [r.page for r in pages_to_read(shrinking, [page_1]).pages] == [4, 3, 2]
    assert [r.page for r in pages_to_read(growing, [page_1]).pages] == [2, 3, 4]
    # every page saw the same count: nothing moved, nothing to read again
    same = [page_1.model_copy(update={"page": n}) for n in range(1, 5)]
    assert pages_to_read(shrinking, same).pages == () and pages_to_read(growing, same).pages == ()


def test_a_boundary_is_read_again_on_the_side_records_moved_to() -> None:
    plan = PartitionPlan(resource="X", part=Part.CHASE, share=Share.OPEN, pages_total=3, page_size=10)
    counts = {1: 25, 2: 25, 3: 23}  # two records left after page 2 was read and before page 3
    done = [
        PageCheckpoint(partition="X:chase", page=n, records=10, is_last=n == 3, item_count=c)
        for n, c in counts.items()
    ]
    # page 2 was read before page 3 and members left between: page 3's first records may have moved up
    assert pages_to_read(plan, done).pages == (PageRead(2, repair_of=2),)
    # a re-read that saw no more than a page of records move covers it
    reread = PageCheckpoint(
        partition="X:chase", page=2, records=10, is_last=False, item_count=22, repair_of=2
    )
    assert pages_to_read(plan, [*done, reread]).pages == ()
    # growing, the other way: page 3 read before page 2 while members arrived: read page 3 again
    growing = plan.model_copy(update={"share": Share.REST})
    grown = [c.model_copy(update={"item_count": {1: 22, 2: 25, 3: 23}[c.page]}) for c in done]
    assert pages_to_read(growing, grown).pages == (PageRead(3, repair_of=2),)
