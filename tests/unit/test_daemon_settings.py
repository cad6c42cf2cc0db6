"""What `meetbridge run` refuses at start: a receiver vendors could not reach or strangers could."""

from __future__ import annotations

from typing import Any

import pytest

from connector.daemon import check_daemon_settings
from connector.errors import ConfigError
from connector.settings import load_settings

GOOD_TOKEN = "Yx3_kP9-qL2mZ8vR4tW7nB1cD6fG0hJ5"


def _settings(**receiver: Any) -> Any:
    section = {"public_url": "https://sync.example.com", "meetergo_path_token": GOOD_TOKEN}
    section.update(receiver)
    return load_settings(
        None,
        {
            "meetmatch": {"api_key": "mm_live_x", "webhook_secret": "whsec_x"},
            "meetergo": {"api_key": "mg_x"},
            "receiver": section,
        },
    )


def test_a_good_receiver_passes() -> None:
    check_daemon_settings(_settings())


@pytest.mark.parametrize(
    ("token", "why"),
    [
        ("short", "at least 32"),
        ("a" * 40, "not random"),
        ("ab" * 20, "not random"),
        (GOOD_TOKEN[:20] + "/" + GOOD_TOKEN[20:], "URL path segment"),
        (GOOD_TOKEN + "%2F", "URL path segment"),
        (GOOD_TOKEN + " ", "URL path segment"),
    ],
)
def test_weak_or_unroutable_path_tokens_are_refused(token: str, why: str) -> None:
    with pytest.raises(ConfigError) as refused:
        check_daemon_settings(_settings(meetergo_path_token=token))
    message = str(refused.value)
    assert "receiver.meetergo_path_token" in message and why in message
    assert token not in message  # the token is a secret, even a bad one


@pytest.mark.parametrize(
    "url",
    [
        "http://sync.example.com",  # plain http off loopback
        "https://",  # no host
        "https:///hooks",
        "ftp://sync.example.com",
        "sync.example.com",
    ],
)
def test_public_urls_vendors_cannot_use_are_refused(url: str) -> None:
    with pytest.raises(ConfigError) as refused:
        _settings(public_url=url)
    assert "receiver.public_url" in str(refused.value)


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080", "https://a.b"]
)
def test_https_or_loopback_is_accepted(url: str) -> None:
    assert _settings(public_url=url).receiver.public_url == url


def test_everything_missing_is_named_at_once() -> None:
    settings = load_settings(None, {"meetmatch": {"api_key": "k"}, "meetergo": {"api_key": "k"}})
    with pytest.raises(ConfigError) as refused:
        check_daemon_settings(settings)
    message = str(refused.value)
    for key in ("receiver.public_url", "receiver.meetergo_path_token", "meetmatch.webhook_secret"):
        assert key in message


@pytest.mark.parametrize("key", ["mm_live_abc\n", "mm_live_a\u200bbc", "mm live", "mm_live_ä"])
def test_a_key_that_cannot_go_into_a_header_is_refused_at_start(key: str) -> None:
    for section in ("meetmatch", "meetergo"):
        data: dict[str, dict[str, Any]] = {
            "meetmatch": {"api_key": "k"},
            "meetergo": {"api_key": "k"},
        }
        data[section]["api_key"] = key
        with pytest.raises(ConfigError) as refused:
            load_settings(None, data)
        message = str(refused.value)
        assert f"{section}.api_key" in message and "invisible character" in message
        assert key.strip() not in message
