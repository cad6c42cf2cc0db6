"""Configuration: a TOML file, every key overridable by `MEETBRIDGE_<SECTION>__<KEY>`.

Environment variables win over the file (containers inject secrets that way). Secrets are
`SecretStr`: they print as `**********` in reprs, logs and errors. A config that cannot be
loaded or validated raises `ConfigError` naming every bad key at once, so all get fixed in one go.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from connector.errors import ConfigError

Direction = Literal["meetergo_to_meetmatch", "meetmatch_to_meetergo"]
ALL_DIRECTIONS: tuple[Direction, ...] = ("meetergo_to_meetmatch", "meetmatch_to_meetergo")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class MeetMatchSettings(_Section):
    base_url: str = "https://www.meetmatch.ai/api/zapier/v1"
    api_key: SecretStr
    webhook_secret: SecretStr | None = None
    requests_per_minute: float = Field(default=120, gt=0)
    burst: int = Field(default=10, ge=1)
    timeout_seconds: float = Field(default=30, gt=0)


class MeetergoSettings(_Section):
    base_url: str = "https://api.meetergo.com"
    api_key: SecretStr
    # Only platform keys (ak_live:…) need this header; personal tokens must not send it.
    api_user_id: str = ""
    requests_per_minute: float = Field(default=100, gt=0)
    bulk_per_minute: float = Field(default=3, gt=0)
    burst: int = Field(default=10, ge=1)
    timeout_seconds: float = Field(default=30, gt=0)


class SyncSettings(_Section):
    directions: list[Direction] = Field(default_factory=lambda: list(ALL_DIRECTIONS))
    poll_interval_seconds: float = Field(default=60, gt=0)
    reconcile_interval_seconds: float = Field(default=3600, gt=0)
    conflict: Literal["fill_empty", "source_wins"] = "fill_empty"
    meetergo_tags: list[str] = Field(default_factory=lambda: ["MeetMatch"])
    lead_source: str = "meetergo"
    # MeetMatch custom_fields key -> meetergo additionalData key.
    field_renames: dict[str, str] = Field(default_factory=dict)
    # Region for phone numbers written without a country code (e.g. "DE"); empty: keep as is.
    default_phone_region: str = ""
    # A person whose meetergo contact a user deleted: keep it deleted (recorded as a skip that
    # `status` shows) or create it again from the next MeetMatch observation.
    on_meetergo_delete: Literal["keep_deleted", "recreate"] = "keep_deleted"
    # Contacts to create in meetergo at once before the bulk endpoint pays off (it needs a re-read).
    bulk_threshold: int = Field(default=3, ge=1)
    # How many writes run at once; the rate budget paces them either way.
    concurrency: int = Field(default=8, ge=1, le=64)

    @field_validator("directions")
    @classmethod
    def _directions_not_empty(cls, value: list[Direction]) -> list[Direction]:
        if not value:
            raise ValueError("name at least one direction")
        return value


class StateSettings(_Section):
    url: str = "sqlite:///meetbridge.db"

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        return value


class ReceiverSettings(_Section):
    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=0, le=65535)
    public_url: str = ""
    meetergo_path_token: SecretStr | None = None

    @field_validator("public_url")
    @classmethod
    def _https_unless_loopback(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if parts.scheme == "https":
            return value.rstrip("/")
        if parts.scheme == "http" and _is_loopback(parts.hostname or ""):
            return value.rstrip("/")
        raise ValueError("must be an https:// URL (plain http only on loopback)")


class RetrySettings(_Section):
    attempts: int = Field(default=5, ge=1)
    max_seconds: float = Field(default=120, ge=0)
    initial_wait_seconds: float = Field(default=0.5, ge=0)
    max_wait_seconds: float = Field(default=30, ge=0)


class Settings(BaseSettings):
    """The whole configuration; sections mirror `config.example.toml`."""

    model_config = SettingsConfigDict(
        env_prefix="MEETBRIDGE_", env_nested_delimiter="__", extra="forbid"
    )

    meetmatch: MeetMatchSettings
    meetergo: MeetergoSettings
    sync: SyncSettings = Field(default_factory=SyncSettings)
    state: StateSettings = Field(default_factory=StateSettings)
    receiver: ReceiverSettings = Field(default_factory=ReceiverSettings)
    retry: RetrySettings = Field(default_factory=RetrySettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as init values; environment variables must override them.
        return env_settings, init_settings


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _env_name(loc: tuple[int | str, ...]) -> str:
    return "MEETBRIDGE_" + "__".join(str(part).upper() for part in loc)


def secrets_from_files(environ: MutableMapping[str, str]) -> list[str]:
    """`MEETBRIDGE_X__Y_FILE=/run/secrets/y` sets `MEETBRIDGE_X__Y` to that file's content.

    Docker and Kubernetes hand secrets over as files; a variable set directly wins. Returns the
    problems found (unreadable files), named by variable. Keys are listed first, since the
    mapping changes while it is walked.
    """
    problems = []
    for name in sorted(list(environ)):
        if not (name.startswith("MEETBRIDGE_") and name.endswith("_FILE")):
            continue
        target = name.removesuffix("_FILE")
        # Consumed here: left in place, it would read as an unknown key `…_file`.
        source = environ.pop(name)
        if target in environ:
            continue
        try:
            environ[target] = Path(source).read_text(encoding="utf-8").strip()
        except OSError as exc:
            problems.append(f"{name}: cannot read {source}: {exc.strerror}")
    return problems


def load_settings(path: Path | None, overrides: dict[str, Any] | None = None) -> Settings:
    """Read the TOML file (if any), apply environment overrides, validate everything at once."""
    file_problems = secrets_from_files(os.environ)
    if file_problems:
        raise ConfigError(file_problems)
    data: dict[str, Any] = {}
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise ConfigError(
                [f"{path}: no such file (copy config.example.toml and edit it)"]
            ) from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{path}: not valid TOML: {exc}"]) from exc
        except OSError as exc:
            raise ConfigError([f"{path}: cannot read: {exc.strerror}"]) from exc
    for section, values in (overrides or {}).items():
        data.setdefault(section, {}).update(values)
    try:
        return Settings(**data)
    except SettingsError as exc:
        # An environment variable for a list or table key that is not JSON.
        raise ConfigError(
            [
                f"{exc} (list and table keys take JSON in the environment, e.g. "
                "MEETBRIDGE_SYNC__DIRECTIONS='[\"meetergo_to_meetmatch\"]')"
            ]
        ) from exc
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = tuple(error["loc"])
            key = ".".join(str(part) for part in loc)
            # Never echo the offending value: it may be a secret.
            msg = "required but not set" if error["type"] == "missing" else error["msg"]
            problems.append(f"{key}: {msg} (set it in the config file or {_env_name(loc)})")
        raise ConfigError(problems) from exc
