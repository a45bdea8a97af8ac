"""Xero's /Date(...)/ and ISO dates, both ways."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

import pytest
from pydantic import BaseModel, ValidationError

from xero_bridge.models.xero_dates import (
    OptionalXeroDate,
    OptionalXeroDateTime,
    XeroDate,
    XeroDateTime,
    parse_xero_date,
    parse_xero_datetime,
    to_if_modified_since,
    to_iso_date,
    to_xero_date,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/Date(1573755038314+0000)/", datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC)),
        ("/Date(1552431874205)/", datetime(2019, 3, 12, 23, 4, 34, 205000, tzinfo=UTC)),
        # the offset says in which zone the value was meant; the milliseconds are UTC already
        ("/Date(1573755038314+1300)/", datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC)),
        ("/Date(1573755038314-0500)/", datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC)),
        ("/Date(-2208988800000+0000)/", datetime(1900, 1, 1, tzinfo=UTC)),
        ("/Date(-1)/", datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC)),
        ("/Date(0+0000)/", datetime(1970, 1, 1, tzinfo=UTC)),
        ("2019-11-14T00:00:00", datetime(2019, 11, 14, tzinfo=UTC)),
        ("2018-11-02T16:36:32Z", datetime(2018, 11, 2, 16, 36, 32, tzinfo=UTC)),
        ("2020-02-06T12:17:43.202-08:00", datetime(2020, 2, 6, 20, 17, 43, 202000, tzinfo=UTC)),
        ("2019-12-07T18:46:19.5165400", datetime(2019, 12, 7, 18, 46, 19, 516540, tzinfo=UTC)),
    ],
)
def test_datetimes_parse_to_aware_utc(text: str, expected: datetime) -> None:
    parsed = parse_xero_datetime(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("/Date(1539129600000+0000)/", date(2018, 10, 10)),
        ("/Date(-2208988800000+0000)/", date(1900, 1, 1)),
        # 2019-11-13T11:00Z is already the 14th in New Zealand (+1300): a date field reads in its offset
        ("/Date(1573642800000+1300)/", date(2019, 11, 14)),
        ("/Date(1573707600000-0500)/", date(2019, 11, 14)),  # 05:00Z is midnight on the 14th at -0500
        ("/Date(1573707600000-0600)/", date(2019, 11, 13)),  # ...and 23:00 on the 13th at -0600
        ("2019-03-12", date(2019, 3, 12)),
        ("2018-10-10T00:00:00", date(2018, 10, 10)),
    ],
)
def test_dates_parse_to_calendar_dates(text: str, expected: date) -> None:
    parsed = parse_xero_date(text)
    assert parsed == expected
    assert type(parsed) is date


@pytest.mark.parametrize(
    "text",
    [
        "",
        "/Date()/",
        "/Date(abc)/",
        "/Date(123+12)/",
        "/Date(12+0000",
        "yesterday",
        "/Date(\uff11\uff12\uff13)/",
    ],
)
def test_garbage_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Xero date"):
        parse_xero_datetime(text)
    with pytest.raises(ValueError, match="not a Xero date"):
        parse_xero_date(text)


def test_naive_and_foreign_datetimes_become_utc() -> None:
    assert parse_xero_datetime(datetime(2020, 1, 1, 12)) == datetime(2020, 1, 1, 12, tzinfo=UTC)
    plus_two = timezone(timedelta(hours=2))
    assert parse_xero_datetime(datetime(2020, 1, 1, 12, tzinfo=plus_two)).hour == 10
    assert parse_xero_datetime(date(2020, 1, 1)) == datetime(2020, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    "value",
    [
        datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC),
        datetime(1900, 1, 1, tzinfo=UTC),
        datetime(1969, 12, 31, 23, 59, 59, 999000, tzinfo=UTC),
    ],
)
def test_to_xero_date_round_trips(value: datetime) -> None:
    assert parse_xero_datetime(to_xero_date(value)) == value


def test_to_xero_date_formats() -> None:
    assert (
        to_xero_date(datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC)) == "/Date(1573755038314+0000)/"
    )
    assert to_xero_date(date(1900, 1, 1)) == "/Date(-2208988800000+0000)/"
    assert to_xero_date(datetime(2019, 11, 14, 18, 10, 38, 314000)) == "/Date(1573755038314+0000)/"
    assert parse_xero_date(to_xero_date(date(2018, 10, 10))) == date(2018, 10, 10)


def test_request_formats() -> None:
    assert to_iso_date(date(2019, 3, 12)) == "2019-03-12"
    assert to_if_modified_since(datetime(2020, 2, 6, 12, 17, 43, 999999, tzinfo=UTC)) == "2020-02-06T12:17:43"
    plus_13 = timezone(timedelta(hours=13))
    assert to_if_modified_since(datetime(2020, 2, 7, 1, 0, 0, tzinfo=plus_13)) == "2020-02-06T12:00:00"


class _Dated(BaseModel):
    at: XeroDateTime
    on: XeroDate
    maybe_at: OptionalXeroDateTime = None
    maybe_on: OptionalXeroDate = None


def test_annotated_types_in_a_model() -> None:
    record = _Dated.model_validate(
        {
            "at": "/Date(1573755038314+0000)/",
            "on": "/Date(1539129600000+0000)/",
            "maybe_at": "",
            "maybe_on": None,
        }
    )
    assert record.at == datetime(2019, 11, 14, 18, 10, 38, 314000, tzinfo=UTC)
    assert record.on == date(2018, 10, 10)
    assert record.maybe_at is None
    assert record.maybe_on is None


def test_annotated_type_refuses_garbage() -> None:
    with pytest.raises(ValidationError):
        _Dated.model_validate({"at": "soon", "on": "/Date(1539129600000+0000)/"})
