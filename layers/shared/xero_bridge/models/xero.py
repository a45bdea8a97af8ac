"""Xero's records as pydantic models, faithful to Xero's official OpenAPI spec (``xero_accounting.yaml``).

Attributes are snake_case; each reads (and dumps ``by_alias=True``) Xero's PascalCase name (``ContactID``,
``UpdatedDateUTC``...). Unknown fields are kept (``extra="allow"``) so a field Xero adds tomorrow neither
breaks a sync nor gets lost. Money is :class:`~decimal.Decimal` (floats are read through ``str``, so ``0.1``
stays ``0.1``); dates are parsed by :mod:`xero_bridge.models.xero_dates`. Enumerations are listed as
``StrEnum`` where the spec lists them, and a value Xero adds later is kept as a plain ``str``.
"""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    field_validator,
    model_validator,
)

from xero_bridge.models.xero_dates import (
    OptionalXeroDate,
    OptionalXeroDateTime,
    XeroDate,
    to_iso_date,
)

__all__ = [
    "NIL_ID",
    "Account",
    "AccountClass",
    "AccountRef",
    "AccountStatus",
    "AccountType",
    "Address",
    "Allocation",
    "BalanceFigures",
    "Balances",
    "Connection",
    "Contact",
    "ContactRef",
    "ContactStatus",
    "CreditNote",
    "CreditNoteRef",
    "CreditNoteType",
    "Invoice",
    "InvoiceRef",
    "InvoiceStatus",
    "InvoiceType",
    "LineAmountTypes",
    "Money",
    "Organisation",
    "Overpayment",
    "OverpaymentRef",
    "Pagination",
    "Payment",
    "PaymentCreate",
    "PaymentResult",
    "PaymentStatus",
    "PaymentType",
    "Phone",
    "PhoneType",
    "Prepayment",
    "PrepaymentRef",
    "User",
    "XeroModel",
]

NIL_ID = "00000000-0000-0000-0000-000000000000"
"""The id Xero writes on an element it did not create (a batch element with validation errors)."""

_ACRONYMS = {"id": "ID", "ids": "IDs", "utc": "UTC", "cis": "CIS", "api": "API"}


def _pascal(name: str) -> str:
    """``updated_date_utc`` → ``UpdatedDateUTC``, ``contact_id`` → ``ContactID``."""
    return "".join(_ACRONYMS.get(part, part.capitalize()) for part in name.split("_"))


# pydantic reads a float into Decimal through its shortest repr (0.1 → Decimal("0.1")), and the client parses
# JSON with parse_float=Decimal, so money is exact from the wire to the model.
Money = Decimal
"""An exact amount of money."""


class XeroModel(BaseModel):
    """Base of Xero's records: PascalCase aliases, names accepted too, unknown fields kept."""

    model_config = ConfigDict(
        alias_generator=_pascal,
        populate_by_name=True,
        extra="allow",
        coerce_numbers_to_str=True,
        defer_build=True,  # validators are built at first use: an importer pays only for what it uses
    )

    def to_xero(self) -> dict[str, Any]:
        """Xero's JSON shape (PascalCase keys), without the fields that are not set."""
        return self.model_dump(by_alias=True, exclude_none=True, mode="json")


# --- Enumerations (from the spec) ----------------------------------------------------------------------


class ContactStatus(StrEnum):
    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"
    GDPRREQUEST = "GDPRREQUEST"


class PhoneType(StrEnum):
    DEFAULT = "DEFAULT"
    DDI = "DDI"
    MOBILE = "MOBILE"
    FAX = "FAX"
    OFFICE = "OFFICE"


class InvoiceType(StrEnum):
    ACCPAY = "ACCPAY"
    ACCPAYCREDIT = "ACCPAYCREDIT"
    APOVERPAYMENT = "APOVERPAYMENT"
    APPREPAYMENT = "APPREPAYMENT"
    ACCREC = "ACCREC"
    ACCRECCREDIT = "ACCRECCREDIT"
    AROVERPAYMENT = "AROVERPAYMENT"
    ARPREPAYMENT = "ARPREPAYMENT"


class InvoiceStatus(StrEnum):
    DRAFT = "DRAFT"
    SUBMITTED = "SUBMITTED"
    DELETED = "DELETED"
    AUTHORISED = "AUTHORISED"
    PAID = "PAID"
    VOIDED = "VOIDED"


