"""Every operation of docs/openapi.json driven by schemathesis against the local stack: generated requests,
valid and invalid, and every answer must be what the document says (a declared status, a body matching its
schema, a declared content type), never a 5xx, and an invalid request never accepted.

The stack holds an org synced from the seed's Demo Company, and the GET operations are sent to that org half
of the time, so the records' real bodies are checked against their schemas too (a random org id alone only
ever meets 400 and 409). Operations that change things keep their random org ids: the fuzz never
disconnects or re-syncs the synced org. Bounded for ``make test``: a fixed number of examples per operation,
derandomized (the same requests every run), no shrinking phase.

Every request is signed by ``LocalApp.api_auth`` (SigV4 and the API key), as every other test's is.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    negative_data_rejection,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.integration.app.harness import App, connect, consent, new_org, returned, synced
from tools.openapi import DOCUMENTS
from xero_emulator.seed import SMALL_ORG

pytestmark = pytest.mark.integration

EXAMPLES_PER_OPERATION = 25
#: Browser routes whose refusals are redirects back to the AR app (``status=error&error=...``).
REFUSES_BY_REDIRECT = {"/callback"}
#: What each operation answered during the fuzz (the last test reads it).
ANSWERED: defaultdict[str, set[int]] = defaultdict(set)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]


@pytest.fixture(scope="module")
def synced_org(app: App) -> str:
    tenant_id = next(t["tenant_id"] for t in app.admin.tenants() if t["name"] == SMALL_ORG)
    consent(app, [tenant_id])
    org_id = new_org()
    assert returned(app, connect(app, org_id))["status"] == "connected"
    synced(app, org_id)
    return org_id


@pytest.fixture(scope="module")
def session(app: App) -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.auth = app.api_auth
        yield http


@pytest.fixture(scope="module")
def api_schema(app: App, synced_org: str) -> Any:
    document = json.loads(DOCUMENTS[0].read_text(encoding="utf-8"))
    schema = schemathesis.openapi.from_dict(document)
    schema.config.update(base_url=app.api_url)
    # Credentials are not a parameter to fuzz: app.api_auth adds them to every request (API Gateway's own
    # refusal of a request without them is tested with the gateway).
    schema.config.generation.update(
        modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
        deterministic=True,
        with_security_parameters=False,
    )

    @schema.hook
    def flatmap_path_parameters(context: Any, path_parameters: dict[str, Any] | None) -> Any:
        if path_parameters is None or context.operation.method.upper() != "GET":
            return st.just(path_parameters)
        if not isinstance(path_parameters.get("org_id"), str):
            return st.just(path_parameters)
        return st.sampled_from([path_parameters, {**path_parameters, "org_id": synced_org}])

    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,  # the same requests every run, and nothing written beside the repository
    deadline=None,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_answers_as_documented(case: Any, session: requests.Session, app: App) -> None:
    # Redirects are answers to check, never followed: /callback sends the browser to the AR app's URL.
    response = case.call(session=session, allow_redirects=False, timeout=30)
    ANSWERED[f"{case.operation.method.upper()} {case.operation.path}"].add(response.status_code)

    if case.operation.path in REFUSES_BY_REDIRECT and response.status_code == 302:
        # A browser is sent back to the AR app with the refusal rather than shown a JSON 400.
        case.validate_response(response, checks=[c for c in CHECKS if c is not negative_data_rejection])
        location = response.headers["location"][0]  # schemathesis' response: lower-case names, lists
        back = dict(parse_qsl(urlsplit(location).query))
        assert location.startswith(app.return_url + "?")
        if case.meta is not None and case.meta.generation.mode.is_negative:
            assert back["status"] == "error", "a request the document calls invalid was accepted"
        return
    case.validate_response(response, checks=CHECKS)


def test_the_fuzz_read_the_synced_records_not_only_refusals() -> None:
    # Without 200s from the synced org, the record schemas would never have met a real record.
    listings = ["customers", "invoices", "credit-notes", "xero-payments", "connection", "sync"]
    for route in listings:
        assert 200 in ANSWERED[f"GET /orgs/{{org_id}}/{route}"], (route, ANSWERED)
    assert 400 in ANSWERED["GET /orgs/{org_id}/invoices"]  # and invalid requests were sent
