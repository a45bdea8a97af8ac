"""The initial sync (C4), one module per step; the Step Functions machine calls one step per task::

    Plan ──► done? ──► Finish ⟲ Wait ──► Done
     ▲         └─► Map(pages, MaxConcurrency 5: FetchPage ─► paused? Wait ─► FetchPage) ─┐
     └──────────────────────────────────────────────────────────────────────────────────────┘
      └──────────────── any error ──► RecordFailure ──► Fail

=================  ==================  ==================================================================
module             use case            function (task)
=================  ==================  ==================================================================
:mod:`.start`      :class:`StartSync`    integration API (``POST /orgs/{org_id}/sync``)
:mod:`.plan`       :class:`PlanSync`     ``sync_planner`` (Plan)
:mod:`.fetch_page` :class:`FetchPage`    ``page_fetcher`` (FetchPage)
:mod:`.finish`     :class:`FinishSync`,  ``sync_finisher`` (Finish, RecordFailure)
                   :class:`RecordSyncFailure`
:mod:`.progress`   :class:`SyncProgressQuery`  integration API (``GET /orgs/{org_id}/sync``)
=================  ==================  ==================================================================

Chase-ready first
-----------------
A run reads in two parts (:mod:`xero_bridge.domain.partitions`): first what the AR team chases with —
customers, outstanding invoices, open credit notes, unallocated overpayments and prepayments, the bank
accounts — then the history (paid, voided, deleted and draft documents, every payment) and every change
made in Xero since the run's snapshot. The planner hands out the chase part's pages, and only once every one
was read (and checked) the history part's; the moment the chase part is written is the run's
``chase_ready_at`` (:mod:`xero_bridge.services.chase_ready`, recorded by whichever of the planner and the
writer sees it last).

How the run stays at Xero's call floor and loses nothing
---------------------------------------------------------
* Planning costs no extra call: page 1 of each partition, asked with ``pageSize=1000`` and its filters,
  both tells the page count (Xero's ``pagination`` envelope) and *is* page 1's data, which the planner
  publishes and checkpoints exactly as the page fetcher would. The plan is stored on the run, partition by
  partition, so a retried planner or a resumed run asks Xero nothing it already knows; a resumed run whose
  chase part was read goes straight on with the history part. Splitting a resource in two costs at most
  one call more than reading it whole (its two last pages may each be part-full).
* The two partitions of a resource are exact complements at every moment, one only shrinking and one only
  growing while read; each read's ``itemCount`` tells whether records moved across a page boundary
  between two reads, and only then is the page beside it read again (:mod:`xero_bridge.domain.paged_reads`).
* A page is checkpointed only after every one of its records was accepted by the writes queue (the shared
  step :mod:`xero_bridge.services.publish_records`); a fetcher that dies half way is retried, re-fetches
  and re-sends the page, and the writer's conditional upserts make the duplicates harmless. A page already
  checkpointed in the run is skipped without a call.
* The page count is read from ``pagination`` (a server may serve 100 per page whatever was asked); with no
  envelope at all, the pages after page 1 are read one after another until a short or empty page (the
  "tail": each fetch of a full page asks the machine for the next one).
* Every HTTP attempt holds a slot of the shared per-tenant rate limiter; a spent daily limit pauses the
  run (the fetcher returns ``paused`` with the reset time and the machine waits) instead of failing it.
"""
