"""The emulator's response bodies against Xero's official OpenAPI spec (xero_accounting.yaml).

Each body is validated as the client would receive it: encoded by the emulator, decoded with ``json.loads``.
The spec models Xero dates as strings (``x-is-msdate``) and money as numbers, which is what travels.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from xero_emulator import xero_json
from xero_emulator.clock import Clock
from xero_emulator.errors import BadRequest
from xero_emulator.seed import seed
from xero_emulator.store import XeroStore

pytestmark = pytest.mark.contract
SPEC_URI = "urn:xero:accounting"


@pytest.fixture(scope="module")
def accounting_spec() -> dict[str, Any]:
    specs = _specs_dir()  # the root ``xero_specs`` fixture is function-scoped; same folder, same skip
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with (specs / "xero_accounting.yaml").open() as handle:
        return yaml.load(handle, Loader=loader)


def _specs_dir() -> Path:
    from conftest import SHARED_SPECS

    if not SHARED_SPECS.is_dir():
        pytest.skip(f"Xero's OpenAPI specs are not at {SHARED_SPECS}")
    return SHARED_SPECS


@pytest.fixture(scope="module")
def seeded() -> tuple[XeroStore, str]:
    store = XeroStore(Clock())
    return store, seed(store, "small")[0]


def _validate(spec: dict[str, Any], schema_name: str, body: dict[str, Any]) -> None:
    registry: Registry = Registry().with_resource(
        SPEC_URI, Resource.from_contents(spec, default_specification=DRAFT4)
    )
    validator = OAS30Validator(
        {"$ref": f"{SPEC_URI}#/components/schemas/{schema_name}"},
        registry=registry,
        format_checker=oas30_format_checker,
    )
    decoded = json.loads(xero_json.dumps(body))
    errors = sorted(validator.iter_errors(decoded), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors[:10])


@pytest.mark.parametrize(
    ("resource", "schema"),
    [
        ("Contacts", "Contacts"),
        ("Invoices", "Invoices"),
        ("CreditNotes", "CreditNotes"),
        ("Payments", "Payments"),
        ("Overpayments", "Overpayments"),
        ("Prepayments", "Prepayments"),
        ("Accounts", "Accounts"),
        ("Organisation", "Organisations"),
        ("Organisations", "Organisations"),
        ("Currencies", "Currencies"),
    ],
)
def test_list_bodies_match_the_spec(
    xero_specs: Path,
    accounting_spec: dict[str, Any],
    seeded: tuple[XeroStore, str],
    resource: str,
    schema: str,
) -> None:
    store, tenant = seeded
    paged = store.list_resource(tenant, resource, page=1, page_size=1000, include_archived=True)
    key = schema
    assert paged[key], f"no {resource} seeded"
    _validate(accounting_spec, schema, paged)
    _validate(accounting_spec, schema, store.list_resource(tenant, resource, summary_only=True))


def test_the_validator_does_reject_a_wrong_body(xero_specs: Path, accounting_spec: dict[str, Any]) -> None:
    with pytest.raises(AssertionError):
        _validate(accounting_spec, "Invoices", {"Invoices": [{"Type": "BOGUS", "InvoiceID": "not-a-uuid"}]})


def test_users_body_matches_the_spec(
    xero_specs: Path, accounting_spec: dict[str, Any], seeded: tuple[XeroStore, str]
) -> None:
    store, tenant = seeded
    body = store.list_resource(tenant, "Users")
    assert body["Users"]
    _validate(accounting_spec, "Users", body)


def test_write_answers_match_the_spec(
    xero_specs: Path, accounting_spec: dict[str, Any], seeded: tuple[XeroStore, str]
) -> None:
    store, tenant = seeded
    invoice = store.list_resource(tenant, "Invoices", where='Type=="ACCREC" AND Status=="AUTHORISED"')[
        "Invoices"
    ][0]
    status, payments = store.create_payments(
        tenant,
        {
            "Payments": [
                {
                    "Invoice": {"InvoiceID": invoice["InvoiceID"]},
                    "Account": {"Code": "090"},
                    "Date": "2099-01-01",
                    "Amount": Decimal("0.01"),
                },
                {
                    "Invoice": {"InvoiceID": invoice["InvoiceID"]},
                    "Account": {"Code": "200"},
                    "Date": "2099-01-01",
                    "Amount": Decimal("0.01"),
                },
            ]
        },
        summarize_errors=False,
    )
    assert status == 200
    _validate(accounting_spec, "Payments", payments)
    with pytest.raises(BadRequest) as refused:
        store.create_payments(
            tenant,
            {
                "Payments": [
                    {"Invoice": {"InvoiceID": invoice["InvoiceID"]}, "Account": {"Code": "999"}, "Amount": 1}
                ]
            },
        )
    assert refused.value.body is not None
    _validate(accounting_spec, "Error", refused.value.body)
    contact = store.list_resource(tenant, "Contacts")["Contacts"][0]
    _, contacts = store.upsert_contacts(
        tenant, {"Contacts": [{"ContactID": contact["ContactID"], "Website": "x"}]}
    )
    _validate(accounting_spec, "Contacts", contacts)
