"""The whole product on this machine: the Xero emulator plus the local stack wired to it.

One place builds what ``make start``, ``make demo`` and the integration tests run, so they cannot drift:

    with running_app(seed="small") as app:
        httpx.post(f"{app.api_url}/orgs/acme/connect", auth=app.api_auth)  # signed: a single-use connect link
        app.admin.counts(app.tenant_id)                                # the emulator's own view
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from tools.local_stack.scheduler import ScheduleTicker
from tools.local_stack.sigv4 import LOCAL_CREDENTIALS, IamCredentials, SigV4ApiAuth, SigV4Signer
from tools.local_stack.stack import LocalStack
from tools.local_stack.template import DEFAULT_REGION, load_yaml

ROOT = Path(__file__).resolve().parents[2]
_EMULATOR_DIR = ROOT / "emulator"
if str(_EMULATOR_DIR) not in sys.path:  # the emulator is development infrastructure, not an installed package
    sys.path.insert(0, str(_EMULATOR_DIR))

from xero_emulator.admin_client import AdminClient  # noqa: E402
from xero_emulator.server import Emulator  # noqa: E402
from xero_emulator.testing import make_config  # noqa: E402

_XERO_URL_PARAMETERS = ("XeroLoginUrl", "XeroIdentityUrl", "XeroApiUrl")
DEFAULT_API_KEY = "local-api-key"  # local only (make start's API_KEY); in AWS, the stack's ArAppApiKey


def free_port(host: str = "127.0.0.1") -> int:
    """A port free now. Both servers need each other's URL before either starts, so ports come first."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def webhook_path(template: Mapping[str, Any]) -> str | None:
    """The path of the template's webhook receiver (a POST Api event whose path names a webhook), if any."""
    for resource in (template.get("Resources") or {}).values():
        events = ((resource or {}).get("Properties") or {}).get("Events") or {}
        for event in events.values():
            props = (event or {}).get("Properties") or {}
            path = str(props.get("Path", ""))
            is_post = str(props.get("Method", "")).lower() == "post"
            if event.get("Type") == "Api" and is_post and "webhook" in path:
                return path
    return None


def _api_document() -> str | None:
    """The committed OpenAPI document (``make openapi``), for the local stack's ``/docs`` page."""
    path = ROOT / "docs" / "openapi.json"
    return path.read_text(encoding="utf-8") if path.is_file() else None


@dataclass
class LocalApp:
    """A running emulator and local stack, pointing at each other."""

    stack: LocalStack
    emulator: Emulator
    api_url: str
    xero_url: str
    api_key: str
    api_credentials: IamCredentials  # what the AWS_IAM routes accept (SigV4, execute-api, region)
    region: str
    webhook_path: str | None
    webhook_registration: dict[str, Any] | None = None  # the intent-to-receive's result, when registered
    _admin: AdminClient | None = field(default=None, repr=False)

    @property
    def admin(self) -> AdminClient:
        """The emulator's admin API (seed, act as a Xero user, faults, clock, stats)."""
        if self._admin is None:
            self._admin = AdminClient(self.xero_url)
        return self._admin

    @property
    def api_auth(self) -> SigV4ApiAuth:
        """How a client of the integration API calls it: ``httpx.get(url, auth=app.api_auth)``.

        The one place credentials are attached: the API key (the usage plan) and a SigV4 signature for
        ``execute-api`` in the stack's region, as the AR backend signs with its role's credentials.
        """
        return SigV4ApiAuth(SigV4Signer(self.api_credentials, self.region), self.api_key)


@contextmanager
def running_app(
    *,
    template: str | Path = ROOT / "template.yaml",
    seed: str = "small",
    host: str = "127.0.0.1",
    api_port: int = 0,
    xero_port: int = 0,
    api_key: str = DEFAULT_API_KEY,
    api_credentials: IamCredentials | None = None,
    emulator_settings: Mapping[str, Any] | None = None,
    parameter_overrides: Mapping[str, Any] | None = None,
    env_overrides: Mapping[str, Mapping[str, Any]] | str | Path | None = None,
    log_sink: TextIO | None = None,
    pollers: bool = True,
    schedules: bool = False,
    register_webhooks: bool = True,
    stack_name: str = "xero-bridge-local",
    region: str = DEFAULT_REGION,
) -> Iterator[LocalApp]:
    """Start the emulator (seeded) and the local stack wired to it; stop both when the block ends.

    Parameters
    ----------
    api_credentials
        The access key pair the API's ``AWS_IAM`` routes accept (default: the local-only
        :data:`~tools.local_stack.sigv4.LOCAL_CREDENTIALS`).
    emulator_settings
        ``EmulatorConfig`` fields (``clock_scale``, ``enforce_rate_limits``...); the redirect URI and webhook
        URL are set here to the local API's.
    parameter_overrides
        Template parameters on top of the ones pointing the stack at the emulator.
    pollers
        Start the SQS event-source pollers (Lambda's behaviour); tests that poll by hand turn them off.
    schedules
        Fire the template's ``rate(...)`` schedules on their own (``make start``); tests fire them by hand.
    register_webhooks
        Register the emulator's webhook subscription to the local API with the stack's key, as a developer
        does at developer.xero.com: Xero's intent-to-receive must pass before deliveries count.
    """
    raw = load_yaml(Path(template))
    api_port = api_port or free_port(host)
    api_url = f"http://{host}:{api_port}"
    path = webhook_path(raw)
    config = make_config(
        seed=seed,
        redirect_uris=(f"{api_url}/callback",),
        webhook_url=f"{api_url}{path}" if path else None,
        **dict(emulator_settings or {}),
    )
    emulator = Emulator(config)
    xero_url = emulator.start(host, xero_port).rstrip("/")
    try:
        declared = raw.get("Parameters") or {}
        overrides: dict[str, Any] = {name: xero_url for name in _XERO_URL_PARAMETERS if name in declared}
        if "XeroRedirectUri" in declared:
            overrides["XeroRedirectUri"] = f"{api_url}/callback"
        if "PublicApiUrl" in declared:  # connect links point at the local API (http, no stage)
            overrides["PublicApiUrl"] = api_url
        # The app registered in the emulator: the stack uses the same id, secret and webhook key.
        app_credentials = {
            "XeroClientId": config.client_id,
            "XeroClientSecret": config.client_secret,
            "XeroWebhookKey": config.webhook_key,
        }
        overrides.update({k: v for k, v in app_credentials.items() if k in declared})
        overrides.update(parameter_overrides or {})
        stack = LocalStack(
            template,
            parameter_overrides=overrides,
            env_overrides=env_overrides,
            log_sink=log_sink,
            stack_name=stack_name,
            region=region,
        )
        with stack:
            stack.provision()
            credentials = api_credentials or LOCAL_CREDENTIALS
            stack.start_api(
                port=api_port, api_key=api_key, host=host, iam_credentials=credentials, docs=_api_document()
            )
            if pollers:
                stack.start_pollers()
            app = LocalApp(stack, emulator, api_url, xero_url, api_key, credentials, stack.region, path)
            if path and register_webhooks:
                app.webhook_registration = app.admin.register_webhook(f"{api_url}{path}", config.webhook_key)
            ticker = ScheduleTicker(stack.stack.schedules, stack.fire_schedule) if schedules else None
            if ticker is not None:
                ticker.start()
            try:
                yield app
            finally:
                if ticker is not None:
                    ticker.stop()
                if app._admin is not None:
                    app._admin.close()
    finally:
        emulator.stop()
