"""A local API Gateway (REST, Lambda proxy integration) for every ``Type: Api`` event of the template.

Why: ``sam local start-api`` needs Docker. This serves the same routes (no stage prefix, as sam local) on
127.0.0.1 with what API Gateway itself does around the function:

* route selection like API Gateway: literal paths before ``{param}`` before ``{proxy+}``; an unknown path
  or method gives 403 ``{"message":"Missing Authentication Token"}``;
* ``AWS_IAM`` routes (the event's ``Auth.Authorizer`` or the Api's ``DefaultAuthorizer``): the request's
  SigV4 signature is checked first, as API Gateway does (:mod:`tools.local_stack.sigv4`: service
  ``execute-api``, the stack's region, a date within 5 minutes, the local access key); a refusal is API
  Gateway's 403 with its message and ``x-amzn-ErrorType``; a signed caller is in
  ``requestContext.identity`` (``accessKey``, ``caller``, ``user``, ``userArn``, ``accountId``);
* ``ApiKeyRequired`` (the event's ``Auth`` or the Api's): a missing/unknown ``x-api-key`` gives 403
  ``{"message":"Forbidden"}``;
* the request becomes a REST proxy event (payload format 1.0), the result becomes the HTTP response; a
  function error or a malformed result gives 502 ``{"message": "Internal server error"}``;
* ``GET /docs`` (the local stack only, never in AWS): Swagger UI over the API's OpenAPI document when one
  is given, with Powertools' own Swagger UI bundle inlined (no CDN) and the local URL as its server;
* the access log says ``METHOD path status`` only: never the query string (``/callback?code=...&state=...``
  carries an OAuth code), a header or a body, as an API Gateway access log format without
  ``$context.requestOverride``/query fields would. Neither it nor any refusal repeats the ``Authorization``
  header.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response

from tools.local_stack.model import ApiRoute
from tools.local_stack.runtime import InvokeResult
from tools.local_stack.sigv4 import IamCaller, SignatureRefused, SigV4Verifier

LOG = logging.getLogger("tools.local_stack")
#: The access log (werkzeug's logger name, so ``make start``'s log levels keep applying to it).
ACCESS_LOG = logging.getLogger("werkzeug")
_QUERY = re.compile(r"\?[^\s\"']*")

Invoke = Callable[[str, Any], InvokeResult]


@dataclass
class _CompiledRoute:
    route: ApiRoute
    pattern: re.Pattern[str]
    rank: tuple[int, int, int]


def _compile(route: ApiRoute) -> _CompiledRoute:
    parts = []
    greedy = params = 0
    for segment in route.path.strip("/").split("/") if route.path.strip("/") else []:
        match = re.fullmatch(r"\{([A-Za-z0-9_.-]+)(\+?)\}", segment)
        if match and match.group(2):
            parts.append(f"(?P<{_group(match.group(1))}>.+)")
            greedy += 1
        elif match:
            parts.append(f"(?P<{_group(match.group(1))}>[^/]+)")
            params += 1
        else:
            parts.append(re.escape(segment))
    pattern = re.compile("^/" + "/".join(parts) + "/?$")
    return _CompiledRoute(route, pattern, (greedy, params, -len(route.path)))


def _group(name: str) -> str:
    return "p_" + re.sub(r"\W", "_", name)


def _path_params(compiled: _CompiledRoute, match: re.Match[str]) -> dict[str, str]:
    names = re.findall(r"\{([A-Za-z0-9_.-]+)\+?\}", compiled.route.path)
    return {name: match.group(_group(name)) for name in names}


class _AccessLogHandler(WSGIRequestHandler):
    """werkzeug's request handler with an access log of ``METHOD path status``: no query string, ever."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        path = getattr(self, "path", "").split("?", 1)[0]
        ACCESS_LOG.info("%s %s %s", getattr(self, "command", "-"), path, code)

    def log_error(self, format: str, *args: Any) -> None:
        # werkzeug's own messages may quote the request line ("Bad request syntax ('GET /callback?...')").
        ACCESS_LOG.warning("%s", _QUERY.sub("?...", format % args if args else format))

    def log_message(self, format: str, *args: Any) -> None:
        ACCESS_LOG.info("%s", _QUERY.sub("?...", format % args if args else format))


