"""Configuration details that are pure: secrets from files."""

from __future__ import annotations

from pathlib import Path

from connector.settings import secrets_from_files


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
