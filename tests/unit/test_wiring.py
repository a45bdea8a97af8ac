"""wiring.py builds each use case with what it needs; a setting a use case cannot do without fails with its
variable's name when that use case is built, never as an assertion deep inside a service."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from xero_bridge import wiring
from xero_bridge.errors import SettingsError
from xero_bridge.services.sync.fetch_page import FetchPage
from xero_bridge.settings import reset_settings


@pytest.mark.parametrize(
    ("factory", "variable"),
    [
        (wiring.plan_sync, "WRITES_QUEUE_URL"),
        (wiring.fetch_page, "WRITES_QUEUE_URL"),
        (wiring.finish_sync, "WRITES_QUEUE_URL"),
        (wiring.start_sync, "INITIAL_SYNC_STATE_MACHINE_ARN"),
        (wiring.list_records, "CURSOR_KEY_NAME"),
        (
            lambda: wiring.complete_connect("https://api.example.test/callback"),
            "INITIAL_SYNC_STATE_MACHINE_ARN",
        ),
    ],
)
def test_a_missing_setting_is_named_when_its_use_case_is_built(
    stack: dict[str, str], monkeypatch: pytest.MonkeyPatch, factory: Callable[[], object], variable: str
) -> None:
    monkeypatch.delenv(variable, raising=False)
    reset_settings()

    with pytest.raises(SettingsError, match=variable):
        factory()


def test_use_cases_that_need_no_queue_or_machine_are_built_without_them(
    stack: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WRITES_QUEUE_URL", raising=False)
    monkeypatch.delenv("INITIAL_SYNC_STATE_MACHINE_ARN", raising=False)
    reset_settings()

    wiring.record_sync_failure()
    wiring.sync_progress()
    wiring.connection_status()
    wiring.begin_connect("https://api.example.test/callback")


def test_the_page_fetcher_gets_its_queue(stack: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WRITES_QUEUE_URL", "https://sqs.eu-west-1.amazonaws.com/123456789012/writes")
    reset_settings()

    assert isinstance(wiring.fetch_page(), FetchPage)