class LocalApi:
    """The HTTP server; :meth:`start` returns its base URL."""

    def __init__(
        self,
        routes: Iterable[ApiRoute],
        invoke: Invoke,
        *,
        api_keys: Iterable[str] = (),
        api_ids: dict[str, str] | None = None,
        account_id: str = "123456789012",
        iam: SigV4Verifier | None = None,
        docs: str | None = None,
    ) -> None:
        self.routes = sorted((_compile(r) for r in routes), key=lambda c: c.rank)
        self.docs = docs
        self.invoke = invoke
        self.api_keys = {k for k in api_keys if k}
        # Without a verifier no access key is known: every request to an AWS_IAM route is refused.
        self.iam = iam or SigV4Verifier((), region="", account_id=account_id)
        self.api_ids = api_ids or {}
        self.account_id = account_id
        self._server: BaseWSGIServer | None = None
        self._thread: threading.Thread | None = None

    # ---- server -------------------------------------------------------------------------------------

    def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self._server = make_server(host, port, self._wsgi, threaded=True, request_handler=_AccessLogHandler)
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="local-api", daemon=True
        )
        self._thread.start()
        return f"http://{host}:{self._server.server_port}"

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def _wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = Request(environ)
        response = self.handle(request)
        return response(environ, start_response)

    # ---- API Gateway behaviour ------------------------------------------------------------------------

    def match(self, method: str, path: str) -> tuple[ApiRoute, dict[str, str]] | None:
        for compiled in self.routes:
            if compiled.route.method not in (method, "ANY"):
                continue
            found = compiled.pattern.match(path)
            if found:
                return compiled.route, _path_params(compiled, found)
        return None

    def handle(self, request: Request) -> Response:
        request_id = str(uuid.uuid4())
        if self.docs is not None and request.method == "GET" and request.path.rstrip("/") == DOCS_PATH:
            return _swagger_ui(self.docs, request.host_url.rstrip("/"))
        matched = self.match(request.method, request.path)
        if matched is None:
            return _json(
                403,
                {"message": "Missing Authentication Token"},
                request_id,
                "MissingAuthenticationTokenException",
            )
        route, path_params = matched
        caller = None
        if route.authorizer == "AWS_IAM":  # authentication comes before the usage plan's API key
            try:
                caller = self.iam.verify(
                    request.method,
                    _raw_path(request),
                    request.environ.get("QUERY_STRING", ""),
                    request.headers.items(),
                    request.get_data(),
                )
            except SignatureRefused as refused:
                LOG.info("%s %s: SigV4 refused (%s) -> 403", request.method, request.path, refused.error_type)
                return _json(403, {"message": refused.message}, request_id, refused.error_type)
        api_key = request.headers.get("x-api-key")
        if route.api_key_required and (not api_key or api_key not in self.api_keys):
            return _json(403, {"message": "Forbidden"}, request_id, "ForbiddenException")
        event = self.event(request, route, path_params, request_id, api_key, caller=caller)
        result = self.invoke(route.function, event)
        if result.error is not None:
            LOG.info(
                "%s %s: function error %s -> 502", request.method, request.path, result.error.get("errorType")
            )
            return _json(502, {"message": "Internal server error"}, request_id)
        response = _to_response(result.payload, request_id)
        if response is None:
            LOG.warning("%s %s: malformed Lambda proxy response -> 502", request.method, request.path)
            return _json(502, {"message": "Internal server error"}, request_id)
        return response

    def event(
        self,
        request: Request,
        route: ApiRoute,
        path_params: dict[str, str],
        request_id: str,
        api_key: str | None,
        *,
        caller: IamCaller | None = None,
    ) -> dict[str, Any]:
        """The REST API proxy event (payload format 1.0) for one request."""
        headers: dict[str, str] = {}
        multi_headers: dict[str, list[str]] = {}
        for name, value in request.headers.items():
            headers[name] = value
            multi_headers.setdefault(name, []).append(value)
        query: dict[str, str] = {}
        multi_query: dict[str, list[str]] = {}
        for name, values in request.args.lists():
            query[name] = values[-1]
            multi_query[name] = list(values)
        raw = request.get_data()
        body: str | None
        is_base64 = False
        if not raw:
            body = None
        else:
            try:
                body = raw.decode("utf-8")
            except UnicodeDecodeError:
                body, is_base64 = base64.b64encode(raw).decode(), True
        now = datetime.now(UTC)
        api_id = self.api_ids.get(route.api, "local")
        source_ip = request.remote_addr or "127.0.0.1"
        return {
            "resource": route.path,
            "path": request.path,
            "httpMethod": request.method,
            "headers": headers or None,
            "multiValueHeaders": multi_headers or None,
            "queryStringParameters": query or None,
            "multiValueQueryStringParameters": multi_query or None,
            "pathParameters": path_params or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": uuid.uuid4().hex[:6],
                "resourcePath": route.path,
                "httpMethod": request.method,
                "extendedRequestId": request_id,
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "path": f"/{route.stage}{request.path}",
                "accountId": self.account_id,
                "protocol": request.environ.get("SERVER_PROTOCOL", "HTTP/1.1"),
                "stage": route.stage,
                "domainPrefix": api_id,
                "requestTimeEpoch": int(time.time() * 1000),
                "requestId": request_id,
                "identity": {
                    "cognitoIdentityPoolId": None,
                    "accountId": None,
                    "cognitoIdentityId": None,
                    "caller": None,
                    "sourceIp": source_ip,
                    "principalOrgId": None,
                    "accessKey": None,
                    "cognitoAuthenticationType": None,
                    "cognitoAuthenticationProvider": None,
                    "userArn": None,
                    "userAgent": request.headers.get("User-Agent"),
                    "user": None,
                    "apiKey": api_key if route.api_key_required else None,
                    "apiKeyId": None,
                    **(caller.identity() if caller is not None else {}),
                },
                "domainName": request.host,
                "apiId": api_id,
            },
            "body": body,
            "isBase64Encoded": is_base64,
        }


