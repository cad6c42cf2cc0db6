"""Configuration: a TOML file, every key overridable by `MEETBRIDGE_<SECTION>__<KEY>`.

Environment variables win over the file (containers inject secrets that way). Secrets are
`SecretStr`: they print as `**********` in reprs, logs and errors. A config that cannot be
loaded or validated raises `ConfigError` naming every bad key at once, so all get fixed in one go.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import unquote, urlsplit

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


def _f(default: Any = ..., description: str = "", **kw: Any) -> Any:
    """A field with its description: the config reference in docs/ is generated from these."""
    return Field(default, description=description, **kw)


def _header_safe(value: str, what: str) -> str:
    """A value sent in an HTTP header: printable ASCII, no spaces (a pasted key often brings a
    newline or a zero-width space, which would fail every request in an obscure way)."""
    if not (value.isascii() and value.isprintable() and " " not in value):
        raise ValueError(
            f"{what} may hold only printable ASCII without spaces (check for a "
            "newline or an invisible character copied with it)"
        )
    return value


class _VendorSection(_Section):
    """What both vendors' sections check: the key goes into a header."""

    @field_validator("api_key", check_fields=False)
    @classmethod
    def _key_is_header_safe(cls, value: SecretStr) -> SecretStr:
        _header_safe(value.get_secret_value(), "the key")
        return value


class MeetMatchSettings(_VendorSection):
    """MeetMatch's Zapier REST API."""

    base_url: str = _f("https://www.meetmatch.ai/api/zapier/v1", "API base URL.")
    api_key: SecretStr = _f(
        description="API key (mm_live_…) from Settings → Zapier & API Keys, with the read and "
        "the write scope."
    )
    webhook_secret: SecretStr | None = _f(
        None, "Key of the X-MeetMatch-Signature HMAC on webhook deliveries (required by `run`)."
    )
    previous_webhook_secrets: list[SecretStr] = _f(
        [], "Older webhook secrets still accepted while a rotation is under way."
    )
    requests_per_minute: float = _f(
        120, "Smooth request pace (MeetMatch publishes no limit; this is a polite one).", gt=0
    )
    burst: int = _f(
        10,
        "Requests that may go out back to back. Keep it well below the vendor's own burst "
        "allowance: latency lets a sender's bucket drift ahead of the receiver's.",
        ge=1,
    )
    timeout_seconds: float = _f(30, "Timeout of one request.", gt=0)


class MeetergoSettings(_VendorSection):
    """meetergo's API."""

    base_url: str = _f("https://api.meetergo.com", "API base URL.")
    api_key: SecretStr = _f(description="API key (a personal token, or a platform key ak_live:…).")
    api_user_id: str = _f(
        "",
        "Only for platform keys (ak_live:…): the user to act as (header "
        "x-meetergo-api-user-id). Leave empty for personal tokens, which must not send it.",
    )
    requests_per_minute: float = _f(100, "Smooth request pace; meetergo allows 100/minute.", gt=0)
    bulk_per_minute: float = _f(
        3, "POST /crm/bulk calls per minute (each also counts as a request).", gt=0
    )
    burst: int = _f(10, "Requests that may go out back to back (keep below meetergo's).", ge=1)

    @field_validator("api_user_id")
    @classmethod
    def _user_id_is_header_safe(cls, value: str) -> str:
        return _header_safe(value, "the user id") if value else value

    timeout_seconds: float = _f(30, "Timeout of one request.", gt=0)


class SyncSettings(_Section):
    """What is synced, and how."""

    directions: list[Direction] = _f(
        list(ALL_DIRECTIONS), "Directions to sync: meetergo_to_meetmatch, meetmatch_to_meetergo."
    )
    poll_interval_seconds: float = _f(
        60, "How often `run` polls the newest records of both sides.", gt=0
    )
    reconcile_interval_seconds: float = _f(
        3600, "How often `run` walks all of meetergo (changes, deletions).", gt=0
    )
    conflict: Literal["fill_empty", "source_wins"] = _f(
        "fill_empty",
        "fill_empty: only fill empty meetergo fields, merge tags and additionalData, never "
        "clobber. source_wins: the side where a change was seen overwrites meetergo's values.",
    )
    meetergo_tags: list[str] = _f(["MeetMatch"], "Tags added to contacts created in meetergo.")
    lead_source: str = _f("meetergo", "lead_source of contacts created in MeetMatch.")
    field_renames: dict[str, str] = _f(
        {}, "Custom field renames: MeetMatch custom_fields key = meetergo additionalData key."
    )
    default_phone_region: str = _f(
        "", 'Country for phone numbers without +country code (e.g. "DE"); empty: keep as is.'
    )
    on_meetergo_delete: Literal["keep_deleted", "recreate"] = _f(
        "keep_deleted",
        "A person whose meetergo contact a user deleted: keep_deleted (status lists them as "
        "deleted_on_other_side) or recreate (from the next MeetMatch observation).",
    )
    bulk_threshold: int = _f(
        3, "From this many new contacts on, meetergo creates use the bulk endpoint.", ge=1
    )
    concurrency: int = _f(
        8, "Writes in flight at once (the rate budget paces them either way).", ge=1, le=64
    )

    @field_validator("directions")
    @classmethod
    def _directions_not_empty(cls, value: list[Direction]) -> list[Direction]:
        if not value:
            raise ValueError("name at least one direction")
        return value


