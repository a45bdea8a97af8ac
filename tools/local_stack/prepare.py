"""``make invoke ... PREPARE=1``: the state an initial-sync task's event names, prepared on the fresh stack.

The Step Functions task events (``events/sync_planner``, ``events/page_fetcher``, ``events/sync_finisher``)
name an org, its Xero tenant and a sync run. A fresh stack holds none of them, so without preparation the
function answers with the named error the state machine's Retry/Catch expects (``NeedsReconnect``,
``SyncRunNotFoundError``). With ``--prepare``, before the event is invoked:

1. the Xero emulator starts in this process with the event's tenant as an organisation (a customer and
   1,050 open sales invoices: two pages of the chase part's Invoices at Xero's 1,000 a page; 3 drafts for
   the history part), and the stack's Xero URLs point at it;
2. the event's org is connected to that tenant as ``/callback`` connects it: a real code from the
   emulator's consent screen, exchanged for tokens, stored encrypted with the stack's KMS key;
3. for the page fetcher, the planner's next pass and the finisher, the event's run is planned
   (``sync_planner`` invoked with the run's id, as the state machine does); for the next pass the first
   pass's pages are fetched (``page_fetcher``), for the finisher every pass's until the planner is done;
   the writes queue is drained into RecordsTable by the writer, as its SQS poller would.

Then the event runs: the planner plans (or plans its next part), the page fetcher fetches page 2 (or finds
page 1 done: no call), the finisher finishes the run. What was prepared is printed on stderr.
"""

from __future__ import annotations

import secrets
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlparse

if TYPE_CHECKING:
    from tools.local_stack import LocalStack
    from xero_emulator.server import Emulator

CLIENT_ID = "xero-bridge-local"  # the template's local defaults, the emulator's too
CLIENT_SECRET = "local-client-secret"
REDIRECT_URI = "http://127.0.0.1:3000/callback"
INVOICES = 1_050  # two pages of Invoices at Xero's 1,000 a page
DRAFTS = 3  # not chased: the history part's
DEFAULT_TENANT = "7c1a9f5e-2b64-4d3a-9c1e-3f0b8a6d2e41"  # the events' tenant, when an event names none
#: Functions whose events name a sync run, and what each needs before its event.
SYNC_TASKS = {
    "SyncPlannerFunction": "connected",
    "PageFetcherFunction": "planned",
    "SyncFinisherFunction": "fetched",
}


@dataclass(frozen=True)
class SyncTask:
    """What an initial-sync task's event names."""

    org_id: str
    tenant_id: str
    run_id: str

    @classmethod
    def of(cls, event: Any) -> SyncTask | None:
        if not isinstance(event, dict):
            return None
        for part in (event, event.get("sync"), event.get("state")):
            if isinstance(part, dict) and part.get("org_id") and part.get("tenant_id"):
                run_id = event.get("run_id") or event.get("execution_name") or part.get("run_id")
                if run_id:
                    return cls(str(part["org_id"]), str(part["tenant_id"]), str(run_id))
        if event.get("org_id") and event.get("run_id"):  # the finisher's finish: no tenant named
            return cls(str(event["org_id"]), "", str(event["run_id"]))
        return None


def _say(text: str) -> None:
    print(f"prepare: {text}", file=sys.stderr, flush=True)


@contextmanager
def xero_for(task: SyncTask) -> Iterator[Emulator]:
    """The emulator, in this process, holding the task's tenant as an organisation with its receivables."""
    from xero_emulator.admin_client import AdminClient
    from xero_emulator.testing import running_emulator

    with running_emulator(seed="none", client_id=CLIENT_ID, client_secret=CLIENT_SECRET) as xero:
        tenant_id = task.tenant_id or DEFAULT_TENANT
        admin = AdminClient(xero.base_url)
        admin.add_tenant("Prepared Receivables Ltd", tenant_id=tenant_id, base_currency="GBP")
        admin.add_account(tenant_id, code="200", name="Sales", type="REVENUE")
        contact = admin.create_contacts(
            tenant_id, {"Contacts": [{"Name": "Boom FM Ltd", "IsCustomer": True}]}
        )
        contact_id = contact["Contacts"][0]["ContactID"]
        today = date.today().isoformat()
        line = {"Description": "Services", "Quantity": 1, "UnitAmount": "100.00", "AccountCode": "200"}
        invoice = {
            "Type": "ACCREC",
            "Contact": {"ContactID": contact_id},
            "Date": today,
            "DueDate": today,
            "Status": "AUTHORISED",
            "LineAmountTypes": "NoTax",
            "LineItems": [line],
        }
        admin.create_invoices(tenant_id, {"Invoices": [invoice] * INVOICES})
        admin.create_invoices(tenant_id, {"Invoices": [{**invoice, "Status": "DRAFT"}] * DRAFTS})
        # Xero's clock moves on: the invoices were last changed before the run's snapshot, so they are open
        # receivables of the chase part (two pages of it), not changes for the history part.
        admin.advance_clock(120)
        _say(
            f"Xero emulator at {xero.base_url}: tenant {tenant_id}, 1 customer, {INVOICES} open and "
            f"{DRAFTS} draft sales invoices"
        )
        yield xero


def xero_parameters(xero: Emulator) -> dict[str, str]:
    base = xero.base_url.rstrip("/")
    return {"XeroLoginUrl": base, "XeroIdentityUrl": base, "XeroApiUrl": base}


