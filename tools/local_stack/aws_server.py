"""moto over HTTP beside moto in-process: the AWS that the function sandboxes reach.

Why both: the tests, the SQS pollers, the Step Functions interpreter and the local API live in this process
and use moto in-process (``mock_aws``); the functions run in sandbox processes, which reach the same moto
over HTTP through ``AWS_ENDPOINT_URL``. It is one AWS, not two copies: moto keeps each service's state in a
module-level ``BackendDict`` (``moto/<service>/models.py``, looked up by ``moto.backends.get_backend``), and
both the in-process mock (``moto/core/botocore_stubber.py``) and the server's per-service Flask apps
(``moto/moto_server/werkzeug_app.py: create_backend_app``) dispatch each request to the same response
classes over those same backends. ``mock_aws`` resets the backends when the outermost mock starts and
stops, which the server sees too. ``tests/integration/local_stack/test_aws_server.py`` holds this.

What the server adds around moto (:class:`AwsGateway`, a WSGI wrapper):

* DynamoDB serves one request at a time, whichever way it arrives (:mod:`tools.local_stack.atomic`);
* :meth:`AwsServer.intercept` hooks see each request a function sends, with the sandbox that sent it
  (from the per-sandbox ``AWS_SDK_UA_APP_ID`` that botocore puts in the User-Agent), and may kill that
  sandbox before moto serves the request: fault injection on the real request path.
"""

from __future__ import annotations

import io
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from tools.local_stack.atomic import DYNAMODB_LOCK

__all__ = ["AwsRequest", "AwsServer", "Sender", "SenderKilled"]

LOG = logging.getLogger("tools.local_stack")

#: botocore writes ``app/<AWS_SDK_UA_APP_ID>`` into the User-Agent; the runtime gives each sandbox its own id.
_APP_ID = re.compile(r"(?:^|\s)app/(\S+)")
_SCOPE = re.compile(r"Credential=[^/,\s]+/[^/]+/([^/]+)/([^/]+)/")


class SenderKilled(BaseException):
    """Raised by :meth:`AwsRequest.kill_sender`: the request dies with its sandbox, moto never serves it.

    A BaseException, so that a hook's own ``except Exception`` cannot swallow the sandbox's death.
    """


@dataclass(frozen=True)
class Sender:
    """The sandbox that sent a request: its function, the invocation it was running, its process."""

    function: str  # logical id
    request_id: str | None  # None between invocations (e.g. a background thread of the handler)
    pid: int
    sandbox_id: str
    kill: Callable[[], None]


class AwsRequest:
    """One AWS API request on its way to moto, as an :meth:`AwsServer.intercept` hook sees it."""

    def __init__(self, environ: dict[str, Any], sender: Sender | None) -> None:
        self._environ = environ
        self.sender = sender
        self._body: bytes | None = None
        self.kill_after = False

    @property
    def headers(self) -> dict[str, str]:
        return {
            key[5:].replace("_", "-").title(): str(value)
            for key, value in self._environ.items()
            if key.startswith("HTTP_")
        }

    @property
    def service(self) -> str:
        """The signing name of the service (``dynamodb``, ``sqs``, ``states``, ``kms``...)."""
        scope = _SCOPE.search(str(self._environ.get("HTTP_AUTHORIZATION", "")))
        return scope.group(2) if scope else ""

    @property
    def region(self) -> str:
        scope = _SCOPE.search(str(self._environ.get("HTTP_AUTHORIZATION", "")))
        return scope.group(1) if scope else ""

    @property
    def operation(self) -> str:
        """``SendMessageBatch``, ``TransactWriteItems``...: from ``X-Amz-Target`` or a query body's Action."""
        target = str(self._environ.get("HTTP_X_AMZ_TARGET", ""))
        if target:
            return target.rsplit(".", 1)[-1]
        if str(self._environ.get("CONTENT_TYPE", "")).startswith("application/x-www-form-urlencoded"):
            return parse_qs(self.body.decode("utf-8", "replace")).get("Action", [""])[0]
        return ""

    @property
    def body(self) -> bytes:
        """The request body (read once; moto still reads it afterwards)."""
        if self._body is None:
            length = int(self._environ.get("CONTENT_LENGTH") or 0)
            self._body = self._environ["wsgi.input"].read(length) if length else b""
            self._environ["wsgi.input"] = io.BytesIO(self._body)
        return self._body

    def kill_sender_after(self) -> None:
        """Let moto serve this request whole (the write happens), then SIGKILL its sender before it reads the
        answer: a Lambda that died right after its DynamoDB write or SQS send."""
        if self.sender is None:
            raise RuntimeError("this request was not sent by a function sandbox")
        self.kill_after = True

    def kill_sender(self) -> None:
        """SIGKILL the sandbox that sent this request, wait until it is gone, and drop the request.

        The invocation it was running ends as Lambda reports a sandbox that died (``Runtime.ExitError``,
        "signal: killed"). Never returns: raises :class:`SenderKilled`.
        """
        if self.sender is None:
            raise RuntimeError("this request was not sent by a function sandbox")
        self.sender.kill()
        raise SenderKilled(f"{self.sender.function} sandbox {self.sender.pid} killed")