class StateSettings(_Section):
    """Where meetbridge remembers links, skips, dead letters and deliveries."""

    url: str = _f(
        "sqlite:///meetbridge.db",
        "sqlite:///PATH (relative to the working directory; /data in the image) or "
        "postgresql+psycopg://USER:PASSWORD@HOST/DB.",
    )

    @field_validator("url")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if not value.startswith(("sqlite", "postgresql")):
            raise ValueError("use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")
        return value

    # `url` stays a plain str (every user of it wants the real URL); only its shown forms mask
    # the password, so repr(settings), str(settings) and tracebacks never carry it.
    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, redact_url(value) if name == "url" and isinstance(value, str) else value


# SQLAlchemy's own reading of a URL: the user has no ":" or "/", the password runs to the first
# "@"; psycopg also takes a `password=` query parameter.
_USER_INFO = re.compile(r"^(?P<head>[\w+]+://[^:/]*:)(?P<password>[^@]*)(?=@)")
_QUERY_PASSWORD = re.compile(r"(?i)(?P<head>[?&]password=)(?P<password>[^&#]*)")


def url_secrets(url: str) -> list[str]:
    """The passwords a database URL carries, in every spelling a message may show them in (as
    written and percent-decoded), longest first."""
    matches = [m for m in (_USER_INFO.match(url), *_QUERY_PASSWORD.finditer(url)) if m]
    raw = {m.group("password") for m in matches if m.group("password")}
    return sorted(raw | {unquote(p) for p in raw}, key=len, reverse=True)


def redact_url(url: str) -> str:
    """The URL with its password replaced by `***` (user, host and database kept)."""
    url = _USER_INFO.sub(r"\g<head>***", url)
    return _QUERY_PASSWORD.sub(r"\g<head>***", url)


def redact_secrets(text: str, secrets: list[str]) -> str:
    """`text` with every given secret replaced by `***`."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


class ReceiverSettings(_Section):
    """The webhook receiver and status page that `run` serves."""

    host: str = _f("0.0.0.0", "Address to listen on.")
    port: int = _f(8080, "Port to listen on.", ge=0, le=65535)
    public_url: str = _f(
        "",
        "Where both vendors reach the receiver (https; plain http only on loopback). "
        "Required by `run`.",
    )
    meetergo_path_token: SecretStr | None = _f(
        None,
        "Unguessable token, 32+ random characters: meetergo hooks go to "
        "/hooks/meetergo/<token> (meetergo signs nothing). Required by `run`.",
    )
    status_page: Literal["auto", "on", "off"] = _f(
        "auto",
        "The status page at /: auto = on when status_token or status_password is set, or "
        "without either only when both host and public_url are loopback (a proxy forwarding "
        "a public name to 127.0.0.1 makes it public); on = always (a warning at start when "
        "unauthenticated and public); off = never.",
    )
    status_token: SecretStr | None = _f(
        None, "Bearer token for the status page (Authorization: Bearer …)."
    )
    status_user: str = _f("admin", "Basic-auth user for the status page.")
    status_password: SecretStr | None = _f(None, "Basic-auth password for the status page.")

    @field_validator("public_url")
    @classmethod
    def _https_unless_loopback(cls, value: str) -> str:
        if not value:
            return value
        parts = urlsplit(value)
        if not parts.hostname:
            raise ValueError("must be an absolute URL with a host, e.g. https://sync.example.com")
        if parts.scheme == "https":
            return value.rstrip("/")
        if parts.scheme == "http" and _is_loopback(parts.hostname or ""):
            return value.rstrip("/")
        raise ValueError("must be an https:// URL (plain http only on loopback)")


class RetrySettings(_Section):
    """Retries of one request on 429, 5xx, timeouts and dropped connections."""

    attempts: int = _f(5, "Attempts per request.", ge=1)
    max_seconds: float = _f(120, "Give up on a request after this long in total.", ge=0)
    initial_wait_seconds: float = _f(0.5, "First wait; it doubles, with jitter.", ge=0)
    max_wait_seconds: float = _f(30, "Longest wait between attempts.", ge=0)


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
    # Sections without a default (no file, or a file without them): present but empty, so a
    # missing key is reported by its own name and variable, not as a missing section.
    for section in ("meetmatch", "meetergo"):
        data.setdefault(section, {})
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
