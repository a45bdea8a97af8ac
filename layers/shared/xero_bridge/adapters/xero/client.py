"""Typed client of Xero's Accounting API (``{api}/api.xro/2.0/{Resource}``) for one tenant.

Every request carries ``Authorization: Bearer``, ``xero-tenant-id`` and ``Accept: application/json``, and
only the query parameters and headers Xero's spec declares for that operation (a parameter Xero does not
offer for a resource is refused here with :class:`ValueError` rather than silently ignored by Xero). Bodies
are read with ``json.loads(parse_float=Decimal)`` so money is exact, and each record is validated on its own:
a record that does not match the model lands in :attr:`Page.bad_records` and never sinks its page.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any

import httpx
from pydantic import ValidationError

from xero_bridge.adapters.xero.oauth import DEFAULT_ENDPOINTS, XeroEndpoints
from xero_bridge.adapters.xero.transport import (
    DEFAULT_RETRY,
    AttemptLimiter,
    RetryPolicy,
    dumps_exact,
    send,
    utc_now,
    xero_message,
)
from xero_bridge.errors import (
    ElementError,
    XeroBadResponseError,
    XeroError,
    XeroForbidden,
    XeroNotFound,
    XeroUnauthorized,
    XeroValidationError,
)
from xero_bridge.models.connection import ReconnectReason
from xero_bridge.models.pages import ANY_PAGE, BadRecord, Page, Quota
from xero_bridge.models.xero import (
    NIL_ID,
    Account,
    Contact,
    CreditNote,
    Invoice,
    Organisation,
    Overpayment,
    Pagination,
    Payment,
    PaymentCreate,
    PaymentResult,
    Prepayment,
    User,
    XeroModel,
)
from xero_bridge.models.xero_dates import parse_xero_datetime, to_if_modified_since
from xero_bridge.services.ports import TokenProvider

__all__ = [
    "DEFAULT_PAGE_SIZE",
    "MAX_IDS_PER_REQUEST",
    "MAX_PAGE_SIZE",
    "Resource",
    "XeroClient",
    "validate_idempotency_key",
]

MAX_PAGE_SIZE = 1000
"""The largest ``pageSize`` Xero accepts."""
DEFAULT_PAGE_SIZE = 100
"""What Xero uses when ``pageSize`` is absent (and what some servers use whatever was asked)."""
MAX_IDS_PER_REQUEST = 50
"""Xero answers 404 for much longer ``IDs=`` lists."""
MAX_WHERE_IDS_PER_REQUEST = 25
"""IDs per ``where`` filter for resources without ``IDs=`` (keeps the URL short)."""
MAX_IDEMPOTENCY_KEY_LENGTH = 128


class Resource(StrEnum):
    """The Accounting API resources xero-bridge reads."""

    CONTACTS = "Contacts"
    INVOICES = "Invoices"
    CREDIT_NOTES = "CreditNotes"
    PAYMENTS = "Payments"
    OVERPAYMENTS = "Overpayments"
    PREPAYMENTS = "Prepayments"
    ACCOUNTS = "Accounts"
    ORGANISATION = "Organisation"
    USERS = "Users"


@dataclass(frozen=True)
class _ResourceSpec:
    model: type[XeroModel]
    list_key: str  # the array in Xero's answer
    id_key: str  # Xero's name of the record id
    paged: bool  # page / pageSize / pagination
    params: frozenset[str]  # the query parameters Xero's spec declares for GET /{Resource}
    by_id: bool = True  # GET /{Resource}/{id} exists


_LIST = frozenset({"where", "order", "page", "pageSize"})
_SPECS: dict[Resource, _ResourceSpec] = {
    Resource.CONTACTS: _ResourceSpec(
        Contact, "Contacts", "ContactID", True, _LIST | {"IDs", "includeArchived", "summaryOnly"}
    ),
    Resource.INVOICES: _ResourceSpec(
        Invoice, "Invoices", "InvoiceID", True, _LIST | {"IDs", "Statuses", "includeArchived", "summaryOnly"}
    ),
    Resource.CREDIT_NOTES: _ResourceSpec(CreditNote, "CreditNotes", "CreditNoteID", True, _LIST),
    Resource.PAYMENTS: _ResourceSpec(Payment, "Payments", "PaymentID", True, _LIST),
    Resource.OVERPAYMENTS: _ResourceSpec(Overpayment, "Overpayments", "OverpaymentID", True, _LIST),
    Resource.PREPAYMENTS: _ResourceSpec(Prepayment, "Prepayments", "PrepaymentID", True, _LIST),
    Resource.ACCOUNTS: _ResourceSpec(Account, "Accounts", "AccountID", False, frozenset({"where", "order"})),
    Resource.ORGANISATION: _ResourceSpec(
        Organisation, "Organisations", "OrganisationID", False, frozenset(), by_id=False
    ),
    Resource.USERS: _ResourceSpec(User, "Users", "UserID", False, frozenset({"where", "order"})),
}
_IF_MODIFIED_SINCE = frozenset(r for r in Resource if r is not Resource.ORGANISATION)


# Parametrised once: pydantic's cache of generic models is weak, so ``Page[Any]`` in a hot path rebuilds it.
def validate_idempotency_key(key: str) -> str:
    """Check an ``Idempotency-Key``: 1 to 128 printable ASCII characters (Xero's limit is 128)."""
    if not key or len(key) > MAX_IDEMPOTENCY_KEY_LENGTH:
        raise ValueError(f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY_LENGTH} characters")
    if not (key.isascii() and key.isprintable()):
        raise ValueError("Idempotency-Key must be printable ASCII")
    return key


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _describe(exc: ValidationError) -> str:
    """The validation errors without the input values (a record's content stays out of the text)."""
    parts = []
    for error in exc.errors(include_url=False, include_input=False, include_context=False):
        location = ".".join(str(part) for part in error["loc"]) or "record"
        parts.append(f"{location}: {error['msg']}")
    return "; ".join(parts)


def _element_errors(body: dict[str, Any]) -> tuple[list[str], list[ElementError]]:
    messages: list[str] = []
    elements: list[ElementError] = []
    for index, element in enumerate(body.get("Elements") or []):
        if not isinstance(element, dict):
            continue
        own = [
            str(item.get("Message", ""))
            for item in element.get("ValidationErrors") or []
            if isinstance(item, dict)
        ]
        messages.extend(own)
        rest = {key: value for key, value in element.items() if key != "ValidationErrors"}
        elements.append(ElementError(index=index, messages=tuple(own), element=rest))
    return messages, elements


class XeroClient:
    """Xero's Accounting API for one tenant, with exact money, typed records and Xero's errors.

    Parameters
    ----------
    tokens
        Gives the tenant's access token; asked with ``force_refresh=True`` once after a 401.
    tenant_id
        The ``xero-tenant-id`` of every request.
    endpoints
        Base URLs (real Xero or the emulator).
    http
        An httpx client to share (its timeouts and pool apply); one is made when None.
    retry
        Attempts, backoff and ``sleep`` for 429s, 5xx and timeouts.
    on_response
        Called with the :class:`Quota` of every response.
    before_request
        Called before every HTTP attempt (the rate limiter waits there).
    limiter
        Held around every HTTP attempt and told its response (the shared rate limiter's concurrency slot,
        which must be taken before the request goes out and given back when its answer is in).
    clock
        Aware-UTC clock for ``observed_at`` and ``resets_at`` (the emulator's scaled clock in tests).

    Attributes
    ----------
    quota
        The :class:`Quota` of the last response, None before the first.
    """

    def __init__(  # noqa: PLR0917 - the positional order is the documented contract
        self,
        tokens: TokenProvider,
        tenant_id: str,
        endpoints: XeroEndpoints = DEFAULT_ENDPOINTS,
        http: httpx.Client | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        on_response: Callable[[Quota], None] | None = None,
        before_request: Callable[[], None] | None = None,
        *,
        clock: Callable[[], datetime] = utc_now,
        limiter: AttemptLimiter | None = None,
    ) -> None:
        self._tokens = tokens
        self.tenant_id = tenant_id
        self._base = f"{endpoints.api_url.rstrip('/')}/api.xro/2.0"
        self._http = http if http is not None else httpx.Client(timeout=httpx.Timeout(30.0, connect=5.0))
        self._retry = retry
        self._on_response = on_response
        self._before_request = before_request
        self._clock = clock
        self._limiter = limiter
        self.quota: Quota | None = None

    # --- reading ---------------------------------------------------------------------------------------

    def list_page(
        self,
        resource: Resource | str,
        *,
        page: int | None = None,
        page_size: int | None = None,
        if_modified_since: datetime | None = None,
        where: str | None = None,
        statuses: Sequence[str] | None = None,
        include_archived: bool = False,
        summary_only: bool = False,
        order: str | None = None,
        ids: Sequence[str] | None = None,
    ) -> Page[Any]:
        """Read one page of ``resource``.

        Parameters
        ----------
        resource
            Which resource (a :class:`Resource` or its name, e.g. ``"Invoices"``).
        page
            Page number from 1; None reads the resource unpaged (Accounts, Users and Organisation always are).
        page_size
            1 to 1000; Xero's default (100) when None. Implies ``page=1`` when ``page`` is None.
        if_modified_since
            Only records changed after this instant (sent as ``If-Modified-Since: YYYY-MM-DDTHH:MM:SS`` UTC).
        where, order
            Xero's filter and sort expressions, passed as they are.
        statuses
            ``Statuses=`` (Invoices only).
        include_archived, summary_only
            ``includeArchived=true`` / ``summaryOnly=true`` (Contacts and Invoices only).
        ids
            ``IDs=`` (Contacts and Invoices only; at most 50 — :meth:`get_by_ids` splits longer lists).

        Returns
        -------
        Page
            The records, the bad ones, the envelope and whether this is the last page.

        Raises
        ------
        ValueError
            A parameter Xero does not offer for ``resource``, or a page size out of 1..1000.
        XeroError
            The subclasses of :mod:`xero_bridge.errors` for Xero's error answers.
        """
        res = Resource(resource)
        spec = _SPECS[res]
        if page_size is not None and not 1 <= page_size <= MAX_PAGE_SIZE:
            raise ValueError(f"page_size must be 1 to {MAX_PAGE_SIZE}, not {page_size}")
        if page is not None and page < 1:
            raise ValueError(f"page numbers start at 1, not {page}")
        if page is None and page_size is not None and spec.paged:
            page = 1
        params: dict[str, str] = {}
        wanted: dict[str, str | None] = {
            "page": str(page) if page is not None else None,
            "pageSize": str(page_size) if page_size is not None else None,
            "where": where or None,
            "order": order or None,
            "Statuses": ",".join(statuses) if statuses else None,
            "IDs": ",".join(ids) if ids else None,
            "includeArchived": "true" if include_archived else None,
            "summaryOnly": "true" if summary_only else None,
        }
        for name, value in wanted.items():
            if value is None:
                continue
            if name not in spec.params:
                raise ValueError(f"Xero does not offer {name} on GET /{res.value}")
            params[name] = value
        if ids and len(ids) > MAX_IDS_PER_REQUEST:
            raise ValueError(
                f"at most {MAX_IDS_PER_REQUEST} IDs per request (get_by_ids splits longer lists)"
            )
        headers: dict[str, str] = {}
        if if_modified_since is not None:
            if res not in _IF_MODIFIED_SINCE:
                raise ValueError(f"Xero does not offer If-Modified-Since on GET /{res.value}")
            headers["If-Modified-Since"] = to_if_modified_since(if_modified_since)
        response = self._request("GET", f"/{res.value}", params=params, headers=headers)
        data = self._json(response)
        records, bad, raw_count = self._records(spec, data)
        pagination = self._pagination(data)
        if pagination is not None:
            is_last = raw_count == 0 or pagination.page >= pagination.page_count
        elif page is None:
            is_last = True
        else:
            is_last = raw_count < min(page_size or DEFAULT_PAGE_SIZE, DEFAULT_PAGE_SIZE)
        assert self.quota is not None  # set by the response just read
        return ANY_PAGE(
            records=records,
            bad_records=bad,
            pagination=pagination,
            page=page,
            quota=self.quota,
            server_time=self._server_time(data),
            is_last=is_last,
        )

    def iter_pages(self, resource: Resource | str, **options: Any) -> Iterator[Page[Any]]:
        """Read ``resource`` page after page (from ``page``, default 1) until :attr:`Page.is_last`.

        Takes the options of :meth:`list_page`. Unpaged resources (Accounts, Users, Organisation) give one
        page.
        """
        spec = _SPECS[Resource(resource)]
        if not spec.paged:
            yield self.list_page(resource, **options)
            return
        page = options.pop("page", None) or 1
        while True:
            current = self.list_page(resource, page=page, **options)
            yield current
            if current.is_last:
                return
            page += 1

    def fetch_by_ids(self, resource: Resource | str, ids: Sequence[str]) -> Page[Any]:
        """Read the records of ``ids`` (in requests of at most 50), keeping the ones that did not parse.

        Contacts and Invoices are read with ``IDs=`` (archived contacts included, so an archive is seen);
        the other resources, which Xero's spec gives no ``IDs=``, with a ``where`` filter on their id in
        requests of 25. Ids Xero does not know are simply absent from the result.

        Returns
        -------
        Page
            All the records and bad records (``page`` and ``pagination`` None, ``is_last`` True).
        """
        res = Resource(resource)
        spec = _SPECS[res]
        unique = list(dict.fromkeys(i for i in ids if i))
        records: list[Any] = []
        bad: list[BadRecord] = []
        seen = 0
        for chunk in self._id_chunks(res, spec, unique):
            for current in self.iter_pages(res, **chunk):
                records.extend(current.records)
                bad.extend(b.model_copy(update={"index": b.index + seen}) for b in current.bad_records)
                seen += len(current.records) + len(current.bad_records)
        quota = self.quota or Quota(observed_at=self._clock())
        return ANY_PAGE(records=records, bad_records=bad, quota=quota, is_last=True)

    def get_by_ids(self, resource: Resource | str, ids: Sequence[str]) -> list[Any]:
        """The records of ``ids`` (chunks of at most 50); see :meth:`fetch_by_ids` to get bad records too."""
        return self.fetch_by_ids(resource, ids).records

    def get(self, resource: Resource | str, resource_id: str) -> Any:
        """One record by id (``GET /{Resource}/{id}``).

        Raises
        ------
        XeroNotFound
            Xero does not know it.
        XeroBadResponseError
            Xero's record does not match the model.
        """
        res = Resource(resource)
        spec = _SPECS[res]
        if not spec.by_id:
            raise ValueError(f"GET /{res.value}/{{id}} does not exist")
        if not resource_id or "/" in resource_id:
            raise ValueError("resource_id must be a single path segment")
        response = self._request("GET", f"/{res.value}/{resource_id}")
        return self._single(spec, self._json(response), f"{res.value}/{resource_id}")

    def organisation(self) -> Organisation:
        """The connected organisation (``GET /Organisation``)."""
        spec = _SPECS[Resource.ORGANISATION]
        result: Organisation = self._single(
            spec, self._json(self._request("GET", "/Organisation")), "Organisation"
        )
        return result

    def users(self) -> list[User]:
        """The organisation's users (``GET /Users``); a user record that does not parse is left out."""
        return list(self.list_page(Resource.USERS).records)

    # --- payments ----------------------------------------------------------------------------------------

    def create_payments(
        self, payments: Sequence[PaymentCreate], *, idempotency_key: str
    ) -> list[PaymentResult]:
        """Record payments in Xero in one ``PUT /Payments?summarizeErrors=false``.

        Parameters
        ----------
        payments
            The payments, in the order the results come back.
        idempotency_key
            Sent as ``Idempotency-Key`` (1 to 128 characters): the same key with the same body is never
            applied twice by Xero, so the request is retried safely.

        Returns
        -------
        list[PaymentResult]
            One per payment, same order: the created payment, or Xero's validation messages for it.

        Raises
        ------
        ValueError
            An invalid idempotency key.
        XeroValidationError
            Xero refused the whole request (400) rather than element by element.
        XeroBadResponseError
            Xero's answer does not have one element per payment sent.
        """
        key = validate_idempotency_key(idempotency_key)
        if not payments:
            return []
        body = {"Payments": [payment.to_xero() for payment in payments]}
        response = self._request(
            "PUT",
            "/Payments",
            params={"summarizeErrors": "false"},
            headers={"Idempotency-Key": key},
            body=body,
        )
        elements = self._elements(self._json(response), "Payments")
        if len(elements) != len(payments):
            raise XeroBadResponseError(
                f"PUT /Payments: Xero answered {len(elements)} elements for {len(payments)} payments",
                status_code=response.status_code,
            )
        return [_payment_result(index, element) for index, element in enumerate(elements)]

    def create_payment(self, payment: PaymentCreate, *, idempotency_key: str) -> Payment:
        """Record one payment (``POST /Payments``).

        Raises
        ------
        XeroValidationError
            Xero refused it (its messages, e.g. the amount exceeds the amount due).
        """
        key = validate_idempotency_key(idempotency_key)
        response = self._request(
            "POST", "/Payments", headers={"Idempotency-Key": key}, body={"Payments": [payment.to_xero()]}
        )
        return self._payment_or_error(self._json(response), "POST /Payments")

    def delete_payment(self, payment_id: str, *, idempotency_key: str | None = None) -> Payment:
        """Delete a payment (``POST /Payments/{id}`` with ``{"Status": "DELETED"}``; Xero cannot edit one).

        Without an idempotency key the request is not retried after it may have reached Xero.
        """
        if not payment_id or "/" in payment_id:
            raise ValueError("payment_id must be a single path segment")
        headers = {"Idempotency-Key": validate_idempotency_key(idempotency_key)} if idempotency_key else {}
        response = self._request(
            "POST", f"/Payments/{payment_id}", headers=headers, body={"Status": "DELETED"}
        )
        return self._payment_or_error(self._json(response), f"POST /Payments/{payment_id}")

    # --- internals ---------------------------------------------------------------------------------------

    def _id_chunks(self, res: Resource, spec: _ResourceSpec, ids: list[str]) -> Iterator[dict[str, Any]]:
        if "IDs" in spec.params:
            extra = {"include_archived": True} if "includeArchived" in spec.params else {}
            for chunk in _chunks(ids, MAX_IDS_PER_REQUEST):
                yield {"ids": chunk, **extra}
            return
        if "where" not in spec.params:
            raise ValueError(f"Xero offers no way to read {res.value} by ids")
        for chunk in _chunks(ids, MAX_WHERE_IDS_PER_REQUEST):
            for one in chunk:
                if not all(c.isalnum() or c == "-" for c in one):
                    raise ValueError(f"not a Xero id: {one[:40]!r}")
            yield {"where": " OR ".join(f'{spec.id_key}==Guid("{one}")' for one in chunk)}

    def _request(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> httpx.Response:
        """Send with retries; after a 401 or 403, once more with a forced token refresh; map error answers.

        A 401 or 403 that survives the refresh is the token provider's to judge (``refused``): the vault marks
        the connection ``needs_reconnect`` with the reason (revoked token, removed user, missing scope) and
        the caller gets :class:`~xero_bridge.errors.NeedsReconnect`.
        """
        extra = dict(headers or {})
        content = dumps_exact(body) if body is not None else None
        if content is not None:
            extra["Content-Type"] = "application/json"
        replayable = method == "GET" or "Idempotency-Key" in extra
        url = f"{self._base}{path}"
        response: httpx.Response | None = None
        for force_refresh in (False, True):
            forcing = [force_refresh]

            def build(forcing: list[bool] = forcing) -> httpx.Request:
                token = self._tokens.access_token(self.tenant_id, force_refresh=forcing[0])
                forcing[0] = False  # only the first attempt after a 401 refreshes
                request_headers = {
                    "Authorization": f"Bearer {token}",
                    "xero-tenant-id": self.tenant_id,
                    "Accept": "application/json",
                    **extra,
                }
                return self._http.build_request(
                    method, url, params=params, headers=request_headers, content=content
                )

            response = send(
                self._http,
                build,
                policy=self._retry,
                replayable=replayable,
                clock=self._clock,
                before_request=self._before_request,
                on_response=self._observe,
                limiter=self._limiter,
            )
            if response.status_code not in (401, 403):
                break
        assert response is not None
        if response.status_code in (401, 403):
            reason = _refusal_reason(response)
            try:
                self._check(response, f"{method} {path}")
            except (XeroUnauthorized, XeroForbidden) as exc:
                problem = self._tokens.refused(self.tenant_id, reason)
                if problem is not None:
                    raise problem from exc
                raise
        return self._check(response, f"{method} {path}")

    def _observe(self, response: httpx.Response) -> None:
        self.quota = Quota.from_headers(response.headers, self._clock())
        if self._on_response is not None:
            self._on_response(self.quota)

    @staticmethod
    def _check(response: httpx.Response, what: str) -> httpx.Response:
        status = response.status_code
        if status < 300:
            return response
        message = xero_message(response)
        if status == 400:
            try:
                body = json.loads(response.content)
            except ValueError:
                body = None
            if isinstance(body, dict):
                messages, elements = _element_errors(body)
                if not messages and isinstance(body.get("Message"), str):
                    messages = [body["Message"]]
                text = "; ".join(messages) or message
                raise XeroValidationError(f"{what}: {text}"[:1000], messages=messages, elements=elements)
            raise XeroValidationError(f"{what}: {message}", messages=[message], elements=[])
        if status == 401:
            raise XeroUnauthorized(f"{what}: {message}", status_code=401)
        if status == 403:
            raise XeroForbidden(f"{what}: {message}", status_code=403)
        if status == 404:
            raise XeroNotFound(f"{what}: {message}", status_code=404)
        raise XeroError(f"{what}: Xero answered {status}: {message}", status_code=status)

    @staticmethod
    def _json(response: httpx.Response) -> dict[str, Any]:
        try:
            data = json.loads(response.content, parse_float=Decimal)
        except ValueError as exc:
            raise XeroBadResponseError(
                f"{response.request.method} {response.request.url.path}: the answer is not JSON",
                status_code=response.status_code,
            ) from exc
        if not isinstance(data, dict):
            raise XeroBadResponseError(
                f"{response.request.method} {response.request.url.path}: the answer is not a JSON object",
                status_code=response.status_code,
            )
        return data

    @staticmethod
    def _elements(data: dict[str, Any], key: str) -> list[Any]:
        items = data.get(key)
        if items is None:
            return []
        if not isinstance(items, list):
            raise XeroBadResponseError(f"{key} in Xero's answer is not a list")
        return items

    def _records(self, spec: _ResourceSpec, data: dict[str, Any]) -> tuple[list[Any], list[BadRecord], int]:
        items = self._elements(data, spec.list_key)
        validate = spec.model.model_validate
        records: list[Any] = []
        bad: list[BadRecord] = []
        for index, item in enumerate(items):
            try:
                records.append(validate(item))
            except ValidationError as exc:
                record_id = item.get(spec.id_key) if isinstance(item, dict) else None
                bad.append(
                    BadRecord(
                        index=index,
                        record_id=record_id if isinstance(record_id, str) else None,
                        error=_describe(exc),
                    )
                )
        return records, bad, len(items)

    @staticmethod
    def _server_time(data: dict[str, Any]) -> datetime | None:
        """The envelope's ``DateTimeUTC`` (``/Date(1552326816230)/``), None when absent or unreadable."""
        raw = data.get("DateTimeUTC")
        if not isinstance(raw, str) or not raw:
            return None
        try:
            return parse_xero_datetime(raw)
        except ValueError:
            return None

    @staticmethod
    def _pagination(data: dict[str, Any]) -> Pagination | None:
        raw = data.get("pagination")
        if not isinstance(raw, dict):
            return None
        try:
            return Pagination.model_validate(raw)
        except ValidationError:
            return None

    def _single(self, spec: _ResourceSpec, data: dict[str, Any], what: str) -> Any:
        records, bad, _ = self._records(spec, data)
        if records:
            return records[0]
        if bad:
            raise XeroBadResponseError(
                f"{what}: Xero's record does not match the model: {bad[0].error}"[:1000]
            )
        raise XeroNotFound(f"{what}: Xero answered no record", status_code=404)

    def _payment_or_error(self, data: dict[str, Any], what: str) -> Payment:
        elements = self._elements(data, "Payments")
        if not elements:
            raise XeroBadResponseError(f"{what}: Xero answered no payment")
        result = _payment_result(0, elements[0])
        if result.validation_errors:
            element = elements[0] if isinstance(elements[0], dict) else {}
            rest = {k: v for k, v in element.items() if k != "ValidationErrors"}
            raise XeroValidationError(
                f"{what}: {'; '.join(result.validation_errors)}"[:1000],
                messages=list(result.validation_errors),
                elements=[ElementError(index=0, messages=tuple(result.validation_errors), element=rest)],
            )
        if result.payment is None:
            raise XeroBadResponseError(f"{what}: Xero's payment {result.payment_id} does not match the model")
        return result.payment


def _refusal_reason(response: httpx.Response) -> ReconnectReason:
    """Why Xero refused a token that a refresh did not help: Xero's 403 ``Detail`` says which."""
    if response.status_code == 401:
        return ReconnectReason.TOKEN_REVOKED
    detail = xero_message(response)
    if "AuthorizationUnsuccessful" in detail:
        return ReconnectReason.SCOPES_MISSING
    return ReconnectReason.USER_REMOVED  # AuthenticationUnsuccessful: no connection, or the user is gone


def _payment_result(index: int, element: Any) -> PaymentResult:
    """One element of a Payments answer: the payment, or its ``ValidationErrors``."""
    if not isinstance(element, dict):
        return PaymentResult(
            index=index, validation_errors=["Xero answered an element that is not an object"]
        )
    messages = [
        str(item.get("Message", "")) if isinstance(item, dict) else str(item)
        for item in element.get("ValidationErrors") or []
    ]
    status = element.get("StatusAttributeString")
    status = status if isinstance(status, str) else None
    if not messages and (status == "ERROR" or element.get("HasValidationErrors") is True):
        messages = ["Xero refused the payment without a message"]
    invoice = element.get("Invoice")
    invoice_id = invoice.get("InvoiceID") if isinstance(invoice, dict) else None
    invoice_id = invoice_id if isinstance(invoice_id, str) else None
    payment: Payment | None = None
    payment_id = element.get("PaymentID")
    if not messages and isinstance(payment_id, str) and payment_id and payment_id != NIL_ID:
        try:
            payment = Payment.model_validate(element)
        except ValidationError:
            payment = None  # created all the same: ``payment_id`` says so, and it must not be sent again
    elif not messages:
        messages = ["Xero answered no PaymentID"]
    return PaymentResult(
        index=index,
        payment=payment,
        validation_errors=messages,
        status=status,
        invoice_id=invoice_id,
        payment_id=payment_id if isinstance(payment_id, str) and payment_id != NIL_ID else None,
    )
