"""Shared: check customers' balances from the documents we hold — one customer (the balance keeper after a
write of the customer or one of its documents, the catch-up's recheck, the re-fetch), or every customer of a
tenant at once (the end of an initial sync).

Reads the customer and its whole ``GSI1`` partition (invoices, credit notes, overpayments, prepayments and
payments), lays the versions the caller just saw over what the index gave (an index may lag the table by a
moment; a stream's images never do), computes the balance and its explanation
(:mod:`xero_bridge.domain.balances`) and stores it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime

from xero_bridge.domain.balances import balance_of, explain_locally, held_documents
from xero_bridge.models.balances import CustomerBalance
from xero_bridge.models.records import Customer, Payment, RecordType, StoredRecord
from xero_bridge.services.ports import BalanceStore, RecordHistory

__all__ = ["check_customer", "check_tenant"]

_DOCUMENT_TYPES = (
    RecordType.INVOICE,
    RecordType.CREDIT_NOTE,
    RecordType.OVERPAYMENT,
    RecordType.PREPAYMENT,
    RecordType.PAYMENT,
)

_NOTHING_EXPLAINS = (
    "nothing we hold explains the difference: re-fetch this customer's documents from Xero "
    "(POST /orgs/{org_id}/customers/{contact_id}/refetch) to clear or confirm it"
)


def check_customer(
    *,
    tenant_id: str,
    org_id: str,
    contact_id: str,
    records: RecordHistory,
    balances: BalanceStore,
    now: datetime,
    seen: Iterable[StoredRecord] = (),
) -> CustomerBalance | None:
    """Recompute and store the customer's balance; None when we hold no such customer.

    Parameters
    ----------
    seen
        Versions the caller knows are current (a stream batch's new images), laid over what is read.
    """
    stored_customer = records.get(tenant_id, RecordType.CONTACT, contact_id)
    overlay = {(s.record_type, s.xero_id): s for s in seen}
    fresher = overlay.get((RecordType.CONTACT, contact_id))
    if fresher is not None and (
        stored_customer is None or fresher.xero_updated_at > stored_customer.xero_updated_at
    ):
        stored_customer = fresher
    if stored_customer is None or not isinstance(stored_customer.payload, Customer):
        return None
    customer = stored_customer.payload
    documents = {(s.record_type, s.xero_id): s for s in records.customer_documents(tenant_id, contact_id)}
    for key, version in overlay.items():
        if key[0] is RecordType.CONTACT:
            continue
        held = documents.get(key)
        if held is not None and held.xero_updated_at >= version.xero_updated_at:
            continue
        if getattr(version.payload, "contact_id", None) == contact_id:
            documents[key] = version
        else:  # moved to another customer
            documents.pop(key, None)
    balance = _balance(org_id, contact_id, customer, list(documents.values()), now)
    balances.put_balance(tenant_id, org_id, balance)
    return balance


def check_tenant(
    *, tenant_id: str, org_id: str, records: RecordHistory, balances: BalanceStore, now: datetime
) -> tuple[int, int]:
    """Check every customer of a tenant from one read of its records (the end of an initial sync: a
    check per customer per stream batch would read each customer's documents again and again).

    Returns
    -------
    tuple[int, int]
        Customers checked, of which off balance.
    """
    by_contact: dict[str, list[StoredRecord]] = defaultdict(list)
    for record_type in _DOCUMENT_TYPES:
        for stored in records.list_items(tenant_id, record_type):
            contact_id = getattr(stored.payload, "contact_id", None)
            if contact_id:
                by_contact[str(contact_id)].append(stored)
    checked: list[CustomerBalance] = []
    for stored in records.list_items(tenant_id, RecordType.CONTACT):
        if isinstance(stored.payload, Customer):
            checked.append(_balance(org_id, stored.xero_id, stored.payload, by_contact[stored.xero_id], now))
    balances.put_balances(tenant_id, org_id, checked)
    return len(checked), sum(1 for b in checked if b.off_balance)


def _balance(
    org_id: str, contact_id: str, customer: Customer, documents: Sequence[StoredRecord], now: datetime
) -> CustomerBalance:
    held = held_documents(documents)
    payments = [s.payload for s in documents if isinstance(s.payload, Payment)]
    balance = balance_of(customer, (h.payload for h in held), checked_at=now)
    if balance.off_balance:
        findings = explain_locally(customer, held, payments, balance)
        balance = balance.model_copy(
            update={
                "explanation": tuple(findings),
                "explained": bool(findings),
                "note": None
                if findings
                else _NOTHING_EXPLAINS.replace("{org_id}", org_id).replace("{contact_id}", contact_id),
            }
        )
    return balance
