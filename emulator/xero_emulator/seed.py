"""Deterministic Xero organisations for tests, the demo and benchmarks.

``seed(store, profile, rng_seed=7)`` fills a :class:`~xero_emulator.store.XeroStore` and returns the new
tenant ids. Every id comes from a seeded :class:`random.Random` (``uuid.UUID(int=rng.getrandbits(128),
version=4)``), so the same seed gives the same ids whatever the clock; dates are relative to the clock's
"today" so that due, overdue and paid look the same on any day. Records go in through
:meth:`XeroStore.bulk_load`: no per-record validation, no webhook events, but the same ledger computes
AmountDue, statuses and balances.

Profiles:

* ``none``: no tenant (a connection with nothing to authorise yet).
* ``small``: "Demo Company (Global)" (AUD) with every case a sync meets, plus "Second Org Ltd" (NZD) for
  multi-tenant tests. See :data:`SMALL_CASES` for what the small profile guarantees.
* ``large``: one organisation with 30,000 contacts (70% customers) and 120,000 invoices (90% ACCREC) with
  proportionate credit notes, payments, overpayments and prepayments; seeds in seconds.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from xero_emulator import xero_json as xj
from xero_emulator.store import (
    Account,
    Allocation,
    Contact,
    CreditDocument,
    Invoice,
    LineItem,
    Payment,
    User,
    XeroStore,
    default_rate,
    document_totals,
    make_line,
)

PROFILES = ("none", "small", "large")
SMALL_ORG = "Demo Company (Global)"
SECOND_ORG = "Second Org Ltd"
LARGE_ORG = "Large Company Pty Ltd"

#: What the small profile contains (each asserted by tests/unit/emulator/test_seed.py).
SMALL_CASES = (
    "customers, supplier-only, both-way, archived customers and a contact with no documents",
    "phones of every type; some contacts with a MOBILE number, some without",
    "invoices in AUD, USD, NZD and GBP with CurrencyRate",
    "ACCREC and ACCPAY invoices in DRAFT, SUBMITTED, AUTHORISED, PAID, VOIDED and DELETED",
    "partly paid and overdue invoices, ExpectedPaymentDate on some, invoices dated before 1970",
    "ACCRECCREDIT and ACCPAYCREDIT credit notes, some allocated, some not",
    "RECEIVE and SPEND overpayments and prepayments with allocations",
    "payments into an AUD and a USD bank account, one deleted payment",
    "BANK accounts in AUD and USD, an archived bank account, REVENUE 200 and other accounts",
    "a period lock date, an adviser (admin, the subscriber) and a STANDARD user",
)

_FIRST = ("Ava", "Liam", "Mia", "Noah", "Zoe", "Ethan", "Isla", "Lucas", "Ruby", "Oscar", "Chloe", "Leo")
_LAST = ("Smith", "Nguyen", "Brown", "Wilson", "Taylor", "Martin", "Lee", "Walker", "Hall", "Young", "King")
_TRADES = (
    "Plumbing",
    "Catering",
    "Design",
    "Logistics",
    "Consulting",
    "Electrical",
    "Landscaping",
    "Printing",
    "Software",
    "Bakery",
    "Freight",
    "Media",
)
_SUFFIX = ("Pty Ltd", "Ltd", "& Co", "Group", "Holdings", "Studio", "Partners", "Services")
_ITEMS = (
    "Consulting hours",
    "Monthly retainer",
    "Hardware",
    "Installation",
    "Support plan",
    "Training",
    "Freight",
)


@dataclass
class _Builder:
    """Prepared records of one organisation, with the ledger arithmetic needed to keep them consistent."""

    rng: random.Random
    tenant_id: str
    base: str
    now: datetime
    accounts: list[Account] = field(default_factory=list)
    contacts: list[Contact] = field(default_factory=list)
    invoices: list[Invoice] = field(default_factory=list)
    credits: list[CreditDocument] = field(default_factory=list)
    payments: list[Payment] = field(default_factory=list)
    allocations: list[Allocation] = field(default_factory=list)
    users: list[User] = field(default_factory=list)
    due: dict[str, Decimal] = field(default_factory=dict)  # invoice id -> left to pay
    remaining: dict[str, Decimal] = field(default_factory=dict)  # credit id -> left to allocate
    invoice_number: int = 0
    credit_number: int = 0

    @property
    def today(self) -> date:
        return self.now.date()

    def uid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def updated(self, not_before: date | None = None) -> datetime:
        """A past ``UpdatedDateUTC`` (up to 90 days ago, after the document's date when it is recent)."""
        # Draw the same random numbers whatever the clock says, so ids do not depend on the date.
        stamp = self.now - timedelta(seconds=self.rng.randint(60, 90 * 86400))
        fraction = self.rng.random()
        if not_before is not None:
            floor = datetime(not_before.year, not_before.month, not_before.day, 9, tzinfo=UTC)
            if floor < self.now and stamp < floor:
                stamp = floor + (self.now - floor) * fraction * 0.9
        return xj.truncate_ms(stamp)

    def account(self, code: str, name: str, type_: str, **kwargs: object) -> Account:
        account = Account(self.uid(), code, name, type_, self.updated(), **kwargs)  # type: ignore[arg-type]
        self.accounts.append(account)
        return account

    def standard_accounts(self, with_foreign_bank: bool = True) -> dict[str, Account]:
        base = self.base
        out = {
            "bank": self.account(
                "090",
                "Business Bank Account",
                "BANK",
                currency_code=base,
                bank_account_number="062-000 1234 5678",
            ),
            "archived_bank": self.account(
                "092",
                "Old Savings Account",
                "BANK",
                currency_code=base,
                status="ARCHIVED",
                bank_account_number="0099",
            ),
            "sales": self.account("200", "Sales", "REVENUE", tax_type="OUTPUT"),
            "other_revenue": self.account("260", "Other Revenue", "OTHERINCOME", tax_type="OUTPUT"),
            "cogs": self.account("310", "Cost of Goods Sold", "DIRECTCOSTS", tax_type="INPUT"),
            "advertising": self.account("400", "Advertising", "OVERHEADS", tax_type="INPUT"),
            "general": self.account("429", "General Expenses", "OVERHEADS", tax_type="INPUT"),
            "receivable": self.account("610", "Accounts Receivable", "CURRENT", system_account="DEBTORS"),
            "payable": self.account("800", "Accounts Payable", "CURRLIAB", system_account="CREDITORS"),
            "gst": self.account("820", "GST", "CURRLIAB", system_account="GST"),
            "clearing": self.account("855", "Clearing Account", "CURRLIAB", enable_payments=True),
        }
        if with_foreign_bank:
            out["usd_bank"] = self.account(
                "091", "USD Bank Account", "BANK", currency_code="USD", bank_account_number="USD-0001"
            )
        return out

    def contact(
        self,
        name: str,
        *,
        status: str = "ACTIVE",
        mobile: bool = True,
        currency: str = "",
        full_phones: bool = True,
        email: bool = True,
    ) -> Contact:
        rng = self.rng
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        area = str(rng.randint(2, 9))
        phones: list[dict[str, str]]
        if full_phones:  # Xero lists all four phone types, empty where not set
            phones = [
                _phone("DEFAULT", f"{rng.randint(1000, 9999)} {rng.randint(1000, 9999)}", f"0{area}", "61"),
                _phone(
                    "DDI",
                    f"{rng.randint(1000, 9999)} {rng.randint(1000, 9999)}" if rng.random() < 0.3 else "",
                ),
                _phone(
                    "FAX",
                    f"{rng.randint(1000, 9999)} {rng.randint(1000, 9999)}" if rng.random() < 0.2 else "",
                ),
                _phone(
                    "MOBILE",
                    f"04{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)}"
                    if mobile
                    else "",
                ),
            ]
        else:
            phones = [
                _phone("DEFAULT", f"{rng.randint(1000, 9999)} {rng.randint(1000, 9999)}", f"0{area}", "61")
            ]
        slug = "".join(ch for ch in name.lower() if ch.isalnum())[:20]
        contact = Contact(
            contact_id=self.uid(),
            name=name,
            updated=self.updated(),
            status=status,
            first_name=first,
            last_name=last,
            email=f"{first.lower()}@{slug}.example" if email else "",
            account_number=f"C{len(self.contacts) + 1:05d}",
            default_currency=currency,
            phones=phones,
            addresses=[
                {
                    "AddressType": "POBOX",
                    "AddressLine1": f"PO Box {rng.randint(1, 999)}",
                    "City": "Sydney",
                    "Region": "NSW",
                    "PostalCode": "2001",
                    "Country": "Australia",
                },
                {
                    "AddressType": "STREET",
                    "AddressLine1": f"{rng.randint(1, 300)} George St",
                    "City": "Sydney",
                    "Region": "NSW",
                    "PostalCode": "2000",
                    "Country": "Australia",
                },
            ],
        )
        self.contacts.append(contact)
        return contact

    def lines(self, doc_type: str, lat: str, count: int | None = None) -> list[LineItem]:
        rng = self.rng
        receivable = doc_type.startswith(("ACCREC", "RECEIVE"))
        code = "200" if receivable else rng.choice(("310", "400", "429"))
        tax = "NONE" if lat == "NoTax" else ("OUTPUT" if receivable else "INPUT")
        return [
            make_line(
                rng.choice(_ITEMS),
                Decimal(rng.randint(1, 10)),
                Decimal(rng.randint(2000, 250000)) / 100,
                account_code=code,
                tax_type=tax,
                lat=lat,
                line_item_id=self.uid(),
            )
            for _ in range(count or rng.randint(1, 3))
        ]

    def invoice(
        self,
        contact: Contact,
        doc_type: str,
        status: str,
        doc_date: date,
        *,
        currency: str | None = None,
        rate: Decimal | None = None,
        due_in: int = 30,
        expected: date | None = None,
        lat: str = "Exclusive",
        lines: list[LineItem] | None = None,
    ) -> Invoice:
        currency = currency or contact.default_currency or self.base
        rate = (
            xj.rate(Decimal(1))
            if currency == self.base
            else xj.rate(rate or default_rate(self.base, currency))
        )
        items = lines if lines is not None else self.lines(doc_type, lat)
        sub_total, total_tax, total = document_totals(items, lat)
        if doc_type == "ACCREC":
            self.invoice_number += 1
            number = f"INV-{self.invoice_number:04d}"
        else:
            number = f"BILL-{self.rng.randint(10000, 99999)}" if self.rng.random() < 0.8 else ""
        invoice = Invoice(
            invoice_id=self.uid(),
            type=doc_type,
            contact_id=contact.contact_id,
            number=number,
            date=doc_date,
            due_date=doc_date + timedelta(days=due_in),
            status=status,
            line_items=items,
            currency_code=currency,
            currency_rate=rate,
            sub_total=sub_total,
            total_tax=total_tax,
            total=total,
            updated=self.updated(doc_date),
            reference=f"PO-{self.rng.randint(1000, 9999)}"
            if doc_type == "ACCREC" and self.rng.random() < 0.5
            else "",
            line_amount_types=lat,
            expected_payment_date=expected,
            sent_to_contact=status in ("AUTHORISED", "PAID") and doc_type == "ACCREC",
        )
        self.invoices.append(invoice)
        self.due[invoice.invoice_id] = total if status in ("AUTHORISED", "PAID") else Decimal(0)
        return invoice

    def pay(
        self,
        invoice: Invoice,
        amount: Decimal,
        bank: Account,
        pay_date: date,
        *,
        deleted: bool = False,
        reference: str = "",
    ) -> Payment:
        amount = xj.money(amount)
        if not deleted:
            assert amount <= self.due[invoice.invoice_id], "seed pays more than is due"
            self.due[invoice.invoice_id] -= amount
        bank_currency = bank.currency_code or self.base
        bank_amount = (
            amount if bank_currency == invoice.currency_code else xj.money(amount / invoice.currency_rate)
        )
        payment = Payment(
            payment_id=self.uid(),
            invoice_id=invoice.invoice_id,
            account_id=bank.account_id,
            date=pay_date,
            amount=amount,
            bank_amount=bank_amount,
            currency_rate=invoice.currency_rate,
            payment_type="ACCRECPAYMENT" if invoice.type == "ACCREC" else "ACCPAYPAYMENT",
            updated=self.updated(pay_date),
            reference=reference or f"Payment {self.rng.randint(1000, 9999)}",
            status="DELETED" if deleted else "AUTHORISED",
            is_reconciled=self.rng.random() < 0.7,
        )
        self.payments.append(payment)
        return payment

    def pay_in_full(self, invoice: Invoice, bank: Account, pay_date: date) -> None:
        left = self.due[invoice.invoice_id]
        if left > 0:
            self.pay(invoice, left, bank, pay_date)

    def credit(
        self,
        kind: str,
        contact: Contact,
        doc_type: str,
        doc_date: date,
        *,
        status: str = "AUTHORISED",
        currency: str | None = None,
        amount: Decimal | None = None,
    ) -> CreditDocument:
        currency = currency or contact.default_currency or self.base
        rate = xj.rate(Decimal(1)) if currency == self.base else default_rate(self.base, currency)
        if amount is not None:
            lat = "NoTax"
            items = [
                make_line(
                    f"{kind} {doc_type.lower()}",
                    Decimal(1),
                    amount,
                    account_code="",
                    tax_type="NONE",
                    lat=lat,
                    line_item_id=self.uid(),
                )
            ]
        else:
            lat = "Exclusive" if kind == "CreditNote" else "NoTax"
            items = self.lines(doc_type, lat, 1)
        sub_total, total_tax, total = document_totals(items, lat)
        number = ""
        if kind == "CreditNote":
            self.credit_number += 1
            number = f"CN-{self.credit_number:04d}"
        doc = CreditDocument(
            kind=kind,
            doc_id=self.uid(),
            type=doc_type,
            contact_id=contact.contact_id,
            date=doc_date,
            status=status,
            line_items=items,
            currency_code=currency,
            currency_rate=rate,
            sub_total=sub_total,
            total_tax=total_tax,
            total=total,
            updated=self.updated(doc_date),
            number=number,
            reference=f"{kind} ref {self.rng.randint(100, 999)}",
            line_amount_types=lat,
        )
        self.credits.append(doc)
        self.remaining[doc.doc_id] = total if status == "AUTHORISED" else Decimal(0)
        return doc

    def allocate(
        self, doc: CreditDocument, invoice: Invoice, amount: Decimal, when: date
    ) -> Allocation | None:
        amount = min(xj.money(amount), self.remaining[doc.doc_id], self.due[invoice.invoice_id])
        if amount <= 0:
            return None
        self.remaining[doc.doc_id] -= amount
        self.due[invoice.invoice_id] -= amount
        allocation = Allocation(
            self.uid(), doc.kind, doc.doc_id, invoice.invoice_id, amount, max(when, doc.date)
        )
        self.allocations.append(allocation)
        return allocation

    def user(self, email: str, first: str, last: str, role: str, subscriber: bool = False) -> User:
        user = User(self.uid(), email, first, last, role, self.updated(), subscriber)
        self.users.append(user)
        return user

    def load(self, store: XeroStore) -> None:
        store.bulk_load(
            self.tenant_id,
            accounts=self.accounts,
            users=self.users,
            contacts=self.contacts,
            invoices=self.invoices,
            credit_documents=self.credits,
            payments=self.payments,
            allocations=self.allocations,
        )


def _phone(kind: str, number: str, area: str = "", country: str = "") -> dict[str, str]:
    return {
        "PhoneType": kind,
        "PhoneNumber": number,
        "PhoneAreaCode": area if number else "",
        "PhoneCountryCode": country if number else "",
    }


def _company(rng: random.Random, taken: set[str]) -> str:
    while True:
        name = f"{rng.choice(_LAST)} {rng.choice(_TRADES)} {rng.choice(_SUFFIX)}"
        if name in taken:
            name = f"{name} {rng.randint(2, 9999)}"
        if name not in taken:
            taken.add(name)
            return name


# --- profiles -------------------------------------------------------------------------------------------


def seed(store: XeroStore, profile: str, *, rng_seed: int = 7) -> list[str]:
    """Fill ``store`` with the ``profile`` ("none", "small" or "large"); returns the new tenant ids."""
    if profile not in PROFILES:
        raise ValueError(f"unknown seed profile {profile!r}; one of {PROFILES}")
    rng = random.Random(rng_seed)
    if profile == "none":
        return []
    if profile == "small":
        return [_seed_small(store, rng), _seed_second(store, rng)]
    return [_seed_large(store, rng)]


def _new_tenant(
    store: XeroStore,
    rng: random.Random,
    name: str,
    base: str,
    *,
    short_code: str,
    country_code: str = "AU",
    timezone: str = "AUSEASTERNSTANDARDTIME",
) -> _Builder:
    tenant_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
    now = store.clock.now().astimezone(UTC)
    store.add_tenant(
        name,
        tenant_id=tenant_id,
        base_currency=base,
        short_code=short_code,
        country_code=country_code,
        timezone=timezone,
        created=now - timedelta(days=3 * 365),
    )
    return _Builder(rng=rng, tenant_id=tenant_id, base=base, now=now)


def _seed_small(store: XeroStore, rng: random.Random) -> str:
    b = _new_tenant(store, rng, SMALL_ORG, "AUD", short_code="!demo1")
    acc = b.standard_accounts()
    bank, usd_bank = acc["bank"], acc["usd_bank"]
    today = b.today
    taken: set[str] = set()

    def ago(days: int) -> date:
        return today - timedelta(days=days)

    # contacts: 22 customers (some foreign), 6 supplier-only, 5 both-way, 4 archived customers, 3 idle = 40
    currencies = ["AUD"] * 14 + ["USD"] * 4 + ["NZD"] * 2 + ["GBP"] * 2
    customers = [
        b.contact(_company(rng, taken), mobile=i % 3 != 0, currency=currencies[i], full_phones=i % 7 != 6)
        for i in range(22)
    ]
    suppliers = [b.contact(_company(rng, taken), mobile=i % 2 == 0) for i in range(6)]
    both_way = [b.contact(_company(rng, taken), mobile=True) for _ in range(5)]
    archived = [b.contact(_company(rng, taken), status="ARCHIVED", mobile=i % 2 == 0) for i in range(4)]
    for _ in range(3):
        b.contact(_company(rng, taken), mobile=False, email=False)

    # ACCREC invoices across every status (PAID ones through payments)
    statuses = [
        "AUTHORISED",
        "AUTHORISED",
        "PAID",
        "PAID",
        "DRAFT",
        "SUBMITTED",
        "AUTHORISED",
        "VOIDED",
        "DELETED",
    ]
    receivable: list[Invoice] = []
    for i, contact in enumerate(customers + both_way):
        for j in range(3):
            status = statuses[(i + j) % len(statuses)]
            doc_date = ago(rng.randint(5, 330))
            expected = (
                doc_date + timedelta(days=rng.randint(20, 60)) if status == "AUTHORISED" and j == 0 else None
            )
            lat = ("Exclusive", "Inclusive", "NoTax")[(i + j) % 3]
            stored = "AUTHORISED" if status == "PAID" else status
            invoice = b.invoice(contact, "ACCREC", stored, doc_date, expected=expected, lat=lat)
            receivable.append(invoice)
            pay_bank = usd_bank if invoice.currency_code == "USD" else bank
            if status == "PAID":
                b.pay_in_full(invoice, pay_bank, min(today, doc_date + timedelta(days=rng.randint(3, 40))))
            elif status == "AUTHORISED" and (i + j) % 4 == 1:  # partly paid
                b.pay(
                    invoice,
                    invoice.total * Decimal("0.4"),
                    pay_bank,
                    min(today, doc_date + timedelta(days=10)),
                )
    for contact in archived:
        for status in ("PAID", "AUTHORISED"):
            invoice = b.invoice(contact, "ACCREC", "AUTHORISED", ago(rng.randint(200, 400)))
            if status == "PAID":
                b.pay_in_full(invoice, bank, invoice.date + timedelta(days=14))
            receivable.append(invoice)
    # invoices before 1970: a paid 1969 legacy invoice and a voided 1965 one
    legacy = b.invoice(customers[0], "ACCREC", "AUTHORISED", date(1969, 10, 1), currency="AUD")
    legacy.reference = "Legacy ledger import"
    b.pay_in_full(legacy, bank, date(1969, 11, 15))
    b.invoice(customers[1], "ACCREC", "VOIDED", date(1965, 3, 10), currency="AUD").reference = "Legacy void"
    # USD invoices paid into the USD bank account, in full and in part
    usd_customer = next(c for c in customers if c.default_currency == "USD")
    usd_paid = b.invoice(usd_customer, "ACCREC", "AUTHORISED", ago(60), rate=Decimal("0.6612"))
    b.pay_in_full(usd_paid, usd_bank, ago(30))
    usd_part = b.invoice(usd_customer, "ACCREC", "AUTHORISED", ago(25), expected=ago(-10))
    b.pay(usd_part, usd_part.total / 4, usd_bank, ago(5))
    receivable += [usd_paid, usd_part]
    # a deleted payment: the invoice stays AUTHORISED with its full amount due
    open_invoice = b.invoice(customers[2], "ACCREC", "AUTHORISED", ago(20), currency="AUD")
    b.pay(open_invoice, open_invoice.total, bank, ago(10), deleted=True, reference="Bounced cheque")

    # ACCPAY bills
    payable: list[Invoice] = []
    bill_statuses = ["AUTHORISED", "PAID", "DRAFT", "AUTHORISED", "VOIDED", "SUBMITTED", "DELETED", "PAID"]
    for i, contact in enumerate(suppliers + both_way):
        for j in range(3):
            status = bill_statuses[(i + j) % len(bill_statuses)]
            stored = "AUTHORISED" if status == "PAID" else status
            bill = b.invoice(contact, "ACCPAY", stored, ago(rng.randint(5, 300)), currency="AUD")
            payable.append(bill)
            if status == "PAID":
                b.pay_in_full(bill, bank, min(today, bill.date + timedelta(days=20)))

    open_receivable = [inv for inv in receivable if inv.status == "AUTHORISED" and b.due[inv.invoice_id] > 0]
    # credit notes: allocated in full, in part, unallocated, draft, voided; and supplier credits
    for index, invoice in enumerate(open_receivable[:6]):
        contact = next(c for c in b.contacts if c.contact_id == invoice.contact_id)
        doc = b.credit(
            "CreditNote",
            contact,
            "ACCRECCREDIT",
            invoice.date,
            currency=invoice.currency_code,
            amount=xj.money(b.due[invoice.invoice_id] / (2 if index % 2 else 1) / 2),
        )
        if index < 4:
            b.allocate(
                doc, invoice, doc.total if index % 2 == 0 else doc.total / 2, invoice.date + timedelta(days=5)
            )
    b.credit("CreditNote", customers[3], "ACCRECCREDIT", ago(15), amount=Decimal("120.00"))  # unallocated
    b.credit("CreditNote", customers[4], "ACCRECCREDIT", ago(12), status="DRAFT")
    b.credit("CreditNote", customers[5], "ACCRECCREDIT", ago(40), status="VOIDED")
    open_payable = [inv for inv in payable if inv.status == "AUTHORISED" and b.due[inv.invoice_id] > 0]
    for invoice in open_payable[:2]:
        contact = next(c for c in b.contacts if c.contact_id == invoice.contact_id)
        doc = b.credit(
            "CreditNote",
            contact,
            "ACCPAYCREDIT",
            invoice.date,
            currency=invoice.currency_code,
            amount=xj.money(b.due[invoice.invoice_id] / 4),
        )
        b.allocate(doc, invoice, doc.total, invoice.date + timedelta(days=3))
    b.credit("CreditNote", suppliers[0], "ACCPAYCREDIT", ago(8), amount=Decimal("75.50"))

    # overpayments and prepayments, receive and spend, some allocated
    for kind, receive_type, spend_type in (
        ("Overpayment", "RECEIVE-OVERPAYMENT", "SPEND-OVERPAYMENT"),
        ("Prepayment", "RECEIVE-PREPAYMENT", "SPEND-PREPAYMENT"),
    ):
        targets = [
            inv for inv in open_receivable[6:] if b.due[inv.invoice_id] > 0 and inv.currency_code == "AUD"
        ]
        for n, invoice in enumerate(targets[:2]):
            contact = next(c for c in b.contacts if c.contact_id == invoice.contact_id)
            doc = b.credit(
                kind, contact, receive_type, invoice.date, currency="AUD", amount=Decimal("250.00")
            )
            b.allocate(
                doc,
                invoice,
                Decimal("250.00") if n == 0 else Decimal("100.00"),
                invoice.date + timedelta(days=2),
            )
        b.credit(
            kind,
            customers[6],
            receive_type,
            ago(9),
            currency=customers[6].default_currency or "AUD",
            amount=Decimal("80.00"),
        )
        spend_targets = [inv for inv in open_payable[2:] if b.due[inv.invoice_id] > 0]
        supplier_doc = b.credit(
            kind, suppliers[1], spend_type, ago(30), currency="AUD", amount=Decimal("300.00")
        )
        for invoice in spend_targets:
            if invoice.contact_id == suppliers[1].contact_id:
                b.allocate(supplier_doc, invoice, Decimal("150.00"), invoice.date + timedelta(days=1))
                break

    b.user("ada.admin@demo.example", "Ada", "Admin", "FINANCIALADVISER", subscriber=True)
    b.user("sam.standard@demo.example", "Sam", "Standard", "STANDARD")
    b.load(store)
    store.set_period_lock(b.tenant_id, today - timedelta(days=365))
    return b.tenant_id


def _seed_second(store: XeroStore, rng: random.Random) -> str:
    b = _new_tenant(
        store,
        rng,
        SECOND_ORG,
        "NZD",
        short_code="!second",
        country_code="NZ",
        timezone="NEWZEALANDSTANDARDTIME",
    )
    acc = b.standard_accounts(with_foreign_bank=False)
    taken: set[str] = set()
    for i in range(5):
        contact = b.contact(_company(rng, taken), mobile=i % 2 == 0)
        for status in ("AUTHORISED", "PAID"):
            invoice = b.invoice(contact, "ACCREC", "AUTHORISED", b.today - timedelta(days=rng.randint(5, 90)))
            if status == "PAID":
                b.pay_in_full(invoice, acc["bank"], b.today - timedelta(days=2))
    b.user("kiri.owner@second.example", "Kiri", "Owner", "FINANCIALADVISER", subscriber=True)
    b.load(store)
    return b.tenant_id


def _seed_large(
    store: XeroStore,
    rng: random.Random,
    *,
    contacts: int = 30_000,
    invoices: int = 120_000,
) -> str:
    b = _new_tenant(store, rng, LARGE_ORG, "AUD", short_code="!large")
    acc = b.standard_accounts()
    bank, usd_bank = acc["bank"], acc["usd_bank"]
    today = b.today
    taken: set[str] = set()
    customers: list[Contact] = []
    suppliers: list[Contact] = []
    for i in range(contacts):
        roll = i % 10
        currency = "USD" if i % 17 == 0 else ("NZD" if i % 23 == 0 else "")
        contact = b.contact(
            _company(rng, taken),
            status="ARCHIVED" if i % 50 == 49 else "ACTIVE",
            mobile=i % 3 != 0,
            currency=currency,
        )
        (customers if roll < 7 else suppliers).append(contact)
    statuses = ("AUTHORISED",) * 5 + ("PAID",) * 8 + ("DRAFT", "SUBMITTED", "VOIDED", "DELETED")
    open_by_contact: dict[str, Invoice] = {}
    for i in range(invoices):
        receivable = i % 10 != 9
        contact = (
            customers[rng.randrange(len(customers))]
            if receivable
            else suppliers[rng.randrange(len(suppliers))]
        )
        status = statuses[rng.randrange(len(statuses))]
        doc_date = today - timedelta(days=rng.randint(1, 3 * 365))
        stored = "AUTHORISED" if status == "PAID" else status
        lat = "Exclusive" if i % 5 else "Inclusive"
        expected = (
            doc_date + timedelta(days=45) if receivable and status == "AUTHORISED" and i % 4 == 0 else None
        )
        invoice = b.invoice(
            contact, "ACCREC" if receivable else "ACCPAY", stored, doc_date, expected=expected, lat=lat
        )
        pay_bank = usd_bank if invoice.currency_code == "USD" else bank
        pay_date = min(today, doc_date + timedelta(days=rng.randint(1, 60)))
        if status == "PAID":
            b.pay_in_full(invoice, pay_bank, pay_date)
        elif status == "AUTHORISED":
            if i % 3 == 0:
                b.pay(invoice, invoice.total / 3, pay_bank, pay_date)
            if receivable:
                open_by_contact[contact.contact_id] = invoice
    # credit notes (~5% of invoices), overpayments and prepayments (~1.25% each), half of them allocated
    open_list = list(open_by_contact.values())
    rng.shuffle(open_list)
    by_id = {c.contact_id: c for c in customers}
    for n, invoice in enumerate(open_list[: invoices // 20 + invoices // 40]):
        contact = by_id[invoice.contact_id]
        if n < invoices // 20:
            kind, doc_type = "CreditNote", "ACCRECCREDIT"
        else:
            kind, doc_type = (
                ("Overpayment", "RECEIVE-OVERPAYMENT") if n % 2 else ("Prepayment", "RECEIVE-PREPAYMENT")
            )
        amount = xj.money(b.due[invoice.invoice_id] / 2) or Decimal("10.00")
        doc = b.credit(kind, contact, doc_type, invoice.date, currency=invoice.currency_code, amount=amount)
        if n % 2 == 0:
            b.allocate(doc, invoice, amount, invoice.date + timedelta(days=3))
    for n in range(invoices // 400):
        supplier = suppliers[rng.randrange(len(suppliers))]
        kind, doc_type = (
            ("CreditNote", "ACCPAYCREDIT"),
            ("Overpayment", "SPEND-OVERPAYMENT"),
            ("Prepayment", "SPEND-PREPAYMENT"),
        )[n % 3]
        b.credit(
            kind, supplier, doc_type, today - timedelta(days=rng.randint(1, 300)), amount=Decimal("99.00")
        )
    b.user("admin@large.example", "Lee", "Admin", "FINANCIALADVISER", subscriber=True)
    b.user("clerk@large.example", "Cam", "Clerk", "STANDARD")
    b.load(store)
    store.set_period_lock(b.tenant_id, today - timedelta(days=3 * 365 + 30))
    return b.tenant_id
