"""Configuration details that are pure: secrets from files, secrets never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from connector.errors import ConfigError, StoreError
from connector.settings import load_settings, redact_url, secrets_from_files, url_secrets
from connector.store.database import async_url
from connector.store.state import Store


def test_file_secrets_fill_variables_and_direct_values_win(tmp_path: Path) -> None:
    key = tmp_path / "key"
    key.write_text("  from-file\n", encoding="utf-8")
    environ = {
        "MEETBRIDGE_MEETERGO__API_KEY_FILE": str(key),
        "MEETBRIDGE_MEETMATCH__API_KEY_FILE": str(key),
        "MEETBRIDGE_MEETMATCH__API_KEY": "direct",
        "OTHER_FILE": "untouched",
    }
    assert secrets_from_files(environ) == []
    assert environ == {
        "MEETBRIDGE_MEETERGO__API_KEY": "from-file",
        "MEETBRIDGE_MEETMATCH__API_KEY": "direct",
        "OTHER_FILE": "untouched",
    }


def test_an_unreadable_secret_file_is_named(tmp_path: Path) -> None:
    environ = {"MEETBRIDGE_RECEIVER__MEETERGO_PATH_TOKEN_FILE": str(tmp_path / "missing")}
    [problem] = secrets_from_files(environ)
    assert problem.startswith("MEETBRIDGE_RECEIVER__MEETERGO_PATH_TOKEN_FILE: cannot read")


SECRETS = {
    "mm_live_SECRETKEY1",
    "mg_SECRETKEY2",
    "whsec_SECRET3",
    "whsec_OLDSECRET4",
    "whsec_OLDSECRET5",
    "pathtoken_SECRET6_0123456789abcdefghijkl",
    "statustoken_SECRET7",
    "statuspass_SECRET8",
    "dbpass_SECRET9",
}


def _every_secret(**extra: dict[str, object]) -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = {
        "meetmatch": {
            "api_key": "mm_live_SECRETKEY1",
            "webhook_secret": "whsec_SECRET3",
            "previous_webhook_secrets": ["whsec_OLDSECRET4", "whsec_OLDSECRET5"],
        },
        "meetergo": {"api_key": "mg_SECRETKEY2"},
        "receiver": {
            "meetergo_path_token": "pathtoken_SECRET6_0123456789abcdefghijkl",
            "status_token": "statustoken_SECRET7",
            "status_password": "statuspass_SECRET8",
        },
        "state": {"url": "postgresql+psycopg://meetbridge:dbpass_SECRET9@db.internal:5432/mb"},
    }
    for section, values in extra.items():
        data.setdefault(section, {}).update(values)
    return data


def _leaks(text: str) -> set[str]:
    return {secret for secret in SECRETS if secret in text}


def test_no_secret_shows_in_the_settings_repr_or_str() -> None:
    settings = load_settings(None, _every_secret())
    assert settings.state.url.endswith(":dbpass_SECRET9@db.internal:5432/mb")  # still usable
    for shown in (repr(settings), str(settings), repr(settings.state), f"{settings!r}"):
        assert _leaks(shown) == set()
    assert "postgresql+psycopg://meetbridge:***@db.internal:5432/mb" in repr(settings)


def test_no_secret_shows_in_a_config_error_about_a_value_beside_them() -> None:
    bad = _every_secret(
        meetergo={"requests_per_minute": -5},
        state={"url": "mysql://meetbridge:dbpass_SECRET9@db.internal/mb"},
        receiver={"port": "dbpass_SECRET9"},
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(None, bad)
    message = str(caught.value)
    assert "meetergo.requests_per_minute" in message and "state.url" in message
    assert "receiver.port" in message
    assert _leaks(message) == set()
    assert _leaks(repr(caught.value)) == set()


def test_a_database_url_that_cannot_be_parsed_is_named_without_its_password() -> None:
    with pytest.raises(ConfigError) as caught:
        async_url("postgresql+psycopg://meetbridge:dbpass_SECRET9@db.internal:notaport/mb")
    assert "state.url" in str(caught.value)
    assert _leaks(str(caught.value)) == set()


@pytest.mark.parametrize(
    ("url", "shown", "secrets"),
    [
        ("sqlite:///meetbridge.db", "sqlite:///meetbridge.db", []),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg://u@h/db", []),
        (
            "postgresql+psycopg://u:p%40ss@h/db",
            "postgresql+psycopg://u:***@h/db",
            ["p%40ss", "p@ss"],
        ),
        (
            "postgresql+psycopg://u@h/db?sslmode=require&password=qq",
            "postgresql+psycopg://u@h/db?sslmode=require&password=***",
            ["qq"],
        ),
    ],
)
def test_database_passwords_are_found_and_masked(url: str, shown: str, secrets: list[str]) -> None:
    assert redact_url(url) == shown
    assert url_secrets(url) == secrets


async def test_an_unreachable_database_error_does_not_quote_its_password(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = "postgresql+psycopg://meetbridge:dbpass_SECRET9@127.0.0.1:1/mb"
    with pytest.raises(StoreError) as caught:
        await Store.open(url)
    assert _leaks(str(caught.value)) == set()
    assert _leaks(caplog.text) == set()
