"""The emulator's HTTP server: Xero's login, identity and API paths on one local host.

Point a client's three base URLs (login, identity, API) at :attr:`Emulator.base_url` and Xero's own SDKs
work unchanged: ``/identity/connect/authorize``, ``/connect/token``, ``/connect/revocation``,
``/connections``, ``/api.xro/2.0/<Resource>``. The test and demo controls live under ``/__admin/``
(:mod:`xero_emulator.admin`).

An API call goes: bearer token (401) -> tenant connection and user (403) -> scope (403) -> rate limits
(429) -> injected faults -> Idempotency-Key -> the store. Data lives in :class:`XeroStore`; this module
only speaks HTTP. The store is called under one lock, so its code needs no thread-safety of its own.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterable
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from xero_emulator import xero_json, xero_xml
from xero_emulator.clock import Clock
from xero_emulator.config import EmulatorConfig
from xero_emulator.errors import EmulatorError, NotFound
from xero_emulator.faults import Fault, FaultBook
from xero_emulator.httputil import json_response, parse_if_modified_since, problem, validation_error
from xero_emulator.idempotency import MAX_KEY_LENGTH, IdempotencyStore, KeyReusedError
from xero_emulator.oauth import (
    AuthorizeError,
    BearerError,
    BearerIdentity,
    Consent,
    IdentityService,
    OAuthError,
    TenantDirectory,
)
from xero_emulator.ratelimit import CallStats, LimitSettings, RateLimiter
from xero_emulator.store import ROUTES as STORE_ROUTES
from xero_emulator.webhooks import WebhookDispatcher

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIEnvironment

    from xero_emulator.store import XeroStore

log = logging.getLogger("xero_emulator")

API_PREFIX = "/api.xro/2.0/"
#: Every resource name routed (Xero's paths are case-insensitive) -> canonical name: the store's, with the
#: aliases real clients use (``Organisations``), and two whose scope is checked although the emulator holds
#: no data for them (they answer 404 after the scope check).
RESOURCES = STORE_ROUTES | {name.lower(): name for name in ("TaxRates", "BankTransactions")}
_WRITABLE = {"Contacts", "Invoices", "Payments"}


class _DropConnectionError(Exception):
    """Raised inside a request to close the socket without any answer."""


class _QuietHandler(WSGIRequestHandler):
    """Logs ``METHOD path status`` only: never a query string, header or body (they can carry secrets)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = self.path.split("?", 1)[0]
        log.debug("%s %s %s", self.command, path, code)

    def log_error(self, format: str, *args: Any) -> None:
        log.debug("connection: " + format, *args)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug(format, *args)


def _flag(value: str | None, default: bool = False) -> bool:
    if value is None or value == "":
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _split(value: str | None) -> list[str] | None:
    if not value:
        return None
    return [part.strip() for part in value.split(",") if part.strip()]