def connect(
    stack: LocalStack,
    xero: Any,
    org_id: str,
    *,
    redirect_uri: str = REDIRECT_URI,
    tenant_id: str | None = None,
) -> str:
    """Connect ``org_id`` to ``tenant_id`` (the emulator's first tenant by default) as ``/callback`` would;
    returns the tenant id.

    A real code from the emulator's consent screen (PKCE), exchanged with Xero's OAuth client; the
    connection and its tokens (encrypted with the stack's KMS key) stored through the adapters.
    """
    import httpx

    from xero_bridge.adapters.aws.clients import reset_clients
    from xero_bridge.adapters.aws.connections_table import ConnectionsTable
    from xero_bridge.adapters.aws.token_cipher import KmsTokenCipher
    from xero_bridge.adapters.xero.oauth import XeroEndpoints, XeroOAuthClient, new_pkce_pair
    from xero_bridge.models.connection import ConnectionStatus, StoredTokens, XeroConnection

    reset_clients()  # boto3 clients made now talk to the local stack's moto
    verifier, challenge = new_pkce_pair()
    with httpx.Client(base_url=xero.base_url, follow_redirects=False) as http:
        response = http.get(
            "/identity/connect/authorize",
            params={
                "response_type": "code",
                "client_id": CLIENT_ID,
                "redirect_uri": redirect_uri,
                "scope": "openid profile email offline_access accounting.contacts accounting.transactions "
                "accounting.settings",
                "state": secrets.token_urlsafe(8),
                "code_challenge": challenge,
                "code_challenge_method": "S256",
            },
        )
    if response.status_code != 302:
        raise RuntimeError(f"the emulator's consent screen answered {response.status_code}")
    code = parse_qs(urlparse(response.headers["location"]).query)["code"][0]
    endpoints = XeroEndpoints(xero.base_url, xero.base_url, xero.base_url)
    oauth = XeroOAuthClient(CLIENT_ID, CLIENT_SECRET, redirect_uri, endpoints)
    tokens = oauth.exchange_code(code=code, code_verifier=verifier)
    claims = oauth.claims(tokens.access_token.get_secret_value())
    connections = oauth.connections(
        tokens.access_token.get_secret_value(), auth_event_id=claims.authentication_event_id
    )
    # The consent authorised every tenant at once; Xero lists connections made together in no set order,
    # so the emulator's first tenant (the seed's main organisation) is picked by its id.
    wanted = tenant_id or xero.store.tenant_ids()[0]
    tenant = next(c for c in connections if c.tenant_id == wanted)
    now = datetime.now(UTC)
    cipher = KmsTokenCipher(stack.physical_id("TokenKey"), stack.client("kms"))
    stored = StoredTokens.from_token_set(tokens)
    connection = XeroConnection(
        org_id=org_id,
        tenant_id=tenant.tenant_id,
        tenant_name=tenant.tenant_name,
        status=ConnectionStatus.CONNECTED,
        xero_connection_id=tenant.id,
        scopes=tokens.scopes,
        first_connected_at=now,
        connected_at=now,
        updated_at=now,
    )
    ConnectionsTable(stack.physical_id("ConnectionsTable"), stack.client("dynamodb")).save_connection(
        connection,
        ciphertext=cipher.encrypt(stored, org_id=org_id, tenant_id=tenant.tenant_id),
        access_expires_at=tokens.expires_at,
        now=now,
    )
    return str(tenant.tenant_id)


def _invoke(stack: LocalStack, function: str, event: dict[str, Any]) -> dict[str, Any]:
    result = stack.invoke(function, event)
    if result.error is not None:
        raise RuntimeError(f"{function}: {result.error['errorType']}: {result.error['errorMessage']}")
    return dict(result.payload)


def prepare(stack: LocalStack, xero: Emulator, function: str, task: SyncTask, event: Any) -> None:
    """Bring the fresh stack to the state ``function``'s event expects (see the module's docstring)."""
    need = SYNC_TASKS.get(function)
    if need is None:
        _say(f"{function} needs nothing prepared")
        return
    if isinstance(event, dict) and event.get("action") == "record_failure":
        need = "planned"  # a run that fails is recorded while pages are left
    if (
        function == "SyncPlannerFunction"
        and isinstance(event.get("sync"), dict)
        and event["sync"].get("part")
    ):
        need = "pass_fetched"  # the planner's next pass, after the Map fetched the first pass's pages
    tenant_id = connect(stack, xero, task.org_id, tenant_id=task.tenant_id or None)
    _say(f"org {task.org_id} connected to tenant {tenant_id}")
    if need == "connected":
        return
    sync = {"org_id": task.org_id, "tenant_id": tenant_id, "trigger": "connect"}
    output = _invoke(stack, "SyncPlannerFunction", {"sync": sync, "execution_name": task.run_id})
    _say(f"run {task.run_id} planned: {output.get('part')} part, {len(output['pages'])} page(s) to fetch")
    while need in ("pass_fetched", "fetched") and not output["done"]:
        ids = {"run_id": output["run_id"], "org_id": output["org_id"], "tenant_id": output["tenant_id"]}
        for page in output["pages"]:
            _invoke(stack, "PageFetcherFunction", {**ids, **page})
        _say(f"{len(output['pages'])} page(s) of the {output.get('part')} part fetched")
        if need == "pass_fetched":
            break
        output = _invoke(stack, "SyncPlannerFunction", {"sync": output, "execution_name": task.run_id})
        _say(f"next pass planned: {output.get('part')} part, {len(output['pages'])} page(s) to fetch")
    stack.drain(timeout=120)
    _say("writes queue drained into RecordsTable by the writer")


@contextmanager
def prepared(event: Any) -> Iterator[tuple[SyncTask, Emulator] | None]:
    """The emulator for the event's task (None when the event names no sync run: nothing to prepare)."""
    task = SyncTask.of(event)
    if task is None:
        _say("the event names no sync run: nothing to prepare")
        yield None
        return
    with xero_for(task) as xero:
        yield task, xero
