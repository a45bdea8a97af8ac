"""Singer's ``tap-xero`` (2.6.0), unchanged, against the emulator: discovery, then a sync whose ids are ours.

The tap pins old libraries (singer-python 5.18, requests 2.33, jsonschema 2.6), so it lives in a virtualenv
of its own that ``make install`` / ``make test`` create (``.venv/tap-xero``), and it is driven as the CLI it
is: ``--discover``, then a sync with the catalog it wrote, in subprocesses. Only where it connects changes
(``tests/contract/clients/run_tap_xero.py``: its API base constant and its hard-coded token URL's host).

Its first call, the credentials check, is ``GET /Currencies``; it names resources ``credit_notes`` ->
``CreditNotes`` and ``organisations`` -> ``Organisations``; it pages with ``page`` and
``order=UpdatedDateUTC ASC`` and stops at a page under 100 records; it sends ``If-Modified-Since``; and it
checks each record against its own JSON schemas before writing it.
"""

from __future__ import annotations

import json
import os
import subprocess
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.contract.test_xero_sdk_against_emulator import APP, authorise
from xero_emulator.seed import SMALL_ORG
from xero_emulator.server import Emulator
from xero_emulator.testing import running_emulator

pytestmark = pytest.mark.contract

ROOT = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).parent / "clients" / "run_tap_xero.py"
TAP_PYTHON = Path(os.environ.get("TAP_XERO_PYTHON", ROOT / ".venv" / "tap-xero" / "bin" / "python"))
#: tap stream -> (the emulator's resource, the record's id field)
SYNCED = {
    "contacts": ("Contacts", "ContactID"),
    "credit_notes": ("CreditNotes", "CreditNoteID"),
    "invoices": ("Invoices", "InvoiceID"),
    "overpayments": ("Overpayments", "OverpaymentID"),
    "payments": ("Payments", "PaymentID"),
    "prepayments": ("Prepayments", "PrepaymentID"),
    "accounts": ("Accounts", "AccountID"),
    "currencies": ("Currencies", "Code"),
    "organisations": ("Organisation", "OrganisationID"),
}


@dataclass
class Tap:
    em: Emulator
    tenant_id: str
    workdir: Path

    @property
    def config(self) -> Path:
        return self.workdir / "config.json"

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [str(TAP_PYTHON), str(RUNNER), "--config", str(self.config), *args],
            env={**os.environ, "XERO_EMULATOR_URL": self.em.base_url},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == 0, f"tap-xero {' '.join(args)} failed:\n{done.stderr[-4000:]}"
        return done

    def sync(self, catalog: dict[str, Any], state: dict[str, Any] | None = None) -> list[dict[str, Any]]:
        (self.workdir / "catalog.json").write_text(json.dumps(catalog))
        args = ["--catalog", str(self.workdir / "catalog.json")]
        if state is not None:
            (self.workdir / "state.json").write_text(json.dumps(state))
            args += ["--state", str(self.workdir / "state.json")]
        return [json.loads(line) for line in self.run(*args).stdout.splitlines() if line.strip()]


@pytest.fixture(scope="module")
def tap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tap]:
    if not TAP_PYTHON.exists():
        pytest.fail(f"tap-xero's virtualenv is missing ({TAP_PYTHON}): `make install` creates it")
    workdir = tmp_path_factory.mktemp("tap-xero")
    with running_emulator(seed="small") as em:
        tokens = authorise(em.base_url)
        connections = httpx.get(
            f"{em.base_url}/connections", headers={"Authorization": f"Bearer {tokens['access_token']}"}
        ).json()
        tenant_id = next(c["tenantId"] for c in connections if c["tenantName"] == SMALL_ORG)
        config = {
            "start_date": "2000-01-01T00:00:00Z",
            "client_id": APP.client_id,
            "client_secret": APP.client_secret,
            "tenant_id": tenant_id,
            "refresh_token": tokens["refresh_token"],
        }
        (workdir / "config.json").write_text(json.dumps(config))
        yield Tap(em=em, tenant_id=tenant_id, workdir=workdir)


@pytest.fixture(scope="module")
def catalog(tap: Tap) -> dict[str, Any]:
    """``--discover``, with the synced streams selected as a Singer user selects them."""
    discovered = json.loads(tap.run("--discover").stdout)
    for stream in discovered["streams"]:
        if stream["tap_stream_id"] in SYNCED:
            for entry in stream["metadata"]:
                if entry["breadcrumb"] == []:
                    entry["metadata"]["selected"] = True
    return discovered