class CreditNoteType(StrEnum):
    ACCPAYCREDIT = "ACCPAYCREDIT"
    ACCRECCREDIT = "ACCRECCREDIT"


class LineAmountTypes(StrEnum):
    EXCLUSIVE = "Exclusive"
    INCLUSIVE = "Inclusive"
    NO_TAX = "NoTax"


class PaymentStatus(StrEnum):
    AUTHORISED = "AUTHORISED"
    DELETED = "DELETED"


class PaymentType(StrEnum):
    ACCRECPAYMENT = "ACCRECPAYMENT"
    ACCPAYPAYMENT = "ACCPAYPAYMENT"
    ARCREDITPAYMENT = "ARCREDITPAYMENT"
    APCREDITPAYMENT = "APCREDITPAYMENT"
    AROVERPAYMENTPAYMENT = "AROVERPAYMENTPAYMENT"
    ARPREPAYMENTPAYMENT = "ARPREPAYMENTPAYMENT"
    APPREPAYMENTPAYMENT = "APPREPAYMENTPAYMENT"
    APOVERPAYMENTPAYMENT = "APOVERPAYMENTPAYMENT"


class AccountType(StrEnum):
    BANK = "BANK"
    CURRENT = "CURRENT"
    CURRLIAB = "CURRLIAB"
    DEPRECIATN = "DEPRECIATN"
    DIRECTCOSTS = "DIRECTCOSTS"
    EQUITY = "EQUITY"
    EXPENSE = "EXPENSE"
    FIXED = "FIXED"
    INVENTORY = "INVENTORY"
    LIABILITY = "LIABILITY"
    NONCURRENT = "NONCURRENT"
    OTHERINCOME = "OTHERINCOME"
    OVERHEADS = "OVERHEADS"
    PREPAYMENT = "PREPAYMENT"
    REVENUE = "REVENUE"
    SALES = "SALES"
    TERMLIAB = "TERMLIAB"
    PAYG = "PAYG"


class AccountStatus(StrEnum):
    ACTIVE = "ACTIVE"
    ARCHIVED = "ARCHIVED"
    DELETED = "DELETED"


class AccountClass(StrEnum):
    ASSET = "ASSET"
    EQUITY = "EQUITY"
    EXPENSE = "EXPENSE"
    LIABILITY = "LIABILITY"
    REVENUE = "REVENUE"


# A known value reads as the enum member; a value Xero adds later is kept as a plain str.
AccountClassValue = Annotated[AccountClass | str, Field(union_mode="left_to_right")]
AccountStatusValue = Annotated[AccountStatus | str, Field(union_mode="left_to_right")]
AccountTypeValue = Annotated[AccountType | str, Field(union_mode="left_to_right")]
ContactStatusValue = Annotated[ContactStatus | str, Field(union_mode="left_to_right")]
CreditNoteTypeValue = Annotated[CreditNoteType | str, Field(union_mode="left_to_right")]
InvoiceStatusValue = Annotated[InvoiceStatus | str, Field(union_mode="left_to_right")]
InvoiceTypeValue = Annotated[InvoiceType | str, Field(union_mode="left_to_right")]
LineAmountTypesValue = Annotated[LineAmountTypes | str, Field(union_mode="left_to_right")]
PaymentStatusValue = Annotated[PaymentStatus | str, Field(union_mode="left_to_right")]
PaymentTypeValue = Annotated[PaymentType | str, Field(union_mode="left_to_right")]
PhoneTypeValue = Annotated[PhoneType | str, Field(union_mode="left_to_right")]


# --- Small shared parts --------------------------------------------------------------------------------


