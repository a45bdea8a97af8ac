"""The emulator's identity answers and webhook bodies against Xero's specs (xero-identity, xero-webhooks).

Xero sends timestamps without a zone on these two APIs (``2019-12-07T18:46:19.5165400`` for connections,
``2025-12-02T00:44:09.923`` for webhook events -- both are the specs' own examples) although the schemas say
``format: date-time``, which strictly wants an offset. The emulator sends what Xero sends; the checker
below accepts RFC 3339 date-times with or without the offset and checks every other format strictly.
The spec examples themselves are validated with the same checker, so the tolerance is exactly Xero's.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import pytest
import yaml
from jsonschema import FormatChecker
from openapi_schema_validator import OAS30Validator, OAS31Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from xero_emulator.oauth import s256
from xero_emulator.server import Emulator
from xero_emulator.testing import running_emulator

pytestmark = pytest.mark.contract

_XERO_DATE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})?$")


def _format_checker() -> FormatChecker:
    checker = FormatChecker()
    checker.checkers = dict(oas30_format_checker.checkers)

    @checker.checks("date-time")
    def _date_time(value: object) -> bool:
        return not isinstance(value, str) or bool(_XERO_DATE_TIME.match(value))

    @checker.checks("uuid")
    def _uuid(value: object) -> bool:
        return not isinstance(value, str) or bool(
            re.fullmatch(
                r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", value
            )
        )

    return checker


def _load(specs: Path, name: str) -> dict[str, Any]:
    with (specs / name).open() as handle:
        return yaml.safe_load(handle)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with running_emulator(webhook_batch_real_seconds=0.1) as em:
        yield em


def _connect(em: Emulator) -> str:
    http = httpx.Client(base_url=em.base_url)
    verifier = secrets.token_urlsafe(48)
    location = http.get(
        "/identity/connect/authorize",
        params={
            "response_type": "code",
            "client_id": em.config.client_id,
            "redirect_uri": em.config.redirect_uris[0],
            "scope": "openid offline_access accounting.contacts accounting.transactions",
            "state": "s",
            "code_challenge": s256(verifier),
            "code_challenge_method": "S256",
        },
    ).headers["location"]
    code = parse_qs(urlparse(location).query)["code"][0]
    tokens = http.post(
        "/connect/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": em.config.redirect_uris[0],
            "code_verifier": verifier,
        },
        auth=(em.config.client_id, em.config.client_secret),
    ).json()
    return str(tokens["access_token"])


def test_get_connections_matches_xero_identity_spec(xero_specs: Path, emulator: Emulator) -> None:
    spec = _load(xero_specs, "xero-identity.yaml")
    emulator.store.add_tenant("Contract Org A")
    emulator.store.add_tenant("Contract Org B")
    token = _connect(emulator)
    response = httpx.get(f"{emulator.base_url}/connections", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    body = response.json()
    assert len(body) == 2
    ok_schema = spec["paths"]["/Connections"]["get"]["responses"]["200"]["content"]["application/json"]
    connection_schema = spec["components"]["schemas"]["Connection"]
    array_schema = {"type": "array", "items": connection_schema}
    validator = OAS30Validator(array_schema, format_checker=_format_checker())
    validator.validate(body)
    # Same checker on Xero's own example: the tolerance is Xero's, no more
    validator.validate(json.loads(ok_schema["example"]))
    # Every property Xero documents is present (the schema lists none as required)
    assert set(connection_schema["properties"]) <= set(body[0])


def test_delete_connection_answers_204_then_404(xero_specs: Path, emulator: Emulator) -> None:
    spec = _load(xero_specs, "xero-identity.yaml")
    documented = set(spec["paths"]["/Connections/{id}"]["delete"]["responses"])
    emulator.store.add_tenant("Contract Org")
    token = _connect(emulator)
    headers = {"Authorization": f"Bearer {token}"}
    [connection] = httpx.get(f"{emulator.base_url}/connections", headers=headers).json()
    first = httpx.delete(f"{emulator.base_url}/connections/{connection['id']}", headers=headers)
    second = httpx.delete(f"{emulator.base_url}/connections/{connection['id']}", headers=headers)
    assert {str(first.status_code), str(second.status_code)} <= documented


class _Capture:
    def __init__(self) -> None:
        self.bodies: list[bytes] = []
        self.event = threading.Event()

    def __call__(self, environ: Any, start_response: Any) -> Any:
        self.bodies.append(Request(environ).get_data())
        self.event.set()
        return Response(b"", status=200)(environ, start_response)


def test_webhook_bodies_match_xero_webhooks_spec(xero_specs: Path, emulator: Emulator) -> None:
    spec = _load(xero_specs, "xero-webhooks.yaml")
    capture = _Capture()
    server = make_server("127.0.0.1", 0, capture, threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        emulator.webhooks.configure(url=f"http://127.0.0.1:{server.server_port}/hook")
        tenant_id = emulator.store.add_tenant("Webhook Org")
        contact = emulator.store.admin_create_contact(tenant_id, "Webhook Customer")
        emulator.store.admin_create_credit(tenant_id, "CreditNote", contact["ContactID"], Decimal("10.00"))
        assert emulator.webhooks.wait_idle(5)
    finally:
        server.shutdown()
        server.server_close()
    registry: Registry = Registry().with_resource(
        "urn:xero:webhooks", Resource.from_contents(spec, default_specification=DRAFT202012)
    )
    plain = OAS31Validator(
        {"$ref": "urn:xero:webhooks#/components/schemas/WebhookEvent"},
        registry=registry,
        format_checker=_format_checker(),
    )
    credit = OAS31Validator(
        {"$ref": "urn:xero:webhooks#/components/schemas/CreditNoteWebhookEvent"},
        registry=registry,
        format_checker=_format_checker(),
    )
    bodies = [json.loads(raw) for raw in capture.bodies]
    assert bodies, "no webhook was delivered"
    categories = set()
    for body in bodies:
        plain.validate(body)
        for event in body["events"]:
            categories.add(event["eventCategory"])
        if all(e["eventCategory"] == "CREDITNOTE" for e in body["events"]):
            credit.validate(body)
    assert {"CONTACT", "CREDITNOTE"} <= categories
    # Xero's own example passes the same validators
    example = spec["webhooks"]["creditNotes"]["post"]["requestBody"]["content"]["application/json"][
        "examples"
    ]
    # (YAML reads the unquoted eventDateUtc as a datetime; on the wire it is Xero's zone-less string)
    as_sent = json.dumps(
        example["creditNoteCreate"]["value"], default=lambda d: d.isoformat(timespec="milliseconds")
    )
    credit.validate(json.loads(as_sent))