@pytest.fixture(scope="module")
def first_sync(tap: Tap, catalog: dict[str, Any]) -> list[dict[str, Any]]:
    return tap.sync(catalog)


def records_by_stream(messages: list[dict[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for message in messages:
        if message["type"] == "RECORD":
            found[message["stream"]].append(message["record"])
    return found


def emulator_ids(tap: Tap, resource: str, id_field: str) -> list[str]:
    key = "Organisations" if resource == "Organisation" else resource
    body = tap.em.store.list_resource(tap.tenant_id, resource)  # archived contacts left out, as Xero does
    return [str(record[id_field]) for record in body[key]]


def test_discovery_checks_the_credentials_and_lists_the_streams(tap: Tap, catalog: dict[str, Any]) -> None:
    streams = {s["tap_stream_id"]: s for s in catalog["streams"]}
    assert set(SYNCED) <= set(streams)
    assert streams["invoices"]["key_properties"] == ["InvoiceID"]
    # The credentials check went through the emulator: GET /Currencies, with a token from its refresh
    calls = tap.em.stats.snapshot()["tenants"][tap.tenant_id]["by_path"]
    assert calls["GET /api.xro/2.0/Currencies"] >= 1
    # And the tap saved the rotated refresh token in its config, as it does against Xero
    assert json.loads(tap.config.read_text())["refresh_token"]


def test_a_sync_writes_every_record_with_the_emulators_ids(
    tap: Tap, first_sync: list[dict[str, Any]]
) -> None:
    found = records_by_stream(first_sync)
    for stream, (resource, id_field) in SYNCED.items():
        expected = emulator_ids(tap, resource, id_field)
        assert expected, f"the seed has no {resource}"
        got = [str(record[id_field]) for record in found[stream]]
        assert sorted(got) == sorted(expected), stream
        assert len(got) == len(set(got)), f"{stream}: a record written twice"
    # Invoices span two of the tap's 100-record pages, in UpdatedDateUTC order
    assert len(found["invoices"]) > 100
    calls = tap.em.stats.snapshot()["tenants"][tap.tenant_id]["by_path"]
    assert calls["GET /api.xro/2.0/Invoices"] >= 2
    assert calls["GET /api.xro/2.0/Organisation"] >= 1  # asked for as "Organisations"


def test_the_records_keep_xeros_values(tap: Tap, first_sync: list[dict[str, Any]]) -> None:
    found = records_by_stream(first_sync)
    ours = {
        i["InvoiceID"]: i
        for i in tap.em.store.list_resource(tap.tenant_id, "Invoices", page=1, page_size=1000)["Invoices"]
    }
    for record in found["invoices"]:
        invoice = ours[record["InvoiceID"]]
        assert (record["InvoiceNumber"], record["Status"], record["Type"]) == (
            invoice["InvoiceNumber"],
            invoice["Status"],
            invoice["Type"],
        )
        assert Decimal(str(record["Total"])) == invoice["Total"]
        assert record["Contact"]["ContactID"] == invoice["Contact"]["ContactID"]
        assert record["UpdatedDateUTC"].endswith("Z")  # the tap's RFC 3339 of Xero's /Date(...)/


def test_the_next_sync_brings_only_what_changed(
    tap: Tap, catalog: dict[str, Any], first_sync: list[dict[str, Any]]
) -> None:
    # Given the state the first sync ended with, and one invoice edited in Xero since
    state = next(m["value"] for m in reversed(first_sync) if m["type"] == "STATE")
    draft = next(
        i
        for i in tap.em.store.list_resource(tap.tenant_id, "Invoices")["Invoices"]
        if i["Status"] == "DRAFT" and i["Type"] == "ACCREC"
    )
    tap.em.clock.advance(5)
    tap.em.store.admin_edit_invoice(tap.tenant_id, draft["InvoiceID"], {"Reference": "edited for the tap"})
    # When the tap syncs from that state
    found = records_by_stream(tap.sync(catalog, state))
    # Then the edited invoice comes back, with its contact whose balance moved, and nothing else
    assert [i["InvoiceID"] for i in found["invoices"]] == [draft["InvoiceID"]]
    assert found["invoices"][0]["Reference"] == "edited for the tap"
    assert [c["ContactID"] for c in found["contacts"]] == [draft["Contact"]["ContactID"]]
    assert not found["payments"] and not found["credit_notes"]
