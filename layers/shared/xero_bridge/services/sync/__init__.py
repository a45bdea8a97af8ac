"""The initial sync (C4), one module per step; the Step Functions machine calls one step per task::

    Plan ──► Map(pages, MaxConcurrency 5: FetchPage ─► paused? Wait ─► FetchPage) ──► Finish ⟲ Wait ──► Done
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

How the run stays at Xero's call floor and loses nothing
---------------------------------------------------------
* Planning costs no extra call: page 1 of each resource, asked with ``pageSize=1000`` and the import rules'
  source filter, both tells the page count (Xero's ``pagination`` envelope) and *is* page 1's data, which
  the planner publishes and checkpoints exactly as the page fetcher would. The plan is stored on the run,
  resource by resource, so a retried planner or a resumed run asks Xero nothing it already knows.
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
