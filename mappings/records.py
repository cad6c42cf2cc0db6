"""Typed records of both vendors, as the API clients hand them to the rest of meetbridge.

Vendor JSON never travels past the clients: they parse it into these models. They live in
`mappings` (not in `connector`) because the pure translation code reads them and must not import
anything that does I/O. Unknown fields are ignored so that a vendor adding a field breaks nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

JsonObject = dict[str, Any]


def real_unicode(value: Any) -> Any:
    """`value` with every lone surrogate in its strings, keys and nested values replaced by U+FFFD.

    Vendor JSON can carry `"\\ud800"`, which decodes to a lone surrogate: not Unicode text, so
    it cannot be encoded as UTF-8, and pydantic's JSON dump, the database and every request that
    would carry it fail with UnicodeEncodeError. A surrogate pair split over two code points is
    joined into its one character.
    """
    if isinstance(value, str):
        if value.isascii():
            return value
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return value
    if isinstance(value, dict):
        return {real_unicode(key): real_unicode(item) for key, item in value.items()}
    if isinstance(value, list):
        return [real_unicode(item) for item in value]
    return value


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _real_unicode(cls, data: Any) -> Any:
        """Records hold Unicode text only (see `real_unicode`), whichever vendor sent them."""
        return real_unicode(data)

    @field_validator(
        "custom_fields",
        "answers",
        "additional_data",
        "tags",
        "event_types",
        mode="before",
        check_fields=False,
    )
    @classmethod
    def _null_is_empty(cls, value: Any, info: Any) -> Any:
        """A vendor sending null for an object or list field means "none": treat it as empty
        rather than refusing the whole record (and with it a whole list read)."""
        if value is not None:
            return value
        field = cls.model_fields[info.field_name]
        return field.default_factory() if field.default_factory else value  # type: ignore[call-arg]


# --- MeetMatch -----------------------------------------------------------------------------


class MeetMatchContact(_Record):
    """A CRM contact as `GET /contacts` and `POST /contacts` return it."""

    id: str
    full_name: str | None = None
    email: str | None = None
    company: str | None = None
    phone: str | None = None
    lead_source: str | None = None
    custom_fields: JsonObject = Field(default_factory=dict)
    created_at: datetime | None = None


class MeetMatchAppointment(_Record):
    id: str
    status: str | None = None
    prospect_id: str | None = None
    prospect_name: str | None = None
    prospect_email: str | None = None
    prospect_company: str | None = None
    event_type_name: str | None = None
    created_at: datetime | None = None


class MeetMatchDeal(_Record):
    id: str
    deal_name: str | None = None
    status: str | None = None
    prospect_id: str | None = None
    prospect_name: str | None = None
    prospect_email: str | None = None
    created_at: datetime | None = None


class MeetMatchFormSubmission(_Record):
    id: str
    questionnaire_title: str | None = None
    prospect_id: str | None = None
    prospect_name: str | None = None
    prospect_email: str | None = None
    prospect_company: str | None = None
    prospect_phone: str | None = None
    answers: JsonObject = Field(default_factory=dict)
    created_at: datetime | None = None


ProspectSource = Literal["contact", "appointment", "deal", "form_submission"]


class MeetMatchProspect(_Record):
    """One sighting of a MeetMatch person, whichever list it came from.

    Appointments, deals and form submissions carry a prospect (`prospect_id` is the contact id), so
    a person can be seen there after the contact itself has left the newest-100 window.
    """

    id: str
    source: ProspectSource
    full_name: str | None = None
    email: str | None = None
    company: str | None = None
    phone: str | None = None
    lead_source: str | None = None
    custom_fields: JsonObject = Field(default_factory=dict)
    created_at: datetime | None = None


class NewMeetMatchContact(_Record):
    """Body of `POST /contacts` (MeetMatch contacts can only be created, never changed)."""

    full_name: str
    email: str
    company: str | None = None
    phone: str | None = None
    lead_source: str | None = None
    custom_fields: JsonObject = Field(default_factory=dict)


class MeetMatchOrganization(_Record):
    """What `GET /auth` names: the organization the key belongs to."""

    id: str | None = None
    name: str | None = None


class MeetMatchHook(_Record):
    id: str
    event: str | None = None
    target_url: str | None = None


# --- meetergo ------------------------------------------------------------------------------


class MeetergoContact(_Record):
    """A meetergo CRM contact (the `item` inside each `/crm` row)."""

    id: str
    first_name: str | None = Field(default=None, alias="firstName")
    last_name: str | None = Field(default=None, alias="lastName")
    email: str | None = None
    phone_number: str | None = Field(default=None, alias="phoneNumber")
    language: str | None = None
    tags: list[str] = Field(default_factory=list)
    notes: str | None = None
    additional_data: JsonObject = Field(default_factory=dict, alias="additionalData")
    created_at: datetime | None = Field(default=None, alias="createdAt")
    updated_at: datetime | None = Field(default=None, alias="updatedAt")


class MeetergoDraft(_Record):
    """Body of `POST /crm`, of one entry of `POST /crm/bulk`, or of `PATCH /crm/{id}`.

    Only set fields are sent (`model_dump(exclude_unset=True, by_alias=True)`). A PATCH carries
    whole values: meetergo replaces `tags` (and, we assume, `additionalData`) instead of merging.
    """

    first_name: str | None = Field(default=None, alias="firstName")
    last_name: str | None = Field(default=None, alias="lastName")
    email: str | None = None
    phone_number: str | None = Field(default=None, alias="phoneNumber")
    tags: list[str] | None = None
    additional_data: JsonObject | None = Field(default=None, alias="additionalData")

    def body(self) -> JsonObject:
        """The JSON body to send: set fields only, under meetergo's names."""
        return self.model_dump(mode="json", exclude_unset=True, by_alias=True)


class MeetergoPage(_Record):
    """One page of `GET /crm`."""

    contacts: list[MeetergoContact]
    page: int
    limit: int
    total: int
    total_pages: int


class MeetergoWebhook(_Record):
    id: str
    endpoint: str | None = None
    event_types: list[str] = Field(default_factory=list, alias="eventTypes")
