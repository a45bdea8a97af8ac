"""One home for errors: every error class of the layer lives in errors.py, belongs to one group, is mapped
to an HTTP answer by http.py, and every name a state machine catches or retries is one of them."""

from __future__ import annotations

import importlib
import inspect
import json
import pkgutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import xero_bridge
from xero_bridge import errors, http

ROOT = Path(__file__).resolve().parents[2]
GROUPS = (errors.RetryLater, errors.GiveUp, errors.Refused)
# Lambda's and Step Functions' own error names, not ours.
FOREIGN_PREFIXES = ("States.", "Lambda.")


def _layer_modules() -> Iterator[Any]:
    for info in pkgutil.walk_packages(xero_bridge.__path__, "xero_bridge."):
        yield importlib.import_module(info.name)


def _named_errors() -> list[type[errors.XeroBridgeError]]:
    return [
        cls
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if issubclass(cls, errors.XeroBridgeError)
        and cls.__module__ == errors.__name__
        and cls not in (errors.XeroBridgeError, errors.XeroError, *GROUPS)
    ]


def _error_names_in_state_machines() -> set[str]:
    names: set[str] = set()

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            names.update(node.get("ErrorEquals", []))
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for path in sorted((ROOT / "statemachines").glob("*.asl.json")):
        walk(json.loads(path.read_text()))
    return {name for name in names if not name.startswith(FOREIGN_PREFIXES)}


def test_every_exception_class_of_the_layer_is_defined_in_errors_py() -> None:
    defined_elsewhere = sorted(
        f"{cls.__module__}.{cls.__name__}"
        for module in _layer_modules()
        for _, cls in inspect.getmembers(module, inspect.isclass)
        if issubclass(cls, BaseException)
        and cls.__module__.startswith("xero_bridge.")
        and cls.__module__ != errors.__name__
    )
    assert defined_elsewhere == []


@pytest.mark.parametrize("cls", _named_errors(), ids=lambda cls: cls.__name__)
def test_each_error_belongs_to_exactly_one_group(cls: type[errors.XeroBridgeError]) -> None:
    assert [group.__name__ for group in GROUPS if issubclass(cls, group)] != []
    assert sum(issubclass(cls, group) for group in GROUPS) == 1


def test_http_maps_every_named_error_by_name() -> None:
    unmapped = sorted(cls.__name__ for cls in _named_errors() if cls not in http.mapped_errors())
    assert unmapped == []


def test_every_error_name_a_state_machine_matches_is_an_error_class() -> None:
    names = _error_names_in_state_machines()
    assert names, "the state machines catch or retry named errors"
    unknown = sorted(name for name in names if not isinstance(getattr(errors, name, None), type))
    assert unknown == []
    assert all(issubclass(getattr(errors, name), errors.XeroBridgeError) for name in names)


def test_a_refusal_answers_its_own_code_and_reason_never_its_message() -> None:
    status, code, reason, _ = http.error_response(
        errors.ConnectError("not_admin", "only a Xero admin can connect Xero", org_id="org-1")
    )
    assert (status, code, reason) == (400, "not_admin", "only a Xero admin can connect Xero")
    status, code, reason, _ = http.error_response(errors.NotConnectedError("org-1 is not connected"))
    assert (status, code, reason) == (409, "not_connected", "org-1 is not connected")


def test_an_internal_message_never_reaches_the_caller() -> None:
    secret_detail = "tenant 7f0c... table connections-prod item ORG#x"
    for exc in (
        errors.SyncNotDrainedError(secret_detail),
        errors.TokenCipherError(secret_detail),
        errors.XeroValidationError(secret_detail, messages=[secret_detail], elements=[]),
        errors.RateLimiterUnavailable(secret_detail),
    ):
        status, code, reason, _ = http.error_response(exc)
        assert secret_detail not in reason
        assert code and status >= 400


def test_retry_later_answers_say_when() -> None:
    limited = errors.XeroRateLimited("429", problem="minute", retry_after_seconds=37.2)
    assert http.error_response(limited)[0] == 429
    assert http.error_response(limited)[3] == {"Retry-After": "37"}
    busy = errors.TokenRefreshTimeoutError("another refresh is running")
    assert http.error_response(busy)[:2] == (503, "unavailable")
    assert http.error_response(busy)[3] == {"Retry-After": "5"}
    daily = errors.DailyLimitReached("t-1", datetime(2026, 12, 6, tzinfo=UTC))
    assert http.error_response(daily)[:2] == (429, "xero_daily_limit")


def test_an_error_that_is_not_ours_is_a_plain_500() -> None:
    assert http.error_response(KeyError("boom"))[:2] == (500, "internal_error")
