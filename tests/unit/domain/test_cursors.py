"""Listing cursors: what one seals only opens for the same org, tenant, listing and filters, under the same
key; anything else, garbage included, is a refused cursor (a 400), never another exception."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xero_bridge.domain.cursors import open_cursor, seal_cursor
from xero_bridge.errors import InvalidCursorError

KEY = b"k" * 64
QUERY: dict[str, object] = {"record_types": ["INVOICE"], "status": "PAID", "customer_id": None}
BINDING: dict[str, object] = {"org": "org-1", "tenant": "tenant-1", "listing": "invoices", "query": QUERY}
POSITION = {"gsi2sk": "2026-01-01T00:00:00.000000Z#00000000-0000-4000-8000-000000000001"}


def sealed() -> str:
    return seal_cursor(POSITION, binding=BINDING, key=KEY)


def test_a_cursor_opens_to_its_position_under_the_same_binding_and_key() -> None:
    assert open_cursor(sealed(), binding=dict(BINDING), key=KEY) == POSITION


@pytest.mark.parametrize(
    "other",
    [
        {**BINDING, "org": "org-2"},  # another AR org
        {**BINDING, "tenant": "tenant-9"},  # the same org reconnected to another Xero organisation
        {**BINDING, "listing": "credit-notes"},  # another route
        {**BINDING, "query": {**QUERY, "status": "AUTHORISED"}},  # other filters
        {**BINDING, "query": {**QUERY, "customer_id": "c-1"}},  # a filter added
    ],
)
def test_a_cursor_is_refused_anywhere_but_where_it_was_given(other: dict[str, object]) -> None:
    with pytest.raises(InvalidCursorError) as refused:
        open_cursor(sealed(), binding=other, key=KEY)
    assert refused.value.code == "invalid_request" and "cursor" in refused.value.reason


def test_a_cursor_sealed_under_a_key_since_rotated_is_refused() -> None:
    with pytest.raises(InvalidCursorError):
        open_cursor(sealed(), binding=BINDING, key=b"another key")


def test_an_edited_position_is_refused_even_when_it_is_well_formed() -> None:
    # Given the position of another page of the same listing, sealed by us, and a cursor's MAC
    _, _, mac = sealed().partition(".")
    other_payload, _, _ = seal_cursor({"gsi2sk": "9999"}, binding=BINDING, key=KEY).partition(".")

    # When the caller pastes the other payload before this cursor's MAC
    with pytest.raises(InvalidCursorError):
        open_cursor(f"{other_payload}.{mac}", binding=BINDING, key=KEY)


def test_the_cursor_names_neither_the_org_nor_the_filters() -> None:
    cursor = sealed()
    assert "org-1" not in cursor and "PAID" not in cursor and "." in cursor


@settings(max_examples=300, derandomize=True, database=None)
@given(st.text(max_size=300) | st.from_regex(r"\A[A-Za-z0-9_-]{0,40}\.[A-Za-z0-9_-]{0,60}\Z"))
def test_any_other_text_is_a_refused_cursor_never_another_error(text: str) -> None:
    with pytest.raises(InvalidCursorError):
        open_cursor(text, binding=BINDING, key=KEY)