class Pagination(BaseModel):
    """Xero's ``pagination`` envelope (camelCase in Xero's JSON)."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    page: int
    page_size: int = Field(alias="pageSize")
    page_count: int = Field(alias="pageCount")
    item_count: int = Field(alias="itemCount")


def _messages(value: Any) -> list[str]:
    """``ValidationErrors: [{"Message": ...}]`` → the messages."""
    if not value:
        return []
    out = []
    for item in value:
        if isinstance(item, dict):
            out.append(str(item.get("Message", "")))
        else:
            out.append(str(item))
    return out


Messages = Annotated[list[str], BeforeValidator(_messages)]


class Phone(XeroModel):
    phone_type: PhoneTypeValue | None = None
    phone_number: str | None = None
    phone_area_code: str | None = None
    phone_country_code: str | None = None


class Address(XeroModel):
    address_type: str | None = None
    address_line1: str | None = None
    address_line2: str | None = None
    address_line3: str | None = None
    address_line4: str | None = None
    city: str | None = None
    region: str | None = None
    postal_code: str | None = None
    country: str | None = None
    attention_to: str | None = None


class BalanceFigures(XeroModel):
    outstanding: Money | None = None
    overdue: Money | None = None


class Balances(XeroModel):
    accounts_receivable: BalanceFigures | None = None
    accounts_payable: BalanceFigures | None = None


class ContactRef(XeroModel):
    """The contact as Xero nests it in a document (ContactID, Name; more fields kept as extras)."""

    contact_id: str | None = None
    name: str | None = None


class InvoiceRef(XeroModel):
    """An invoice as Xero nests it in a payment or allocation."""

    invoice_id: str | None = None
    invoice_number: str | None = None
    type: InvoiceTypeValue | None = None
    currency_code: str | None = None


class CreditNoteRef(XeroModel):
    credit_note_id: str | None = None
    credit_note_number: str | None = None


class OverpaymentRef(XeroModel):
    overpayment_id: str | None = None


class PrepaymentRef(XeroModel):
    prepayment_id: str | None = None


class AccountRef(XeroModel):
    account_id: str | None = None
    code: str | None = None
    name: str | None = None


# --- Records -------------------------------------------------------------------------------------------


class Contact(XeroModel):
    """A Xero contact (``GET /Contacts``)."""

    contact_id: str
    name: str | None = None
    contact_number: str | None = None
    account_number: str | None = None
    contact_status: ContactStatusValue | None = None
    first_name: str | None = None
    last_name: str | None = None
    email_address: str | None = None
    company_number: str | None = None
    tax_number: str | None = None
    is_customer: bool | None = None
    is_supplier: bool | None = None
    default_currency: str | None = None
    phones: list[Phone] = Field(default_factory=list)
    addresses: list[Address] = Field(default_factory=list)
    balances: Balances | None = None
    merged_to_contact_id: str | None = None
    discount: Money | None = None
    updated_date_utc: OptionalXeroDateTime = None
    has_attachments: bool | None = None
    has_validation_errors: bool | None = None
    validation_errors: Messages = Field(default_factory=list)

    @property
    def mobile_phone(self) -> Phone | None:
        """The ``MOBILE`` phone, if Xero has one with a number."""
        for phone in self.phones:
            if phone.phone_type == PhoneType.MOBILE and phone.phone_number:
                return phone
        return None


class Payment(XeroModel):
    """A payment against an invoice, credit note, overpayment or prepayment (``GET /Payments``)."""

    payment_id: str
    date: OptionalXeroDate = None
    amount: Money | None = None
    bank_amount: Money | None = None
    currency_rate: Money | None = None
    reference: str | None = None
    status: PaymentStatusValue | None = None
    payment_type: PaymentTypeValue | None = None
    invoice: InvoiceRef | None = None
    credit_note: CreditNoteRef | None = None
    overpayment: OverpaymentRef | None = None
    prepayment: PrepaymentRef | None = None
    account: AccountRef | None = None
    batch_payment_id: str | None = None
    is_reconciled: bool | None = None
    has_account: bool | None = None
    updated_date_utc: OptionalXeroDateTime = None
    has_validation_errors: bool | None = None
    status_attribute_string: str | None = None
    validation_errors: Messages = Field(default_factory=list)


class Allocation(XeroModel):
    """An allocation of a credit note, overpayment or prepayment to an invoice."""

    allocation_id: str | None = None
    amount: Money
    date: XeroDate
    invoice: InvoiceRef | None = None
    credit_note: CreditNoteRef | None = None
    overpayment: OverpaymentRef | None = None
    prepayment: PrepaymentRef | None = None
    is_deleted: bool | None = None


class _CreditDocument(XeroModel):
    """What credit notes, overpayments and prepayments share: a credit and its allocations."""

    type: str | None = None
    contact: ContactRef | None = None
    status: str | None = None
    line_amount_types: LineAmountTypesValue | None = None
    date: OptionalXeroDate = None
    sub_total: Money | None = None
    total_tax: Money | None = None
    total: Money | None = None
    remaining_credit: Money | None = None
    applied_amount: Money | None = None
    currency_code: str | None = None
    currency_rate: Money | None = None
    reference: str | None = None
    allocations: list[Allocation] = Field(default_factory=list)
    payments: list[Payment] = Field(default_factory=list)
    has_attachments: bool | None = None
    updated_date_utc: OptionalXeroDateTime = None


class CreditNote(_CreditDocument):
    """A credit note (``GET /CreditNotes``), with its allocations to invoices."""

    credit_note_id: str
    credit_note_number: str | None = None
    type: CreditNoteTypeValue | None = None
    status: InvoiceStatusValue | None = None
    due_date: OptionalXeroDate = None
    fully_paid_on_date: OptionalXeroDate = None


class Overpayment(_CreditDocument):
    """An overpayment (``GET /Overpayments``), with its allocations to invoices."""

    overpayment_id: str


class Prepayment(_CreditDocument):
    """A prepayment (``GET /Prepayments``), with its allocations to invoices."""

    prepayment_id: str
    invoice_number: str | None = None


class InvoiceCreditNote(XeroModel):
    """A credit note as Xero nests it in an invoice (what it credited there)."""

    credit_note_id: str | None = None
    credit_note_number: str | None = None
    applied_amount: Money | None = None
    total: Money | None = None
    date: OptionalXeroDate = None


class InvoicePrepaymentOverpayment(XeroModel):
    """An overpayment or prepayment as Xero nests it in an invoice."""

    overpayment_id: str | None = None
    prepayment_id: str | None = None
    applied_amount: Money | None = None
    total: Money | None = None
    date: OptionalXeroDate = None


class Invoice(XeroModel):
    """An invoice (``GET /Invoices``): sales (``ACCREC``) or bills (``ACCPAY``)."""

    invoice_id: str
    invoice_number: str | None = None
    type: InvoiceTypeValue | None = None
    contact: ContactRef | None = None
    status: InvoiceStatusValue | None = None
    line_amount_types: LineAmountTypesValue | None = None
    date: OptionalXeroDate = None
    due_date: OptionalXeroDate = None
    expected_payment_date: OptionalXeroDate = None
    planned_payment_date: OptionalXeroDate = None
    fully_paid_on_date: OptionalXeroDate = None
    sub_total: Money | None = None
    total_tax: Money | None = None
    total: Money | None = None
    total_discount: Money | None = None
    amount_due: Money | None = None
    amount_paid: Money | None = None
    amount_credited: Money | None = None
    currency_code: str | None = None
    currency_rate: Money | None = None
    reference: str | None = None
    branding_theme_id: str | None = None
    url: str | None = None
    sent_to_contact: bool | None = None
    is_discounted: bool | None = None
    has_attachments: bool | None = None
    has_errors: bool | None = None
    payments: list[Payment] = Field(default_factory=list)
    credit_notes: list[InvoiceCreditNote] = Field(default_factory=list)
    overpayments: list[InvoicePrepaymentOverpayment] = Field(default_factory=list)
    prepayments: list[InvoicePrepaymentOverpayment] = Field(default_factory=list)
    updated_date_utc: OptionalXeroDateTime = None


class Account(XeroModel):
    """A chart-of-accounts entry (``GET /Accounts``); bank accounts have ``Type == "BANK"``."""

    account_id: str
    code: str | None = None
    name: str | None = None
    type: AccountTypeValue | None = None
    status: AccountStatusValue | None = None
    bank_account_number: str | None = None
    bank_account_type: str | None = None
    currency_code: str | None = None
    enable_payments_to_account: bool | None = None
    class_: AccountClassValue | None = Field(default=None, alias="Class")
    system_account: str | None = None
    updated_date_utc: OptionalXeroDateTime = None

    @property
    def accepts_payments(self) -> bool:
        """True when Xero accepts payments into it: a bank account, or one with payments enabled."""
        return self.type == AccountType.BANK or bool(self.enable_payments_to_account)


class Organisation(XeroModel):
    """The connected organisation (``GET /Organisation``)."""

    organisation_id: str
    name: str | None = None
    legal_name: str | None = None
    short_code: str | None = None
    base_currency: str | None = None
    country_code: str | None = None
    timezone: str | None = None
    version: str | None = None
    organisation_type: str | None = None
    organisation_status: str | None = None
    is_demo_company: bool | None = None
    period_lock_date: OptionalXeroDate = None
    end_of_year_lock_date: OptionalXeroDate = None
    financial_year_end_day: int | None = None
    financial_year_end_month: int | None = None
    created_date_utc: OptionalXeroDateTime = None


class User(XeroModel):
    """A user of the organisation (``GET /Users``); ``OrganisationRole`` says whether they are an admin."""

    user_id: str
    email_address: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    organisation_role: str | None = None
    is_subscriber: bool | None = None
    updated_date_utc: OptionalXeroDateTime = None


class Connection(BaseModel):
    """A tenant connection from the identity API (``GET /connections``), camelCase in Xero's JSON."""

    model_config = ConfigDict(populate_by_name=True, extra="allow")

    id: str
    tenant_id: str = Field(alias="tenantId")
    tenant_type: str = Field(alias="tenantType")
    tenant_name: str | None = Field(default=None, alias="tenantName")
    auth_event_id: str | None = Field(default=None, alias="authEventId")
    created_date_utc: OptionalXeroDateTime = Field(default=None, alias="createdDateUtc")
    updated_date_utc: OptionalXeroDateTime = Field(default=None, alias="updatedDateUtc")