Hook = Callable[[AwsRequest], None]


class AwsGateway:
    """The WSGI wrapper around moto's server application (see the module docstring)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], senders: Callable[[str], Sender | None]) -> None:
        self.app = app
        self.senders = senders
        self.hooks: list[Hook] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        with self._lock:
            hooks = list(self.hooks)
        if hooks:
            match = _APP_ID.search(str(environ.get("HTTP_USER_AGENT", "")))
            request = AwsRequest(environ, self.senders(match.group(1)) if match else None)
            try:
                for hook in hooks:
                    hook(request)
            except SenderKilled as killed:
                LOG.info("%s", killed)
                start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
                return [b"the sandbox that sent this request was killed"]
            if request.kill_after and request.sender is not None:
                list(self._serve(environ, lambda *args, **kwargs: None))  # served whole, never read
                request.sender.kill()
                sender = request.sender
                LOG.info("%s sandbox %s killed after its request was served", sender.function, sender.pid)
                start_response("500 Internal Server Error", [("Content-Type", "text/plain")])
                return [b"the sandbox that sent this request was killed after it was served"]
        return self._serve(environ, start_response)

    def _serve(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if str(environ.get("HTTP_X_AMZ_TARGET", "")).startswith("DynamoDB_"):
            with DYNAMODB_LOCK:  # served whole, one at a time (tools/local_stack/atomic.py)
                return list(self.app(environ, start_response))
        return self.app(environ, start_response)

    @contextmanager
    def intercept(self, hook: Hook) -> Iterator[None]:
        with self._lock:
            self.hooks.append(hook)
        try:
            yield
        finally:
            with self._lock:
                self.hooks.remove(hook)


class _QuietRequestHandler(MotoRequestHandler):
    """moto's request handler without an access log line per AWS call (the functions make thousands)."""

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass

    def log_error(self, format: str, *args: Any) -> None:
        LOG.debug("moto server: " + format, *args)


class AwsServer(ThreadedMotoServer):
    """moto's ``ThreadedMotoServer`` on a free 127.0.0.1 port, behind :class:`AwsGateway`.

    Parameters
    ----------
    senders:
        Maps a sandbox id (``AWS_SDK_UA_APP_ID``) to the :class:`Sender` it names, or None.
    """

    def __init__(self, senders: Callable[[str], Sender | None]) -> None:
        super().__init__(ip_address="127.0.0.1", port=0, verbose=False)
        self.gateway = AwsGateway(DomainDispatcherApplication(create_backend_app), senders)

    def _server_entry(self) -> None:  # ThreadedMotoServer's, with our WSGI wrapper and request handler
        self._server = make_server(
            self._ip_address, self._port, self.gateway, threaded=True, request_handler=_QuietRequestHandler
        )
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=0.05)

    @property
    def url(self) -> str:
        host, port = self.get_host_and_port()
        return f"http://{host}:{port}"

    def stop(self) -> None:
        server = self._server
        super().stop()
        if server is not None:
            server.server_close()

    def intercept(self, hook: Hook) -> Any:
        """``with server.intercept(hook):`` — ``hook(request)`` sees each request before moto serves it."""
        return self.gateway.intercept(hook)
