"""Settings validated once with named failures; the log redaction guard."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.logs import captured_logs
from xero_bridge.errors import SettingsError
from xero_bridge.observability import REDACTED, logger, redact
from xero_bridge.settings import get_settings, reset_settings

REQUIRED = {
    "TABLE_NAME": "connections",
    "RECORDS_TABLE_NAME": "records",
    "TOKEN_KEY_ID": "key-id",
    "XERO_CLIENT_ID": "client-id",
    "XERO_CLIENT_SECRET_NAME": "arn:aws:secretsmanager:eu-west-1:123456789012:secret:xero",
    "APP_RETURN_URL": "https://app.example.test/xero/",
}


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> Iterator[pytest.MonkeyPatch]:
    for name in [*REQUIRED, "INITIAL_SYNC_STATE_MACHINE_ARN", "XERO_REDIRECT_URI", "XERO_API_URL"]:
        monkeypatch.delenv(name, raising=False)
    for name, value in REQUIRED.items():
        monkeypatch.setenv(name, value)
    reset_settings()
    yield monkeypatch
    reset_settings()


def test_settings_are_read_once_with_defaults(env: pytest.MonkeyPatch) -> None:
    settings = get_settings()

    assert settings.table_name == "connections"
    assert settings.xero_api_url == "https://api.xero.com"
    assert settings.app_return_url == "https://app.example.test/xero"  # trailing slash dropped
    assert settings.oauth_state_ttl_seconds == 600
    assert settings.xero_redirect_uri == ""
    assert get_settings() is settings


@pytest.mark.parametrize("name", sorted(REQUIRED))
def test_a_missing_variable_is_named(env: pytest.MonkeyPatch, name: str) -> None:
    env.delenv(name)

    with pytest.raises(SettingsError, match=f"missing environment variable\\(s\\): {name}$"):
        get_settings()


def test_several_problems_are_all_named(env: pytest.MonkeyPatch) -> None:
    env.delenv("TABLE_NAME")
    env.setenv("XERO_API_URL", "not a url")

    with pytest.raises(SettingsError) as info:
        get_settings()

    assert str(info.value) == (
        "missing environment variable(s): TABLE_NAME; invalid environment variable(s): XERO_API_URL"
    )


def test_an_optional_setting_a_function_needs_is_required_by_name(env: pytest.MonkeyPatch) -> None:
    with pytest.raises(SettingsError, match="INITIAL_SYNC_STATE_MACHINE_ARN"):
        get_settings().require("initial_sync_state_machine_arn")


JWT = "eyJhbGciOiJSUzI1NiJ9.eyJ4ZXJvX3VzZXJpZCI6InUxIn0.c2lnbmF0dXJlLXNpZ25hdHVyZQ"


@pytest.mark.parametrize(
    ("text", "leaked"),
    [
        ("Authorization: Bearer abc.def-ghi", "abc.def-ghi"),
        (f"token {JWT} was refused", JWT),
        ("POST grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA&state=x", "SplxlOBeZQQYbYS6WxSbIA"),
        ("client_secret=s3cr3t-value&client_id=abc", "s3cr3t-value"),
        ("refresh_token: 9f8e7d6c5b4a", "9f8e7d6c5b4a"),
        ('{"refresh_token": "rt-1", "n": 1}', "rt-1"),
        ('{"nested": {"access_token": "with \\"quotes\\" inside"}}', "quotes"),
    ],
)
def test_redact_blanks_credentials(text: str, leaked: str) -> None:
    redacted = redact(text)
    assert leaked not in redacted and REDACTED in redacted


def test_redact_keeps_ordinary_text_and_valid_json() -> None:
    line = json.dumps({"message": "status code: 400", "error_code": "not_admin", "org_id": "org_acme"})
    assert redact(line) == line
    assert json.loads(redact(json.dumps({"access_token": 'x"y', "ok": True}))) == {
        "access_token": REDACTED,
        "ok": True,
    }


def test_every_log_line_goes_through_the_guard() -> None:
    with captured_logs() as buffer:
        # A careless line: a token in the message, a secret in extra, an exception with a code in it
        logger.info(
            f"calling Xero with Bearer {JWT}", extra={"client_secret": "cs-1", "refresh_token": "rt-9"}
        )
        try:
            raise ValueError("exchange failed for code=abc123xyz")
        except ValueError:
            logger.exception("exchange failed")

    output = buffer.getvalue()
    for secret in (JWT, "cs-1", "rt-9", "abc123xyz"):
        assert secret not in output
    assert all(json.loads(line) for line in output.splitlines())


def test_two_invocations_flushing_metrics_at_once_never_fail(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """One invocation flushes while another sits between "the set is not empty" and serialising it."""
    from aws_lambda_powertools.metrics.provider.cloudwatch_emf.cloudwatch import AmazonCloudWatchEMFProvider

    from xero_bridge.observability import metrics

    monkeypatch.setenv("POWERTOOLS_METRICS_NAMESPACE", "XeroBridgeTest")
    in_serialise, other_done = threading.Event(), threading.Event()
    original = AmazonCloudWatchEMFProvider.serialize_metric_set

    def serialise_slowly(self: AmazonCloudWatchEMFProvider, *args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "first":
            in_serialise.set()
            other_done.wait(0.5)  # without the lock the other flush runs now and empties the set
        return original(self, *args, **kwargs)

    monkeypatch.setattr(AmazonCloudWatchEMFProvider, "serialize_metric_set", serialise_slowly)
    errors: list[BaseException] = []

    def invocation(name: str) -> None:
        try:
            if name == "second":
                in_serialise.wait(5)
            metrics.add_metric(name=f"Pages{name}", unit="Count", value=1)
            metrics.flush_metrics()
        except BaseException as exc:
            errors.append(exc)
        finally:
            if name == "second":
                other_done.set()

    threads = [threading.Thread(target=invocation, args=(n,), name=n) for n in ("first", "second")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)

    assert errors == []
    published = "".join(capsys.readouterr().out)
    assert '"Pagesfirst":[1.0]' in published and '"Pagessecond":[1.0]' in published