# --- What we send --------------------------------------------------------------------------------------


class PaymentCreate(BaseModel):
    """A payment we record in Xero: an amount against an invoice, into a bank account.

    The account is given by ``account_id`` or by ``account_code`` (one of them). ``currency_rate`` is only
    needed for a foreign-currency invoice when the rate should not be Xero's own.
    """

    model_config = ConfigDict(frozen=True)

    invoice_id: str = Field(min_length=1)
    account_id: str | None = None
    account_code: str | None = None
    date: XeroDate
    amount: Money = Field(gt=0)
    reference: str | None = None
    currency_rate: Money | None = Field(default=None, gt=0)

    @field_validator("amount", "currency_rate")
    @classmethod
    def _finite(cls, value: Decimal | None) -> Decimal | None:
        if value is not None and not value.is_finite():
            raise ValueError("must be a finite number")
        return value

    @model_validator(mode="after")
    def _one_account(self) -> PaymentCreate:
        if bool(self.account_id) == bool(self.account_code):
            raise ValueError("give exactly one of account_id and account_code")
        return self

    def to_xero(self) -> dict[str, Any]:
        """The element Xero expects in ``{"Payments": [...]}`` — Decimals stay Decimals for exact JSON."""
        account = {"AccountID": self.account_id} if self.account_id else {"Code": self.account_code}
        body: dict[str, Any] = {
            "Invoice": {"InvoiceID": self.invoice_id},
            "Account": account,
            "Date": to_iso_date(self.date),
            "Amount": self.amount,
        }
        if self.reference:
            body["Reference"] = self.reference
        if self.currency_rate is not None:
            body["CurrencyRate"] = self.currency_rate
        return body


class PaymentResult(BaseModel):
    """One element of a ``PUT /Payments?summarizeErrors=false`` answer: the payment made, or Xero's reasons.

    Attributes
    ----------
    index
        Position of the element in the batch we sent.
    payment
        The created payment when Xero accepted the element.
    validation_errors
        Xero's own messages when it refused the element (empty when accepted).
    status
        Xero's ``StatusAttributeString`` (``OK``, ``WARNING`` or ``ERROR``), when it gave one.
    invoice_id
        The invoice the element was for, as Xero echoed it.
    payment_id
        Xero's PaymentID when it created the payment (even if the rest of its answer did not parse).
    """

    index: int
    payment: Payment | None = None
    validation_errors: list[str] = Field(default_factory=list)
    status: str | None = None
    invoice_id: str | None = None
    payment_id: str | None = None

    @property
    def ok(self) -> bool:
        """True when Xero created the payment."""
        return self.payment_id is not None and not self.validation_errors