class Emulator:
    """One emulated Xero: store, clock, identity, limits, faults, idempotency, webhooks, HTTP server."""

    def __init__(self, config: EmulatorConfig | None = None, *, store: XeroStore | None = None) -> None:
        from xero_emulator.admin import AdminApi

        self.config = config or EmulatorConfig()
        self.clock = Clock(scale=self.config.clock_scale)
        if store is None:
            from xero_emulator.store import XeroStore

            store = XeroStore(self.clock)
        self.store: XeroStore = store
        self.store_lock = threading.RLock()
        self.identity = IdentityService(
            self.config,
            self.clock,
            TenantDirectory(
                tenant_ids=self._tenant_ids,
                tenant_name=self._tenant_name,
                has_tenant=self._has_tenant,
                user_role=self._user_role,
                ensure_user=self._ensure_user,
            ),
        )
        cfg = self.config
        self.limiter = RateLimiter(
            LimitSettings(
                enforce=cfg.enforce_rate_limits,
                minute=cfg.minute_limit,
                day=cfg.day_limit,
                concurrent=cfg.concurrent_limit,
                app_minute=cfg.app_minute_limit,
            ),
            self.clock.timestamp,
        )
        self.stats = CallStats()
        self.faults = FaultBook()
        self.idempotency = IdempotencyStore(cfg.idempotency_window_seconds, self.clock.timestamp)
        self._base_url = "http://127.0.0.1"
        self.webhooks = WebhookDispatcher(cfg, self.clock, lambda: self._base_url, self._event_data)
        self.seed(cfg.seed, rng_seed=cfg.rng_seed)
        self.store.subscribe(self.webhooks.on_change)
        self.admin = AdminApi(self)
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle -----------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self._base_url

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve in a background thread; returns the base URL (``http://127.0.0.1:<port>``)."""
        if self._server is not None:
            return self._base_url
        server = make_server(host, port, self.wsgi_app, threaded=True, request_handler=_QuietHandler)
        server.daemon_threads = True  # type: ignore[attr-defined]
        self._server = server
        self._base_url = f"http://{host}:{server.server_port}"
        self.identity.issuer = self._base_url
        self.webhooks.start()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="xero-emulator-http",
            daemon=True,
        )
        self._thread.start()
        return self._base_url

    def stop(self) -> None:
        self.webhooks.stop()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Emulator:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- store access (one lock) ---------------------------------------------------------------------

    @contextmanager
    def locked_store(self) -> Any:
        with self.store_lock:
            yield self.store

    def seed(self, profile: str, *, rng_seed: int = 7) -> list[str]:
        """Load a seed profile without sending webhooks for it (it is the organisation's history)."""
        if profile in ("", "none"):
            return []
        from xero_emulator.seed import seed

        with self.store_lock, self.webhooks.muted():
            return seed(self.store, profile, rng_seed=rng_seed)

    def reset(self) -> None:
        """Empty everything: data, tokens and connections, limits, stats, faults, idempotency, webhooks."""
        with self.store_lock, self.webhooks.muted():
            self.store.reset()
        self.identity.reset()
        self.limiter.reset()
        self.stats.reset()
        self.faults.clear()
        self.idempotency.reset()
        self.webhooks.reset()

    def _tenant_ids(self) -> list[str]:
        with self.store_lock:
            return list(self.store.tenant_ids())

    def _tenant_name(self, tenant_id: str) -> str:
        with self.store_lock:
            return self.store.tenant_name(tenant_id)

    def _has_tenant(self, tenant_id: str) -> bool:
        with self.store_lock:
            return self.store.has_tenant(tenant_id)

    def _user_role(self, tenant_id: str, user_id: str) -> str | None:
        with self.store_lock:
            return self.store.user_role(tenant_id, user_id)

    def _ensure_user(self, tenant_id: str, consent: Consent) -> None:
        with self.store_lock:
            role = self.store.user_role(tenant_id, consent.user_id)
            if role is None:
                self.store.add_user(
                    tenant_id,
                    user_id=consent.user_id,
                    email=consent.email,
                    first_name=consent.first_name,
                    last_name=consent.last_name,
                    role=consent.role,
                )
            elif role != consent.role:
                self.store.set_user_role(tenant_id, consent.user_id, consent.role)

    def _event_data(self, tenant_id: str, resource: str, resource_id: str) -> dict[str, Any] | None:
        try:
            with self.store_lock:
                body = self.store.get_resource(tenant_id, resource, resource_id)
        except EmulatorError:
            return None
        records = body.get(resource) or []
        if not records:
            return None
        return {"Type": records[0].get("Type"), "Status": records[0].get("Status")}

    # --- WSGI ----------------------------------------------------------------------------------------

    def wsgi_app(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        request = Request(environ)
        try:
            response = self.dispatch(request)
        except _DropConnectionError:
            _drop(environ)
            response = Response(b"", status=500)
        except Exception:  # a bug in the emulator must still answer, like Xero's 500
            log.exception("emulator error on %s %s", request.method, request.path)
            response = json_response(problem(500, "Internal Server Error", "emulator error"), 500)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        path = request.path
        lower = path.lower()
        if lower.startswith("/__admin/") or lower == "/__admin":
            return self.admin.handle(request)
        if lower.startswith(API_PREFIX):
            return self._api(request)
        fault = self.faults.take(request.method, path, None)
        if fault is not None:
            early = self._apply_fault(fault)
            if early is not None:
                return early
        method = request.method
        if lower == "/identity/connect/authorize" and method == "GET":
            return self._authorize(request)
        if lower == "/connect/token" and method == "POST":
            return self._token(request)
        if lower == "/connect/revocation" and method == "POST":
            return self._revocation(request)
        if lower in ("/connections", "/connections/"):
            if method == "GET":
                return self._connections(request)
        elif lower.startswith("/connections/") and method == "DELETE":
            return self._delete_connection(request, _as_guid(path.split("/")[2]) or "")
        if lower == "/.well-known/openid-configuration":
            return json_response(self.identity.openid_configuration())
        if lower == "/.well-known/openid-configuration/jwks":
            return json_response(self.identity.jwks())
        return Response(NotFound().text, status=404, content_type="text/plain; charset=utf-8")

    # --- identity ------------------------------------------------------------------------------------

    def _authorize(self, request: Request) -> Response:
        try:
            location = self.identity.authorize(request.args.to_dict())
        except AuthorizeError as exc:
            html = f"<html><body><h1>Error</h1><p>{exc.error}</p><p>{exc.description}</p></body></html>"
            return Response(html, status=400, content_type="text/html; charset=utf-8")
        return Response("", status=302, headers={"Location": location})

    def _token(self, request: Request) -> Response:
        try:
            body = self.identity.token(request.form.to_dict(), request.headers.get("Authorization"))
        except OAuthError as exc:
            return json_response(exc.body(), exc.status, {"Cache-Control": "no-store"})
        return json_response(body, 200, {"Cache-Control": "no-store", "Pragma": "no-cache"})

    def _revocation(self, request: Request) -> Response:
        try:
            self.identity.revoke(request.form.to_dict(), request.headers.get("Authorization"))
        except OAuthError as exc:
            return json_response(exc.body(), exc.status)
        return Response(b"", status=200)

    def _bearer(self, request: Request) -> BearerIdentity:
        return self.identity.verify_bearer(request.headers.get("Authorization"))

    def _connections(self, request: Request) -> Response:
        try:
            identity = self._bearer(request)
        except BearerError as exc:
            return _bearer_error(exc)
        auth_event_id = request.args.get("authEventId") or request.args.get("autheventid")
        return json_response(self.identity.connections_for(identity, auth_event_id))

    def _delete_connection(self, request: Request, connection_id: str) -> Response:
        try:
            identity = self._bearer(request)
        except BearerError as exc:
            return _bearer_error(exc)
        if not self.identity.delete_connection(identity, connection_id):
            return Response(NotFound().text, status=404, content_type="text/plain; charset=utf-8")
        return Response(b"", status=204)

    # --- accounting API ------------------------------------------------------------------------------

    def _api(self, request: Request) -> Response:
        method = request.method.upper()
        segments = [s for s in request.path[len(API_PREFIX) :].split("/") if s]
        resource = RESOURCES.get(segments[0].lower()) if segments else None
        tenant_id = _as_guid(request.headers.get("xero-tenant-id"))
        try:
            identity = self._bearer(request)
            self.identity.check_tenant(identity, tenant_id)
            if resource is not None:
                self.identity.check_scope(identity, resource, write=method in ("PUT", "POST"))
        except BearerError as exc:
            return _bearer_error(exc)
        assert tenant_id is not None
        stats_path = (
            API_PREFIX
            + (resource or (segments[0] if segments else ""))
            + ("/{id}" if len(segments) > 1 else "")
        )
        decision = self.limiter.acquire(tenant_id)
        if not decision.allowed:
            self.stats.record(tenant_id, method, stats_path, 429, decision.problem)
            headers = dict(decision.headers)
            headers["Retry-After"] = str(decision.retry_after)
            headers["X-Rate-Limit-Problem"] = str(decision.problem)
            return json_response(
                problem(429, "Too Many Requests", f"Rate limit exceeded ({decision.problem})"), 429, headers
            )
        response: Response | None = None
        problem_name: str | None = None
        try:
            fault = self.faults.take(method, request.path, tenant_id)
            if fault is not None:
                response = self._apply_fault(fault)
                if fault.kind == "rate_limit":
                    problem_name = fault.problem
            if response is None:
                response = self._api_call(request, method, resource, segments, tenant_id)
                after = (
                    self.faults.take(method, request.path, tenant_id, "after")
                    if self.faults.has_after()
                    else None
                )
                if after is not None:
                    self.stats.record(
                        tenant_id, method, stats_path, 0 if after.kind == "drop" else after.status
                    )
                    if after.kind == "drop":
                        raise _DropConnectionError
                    return json_response(
                        problem(after.status, "Internal Server Error", "injected fault"), after.status
                    )
        finally:
            self.limiter.release(tenant_id)
        for name, value in decision.headers.items():
            response.headers.setdefault(name, value)
        self.stats.record(tenant_id, method, stats_path, response.status_code, problem_name)
        return response

    def _apply_fault(self, fault: Fault) -> Response | None:
        """Act out a ``before`` fault: a response to send instead, ``None`` to go on, or a dropped socket."""
        if fault.kind == "slow":
            time.sleep(fault.delay_ms / 1000)
            return None
        if fault.kind == "drop":
            raise _DropConnectionError
        if fault.kind == "rate_limit":
            return json_response(
                problem(429, "Too Many Requests", f"Rate limit exceeded ({fault.problem})"),
                429,
                {"Retry-After": str(fault.retry_after), "X-Rate-Limit-Problem": fault.problem},
            )
        title = "Service Unavailable" if fault.status == 503 else "Internal Server Error"
        return json_response(problem(fault.status, title, "injected fault"), fault.status)

    def _api_call(
        self, request: Request, method: str, resource: str | None, segments: list[str], tenant_id: str
    ) -> Response:
        if resource is None or len(segments) > 2:
            return Response(NotFound().text, status=404, content_type="text/plain; charset=utf-8")
        record_id = segments[1] if len(segments) == 2 else None
        if method == "GET":
            return self._read(request, tenant_id, resource, record_id)
        if method in ("PUT", "POST") and resource in _WRITABLE and not (method == "PUT" and record_id):
            return self._write(request, tenant_id, resource, record_id)
        return json_response(
            problem(405, "Method Not Allowed", f"{method} is not supported on {resource}"), 405
        )

    def _read(self, request: Request, tenant_id: str, resource: str, record_id: str | None) -> Response:
        args = {k.lower(): v for k, v in request.args.items()}
        try:
            with self.store_lock:
                if record_id is not None:
                    body = self.store.get_resource(tenant_id, resource, record_id)
                else:
                    page = int(args["page"]) if args.get("page") else None
                    page_size = int(args["pagesize"]) if args.get("pagesize") else None
                    body = self.store.list_resource(
                        tenant_id,
                        resource,
                        page=page,
                        page_size=page_size,
                        if_modified_since=parse_if_modified_since(request.headers.get("If-Modified-Since")),
                        where=args.get("where") or None,
                        statuses=_split(args.get("statuses")),
                        ids=_split(args.get("ids")),
                        include_archived=_flag(args.get("includearchived")),
                        summary_only=_flag(args.get("summaryonly")),
                        order=args.get("order") or None,
                        invoice_numbers=_split(args.get("invoicenumbers")),
                        contact_ids=_split(args.get("contactids")),
                        search_term=args.get("searchterm") or None,
                    )
        except ValueError:
            return _xero_response(request, 400, validation_error("page and pageSize must be whole numbers"))
        except EmulatorError as exc:
            return _store_error(request, exc)
        return _xero_response(request, 200, body)

    def _write(self, request: Request, tenant_id: str, resource: str, record_id: str | None) -> Response:
        key = request.headers.get("Idempotency-Key")
        if key is None:
            return self._write_now(request, tenant_id, resource, record_id)
        if len(key) > MAX_KEY_LENGTH or not key.strip():
            return _xero_response(
                request,
                400,
                validation_error(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters long"),
            )
        fingerprint = IdempotencyStore.fingerprint(
            request.method, request.path, request.query_string, request.get_data(cache=True)
        )
        for _ in range(3):
            try:
                slot, is_new = self.idempotency.begin(tenant_id, key, fingerprint)
            except KeyReusedError:
                return _xero_response(
                    request,
                    400,
                    validation_error(
                        "The Idempotency-Key has already been used for a different request; use a new key"
                    ),
                )
            if not is_new:
                slot.done.wait(30)
                if slot.status:
                    return Response(
                        slot.body,
                        status=slot.status,
                        content_type=slot.content_type,
                        headers={"Idempotent-Replayed": "true"},
                    )
                continue  # the first request was not processed: process this one
            try:
                response = self._write_now(request, tenant_id, resource, record_id)
            except BaseException:
                self.idempotency.abandon(tenant_id, key, slot)
                raise
            if response.status_code >= 500:
                self.idempotency.abandon(tenant_id, key, slot)
            else:
                self.idempotency.finish(
                    slot,
                    response.status_code,
                    response.get_data(),
                    response.content_type or "",
                )
            return response
        return json_response(problem(409, "Conflict", "Idempotency-Key is busy, retry"), 409)

    def _write_now(self, request: Request, tenant_id: str, resource: str, record_id: str | None) -> Response:
        raw = request.get_data(cache=True)
        xml = request.mimetype in xero_xml.XML_MEDIA_TYPES
        try:
            if xml:
                body = xero_xml.loads(raw, resource) if raw.strip() else None
            else:
                body = xero_json.loads(raw) if raw.strip() else None
        except xero_xml.XmlBodyError as exc:
            return _xero_response(request, 400, _post_data_invalid(str(exc)))
        except ValueError:
            return _xero_response(request, 400, _post_data_invalid("Invalid JSON in the request body"))
        if isinstance(body, list):
            body = {resource: body}
        if not isinstance(body, dict):
            what = "an XML document" if xml else "a JSON object"
            return _xero_response(request, 400, _post_data_invalid(f"The request body must be {what}"))
        summarize = _flag(
            request.args.get("summarizeErrors") or request.args.get("summarizeerrors"), default=True
        )
        method = request.method.upper()
        store = self.store
        try:
            with self.store_lock:
                if resource == "Payments":
                    if record_id is not None:
                        status, out = store.delete_payment(tenant_id, record_id, body)
                    else:
                        status, out = store.create_payments(tenant_id, body, summarize_errors=summarize)
                elif resource == "Contacts":
                    if record_id is not None:
                        status, out = store.update_contact(tenant_id, record_id, body)
                    elif method == "PUT":
                        status, out = store.create_contacts(tenant_id, body, summarize_errors=summarize)
                    else:
                        status, out = store.upsert_contacts(tenant_id, body, summarize_errors=summarize)
                elif record_id is not None:
                    status, out = store.update_invoice(tenant_id, record_id, body)
                elif method == "PUT":
                    status, out = store.create_invoices(tenant_id, body, summarize_errors=summarize)
                else:
                    status, out = store.upsert_invoices(tenant_id, body, summarize_errors=summarize)
        except EmulatorError as exc:
            return _store_error(request, exc, resource)
        return _xero_response(request, status, out)


def _post_data_invalid(message: str) -> dict[str, Any]:
    return validation_error(message, error_number=17, type_="PostDataInvalidException")


def _as_guid(value: str | None) -> str | None:
    """A GUID header or path segment in the emulator's spelling (lower-case, dashed) when it is one.

    Xero parses GUIDs, so a tenant id or connection id sent without dashes or in capitals is the same id.
    """
    if not value:
        return value
    try:
        return str(uuid.UUID(value.strip()))
    except ValueError:
        return value


#: What the accounting API can answer in; JSON first, so ``*/*`` or no ``Accept`` at all is JSON.
_ANSWER_TYPES = ("application/json", *xero_xml.XML_MEDIA_TYPES)


def _xero_response(request: Request, status: int, body: Any, resource: str | None = None) -> Response:
    """A store body in the format the ``Accept`` header asks for: XML for ``application/xml`` or ``text/xml``,
    JSON otherwise (Xero answers either)."""
    media = request.accept_mimetypes.best_match(_ANSWER_TYPES, default="application/json")
    if xero_xml.wants_xml(media):
        item_type = xero_xml.item_name(resource) if resource else None
        return Response(
            xero_xml.dumps(body, item_type=item_type),
            status=status,
            content_type=f"{media}; charset=utf-8",
        )
    return Response(xero_json.dumps(body), status=status, content_type="application/json; charset=utf-8")


def _store_error(request: Request, exc: EmulatorError, resource: str | None = None) -> Response:
    if exc.body is None:
        text = getattr(exc, "text", None) or str(exc)
        return Response(text, status=exc.status, content_type="text/plain; charset=utf-8")
    return _xero_response(request, exc.status, exc.body, resource)


def _bearer_error(exc: BearerError) -> Response:
    title = "Unauthorized" if exc.status == 401 else "Forbidden"
    headers = {"WWW-Authenticate": exc.www_authenticate} if exc.www_authenticate else {}
    return json_response(problem(exc.status, title, exc.detail), exc.status, headers)


def _drop(environ: WSGIEnvironment) -> None:
    """Close the client's socket with no answer at all (what a dropped connection looks like)."""
    sock = environ.get("werkzeug.socket")
    if isinstance(sock, socket.socket):
        with suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