def _raw_path(request: Request) -> str:
    """The path as the request line sent it, still percent-encoded: what a SigV4 signature covers."""
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI")
    return str(raw).split("?", 1)[0] if raw else quote(request.path)


DOCS_PATH = "/docs"


def _swagger_ui(document: str, base_url: str) -> Response:
    """Swagger UI over ``document``, its server the local API (Try it out calls this stack)."""
    from aws_lambda_powertools.event_handler.openapi import swagger_ui  # only when the page is asked for
    from aws_lambda_powertools.event_handler.openapi.swagger_ui.html import generate_swagger_html

    assets = Path(swagger_ui.__file__).parent
    spec = {**json.loads(document), "servers": [{"url": base_url, "description": "this local stack"}]}
    page = generate_swagger_html(
        json.dumps(spec),
        (assets / "swagger-ui-bundle.min.js").read_text(encoding="utf-8"),
        (assets / "swagger-ui.min.css").read_text(encoding="utf-8"),
        "",  # no base URL: the bundle is inlined, so the page needs nothing from outside this machine
        None,
        persist_authorization=True,
    )
    return Response(page, status=200, content_type="text/html; charset=utf-8")


def _json(status: int, body: dict[str, Any], request_id: str, error_type: str | None = None) -> Response:
    response = Response(json.dumps(body), status=status, content_type="application/json")
    response.headers["x-amzn-RequestId"] = request_id
    if error_type:
        response.headers["x-amzn-ErrorType"] = error_type
    return response


def _to_response(payload: Any, request_id: str) -> Response | None:
    """A Lambda proxy result as an HTTP response, or None when API Gateway would reject it (502)."""
    if not isinstance(payload, dict):
        return None
    allowed = {"statusCode", "headers", "multiValueHeaders", "body", "isBase64Encoded", "cookies"}
    if set(payload) - allowed:
        return None
    status = payload.get("statusCode", 200)
    if isinstance(status, bool) or not isinstance(status, (int, str)) or not str(status).isdigit():
        return None
    headers = payload.get("headers") or {}
    multi = payload.get("multiValueHeaders") or {}
    body = payload.get("body")
    if not isinstance(headers, dict) or not isinstance(multi, dict):
        return None
    if any(not isinstance(v, list) for v in multi.values()):
        return None
    if body is not None and not isinstance(body, str):
        return None
    data: bytes = b""
    if body:
        if payload.get("isBase64Encoded"):
            try:
                data = base64.b64decode(body, validate=True)
            except ValueError:
                return None
        else:
            data = body.encode("utf-8")
    response = Response(data, status=int(status))
    response.headers.remove("Content-Type")
    for name, value in headers.items():
        response.headers[name] = str(value)
    for name, values in multi.items():
        if name in headers:
            response.headers.remove(name)
            response.headers.add(name, str(headers[name]))
        for value in values:
            if name not in headers or str(value) != str(headers[name]):
                response.headers.add(name, str(value))
    if "Content-Type" not in response.headers:
        response.headers["Content-Type"] = "application/json"
    response.headers["x-amzn-RequestId"] = request_id
    return response
