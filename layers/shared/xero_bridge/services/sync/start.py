"""Start a sync of an org's connected tenant, resume its failed run, or report the one running."""

from __future__ import annotations

from xero_bridge.domain.executions import execution_name, new_run_id
from xero_bridge.errors import NotConnectedError
from xero_bridge.models.connection import ConnectionStatus
from xero_bridge.models.sync import SyncRequest, SyncRun, SyncStarted, SyncStatus, SyncTrigger
from xero_bridge.services.ports import Clock, ConnectionStore, RunStore, SyncMachine, utc_now

__all__ = ["StartSync", "run_execution_name"]


def run_execution_name(run_id: str, attempt: int) -> str:
    """The execution of attempt ``attempt`` of a run (a resume is the next attempt)."""
    return execution_name("sync", run_id, f"a{attempt}")


class StartSync:
    """``POST /orgs/{org_id}/sync``: a new run (a full re-sync), or the failed one taken up again.

    Parameters
    ----------
    runs
        Sync runs.
    machine
        The initial-sync state machine.
    connections
        The org's Xero connection.
    clock
        Aware-UTC clock.
    """

    def __init__(
        self, *, runs: RunStore, machine: SyncMachine, connections: ConnectionStore, clock: Clock = utc_now
    ) -> None:
        self._runs = runs
        self._machine = machine
        self._connections = connections
        self._now = clock

    def start(self, org_id: str, *, resume: bool, trigger: SyncTrigger | None = None) -> SyncStarted:
        """Start a sync of the org's connected tenant, or report the one already running.

        Parameters
        ----------
        org_id
            The AR organisation.
        resume
            Take the latest run up again if it failed or was interrupted (its finished pages are skipped);
            otherwise start a new run (a full re-sync) unless one is running.
        trigger
            What asked for it (``manual`` by default).

        Returns
        -------
        SyncStarted
            The run, its execution, and whether it was resumed or already running.

        Raises
        ------
        NotConnectedError
            The org has no connected Xero tenant.
        """
        connection = self._connections.get_connection(org_id)
        if connection is None or connection.status != ConnectionStatus.CONNECTED:
            raise NotConnectedError(f"org {org_id} has no connected Xero organisation", org_id=org_id)
        tenant_id = connection.tenant_id
        latest = self._runs.latest_run(org_id)
        if latest is not None and latest.status.active and self._still_running(latest):
            return SyncStarted(
                org_id=org_id,
                run_id=latest.run_id,
                execution_arn=latest.execution_arn or "",
                status=latest.status,
                already_running=True,
            )
        if (
            resume
            and latest is not None
            and latest.status != SyncStatus.FINISHED
            and latest.tenant_id == tenant_id
        ):
            return self._resume(latest)
        now = self._now()
        run = SyncRun(
            org_id=org_id,
            run_id=new_run_id(now),
            tenant_id=tenant_id,
            status=SyncStatus.PLANNING,
            trigger=trigger or SyncTrigger.MANUAL,
            started_at=now,
        )
        self._runs.create_run(run)
        arn = self._start_execution(run, 1, run.trigger)
        return SyncStarted(org_id=org_id, run_id=run.run_id, execution_arn=arn, status=SyncStatus.PLANNING)

    def _resume(self, latest: SyncRun) -> SyncStarted:
        attempt = latest.attempt + 1
        if not self._runs.restart_run(
            latest.org_id, latest.run_id, attempt=attempt, trigger=SyncTrigger.RESUME
        ):
            # Another request restarted it first: report that one.
            current = self._runs.get_run(latest.org_id, latest.run_id) or latest
            return SyncStarted(
                org_id=current.org_id,
                run_id=current.run_id,
                execution_arn=current.execution_arn or "",
                status=current.status,
                resumed=True,
                already_running=True,
            )
        arn = self._start_execution(latest, attempt, SyncTrigger.RESUME)
        return SyncStarted(
            org_id=latest.org_id,
            run_id=latest.run_id,
            execution_arn=arn,
            status=SyncStatus.PLANNING,
            resumed=True,
        )

    def _start_execution(self, run: SyncRun, attempt: int, trigger: SyncTrigger) -> str:
        request = SyncRequest(org_id=run.org_id, tenant_id=run.tenant_id, run_id=run.run_id, trigger=trigger)
        arn = self._machine.start(run_execution_name(run.run_id, attempt), request.as_input())
        self._runs.set_execution(run.org_id, run.run_id, arn)
        return arn

    def _still_running(self, run: SyncRun) -> bool:
        # A run marked active whose execution stopped (aborted, timed out) is not running: it may be resumed.
        if not run.execution_arn:
            return True
        return self._machine.is_running(run.execution_arn)
