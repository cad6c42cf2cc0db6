"""Record shapes of the simulated MeetMatch API, as MeetMatch's API reference shows them.

Kept apart from the state so the shapes can be read in one place: every list endpoint and every
REST-hook delivery carries exactly these fields. Outcomes have no example there; their
fields here follow its one-line description (conversion status, revenue, rating).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from .common import Json, iso_seconds

EVENTS = (
    "appointment.created",
    "appointment.completed",
    "appointment.no_show",
    "appointment.cancelled",
    "appointment.rescheduled",
    "contact.created",
    "deal.created",
    "deal.stage_changed",
    "deal.won",
    "deal.lost",
    "outcome.recorded",
    "form.submitted",
)

KINDS = ("contacts", "appointments", "deals", "outcomes", "form-submissions")

# The event a newly created record of each kind fires.
CREATED_EVENT = {
    "contacts": "contact.created",
    "appointments": "appointment.created",
    "deals": "deal.created",
    "outcomes": "outcome.recorded",
    "form-submissions": "form.submitted",
}

APPOINTMENT_STATUSES = ("scheduled", "completed", "no_show", "cancelled")
DEAL_PRIORITIES = ("low", "medium", "high")

CONTACT_FIELDS = (
    "id",
    "full_name",
    "email",
    "company",
    "phone",
    "lead_source",
    "custom_fields",
    "created_at",
)

# The sandbox organization's one sales rep, owner of every appointment and deal.
REP = {
    "member_id": "8d7f3a52-5b8e-4c53-9a43-2f1b6f0d7a11",
    "rep_name": "Taylor Rep",
    "rep_email": "taylor@sandbox-org.example",
}
EVENT_TYPE = {
    "event_type_id": "5f0c2f7e-9a55-4d1e-8d1c-3c7e8a0b9e21",
    "event_type_name": "Discovery Call",
}
QUESTIONNAIRE = {
    "questionnaire_id": "0b6c2d4e-7f3a-4b8c-9d1e-2f3a4b5c6d7e",
    "questionnaire_title": "Discovery Intake",
}


def contact_record(record_id: str, created_at: str, fields: Json) -> Json:
    """A contact exactly as GET /contacts shows it."""
    return {
        "id": record_id,
        "full_name": fields.get("full_name"),
        "email": fields.get("email"),
        "company": fields.get("company"),
        "phone": fields.get("phone"),
        "lead_source": fields.get("lead_source"),
        "custom_fields": dict(fields.get("custom_fields") or {}),
        "created_at": created_at,
    }


def _merge(defaults: Json, fields: Json, kind: str) -> Json:
    unknown = set(fields) - set(defaults)
    if unknown:
        raise ValueError(f"unknown {kind} field(s): {', '.join(sorted(unknown))}")
    return {**defaults, **fields}


def appointment_record(record_id: str, created_at: str, prospect: Json, fields: Json) -> Json:
    """An appointment; `prospect` holds the prospect_* fields copied from its contact."""
    defaults: dict[str, Any] = {
        "id": record_id,
        "status": "scheduled",
        "scheduled_at": iso_seconds(datetime.fromisoformat(created_at) + timedelta(days=1)),
        "duration_minutes": 30,
        "meeting_url": f"https://meetmatch.live/r/{record_id[:8]}",
        "matching_method": "ml_ranked",
        "no_show_probability": 0.12,
        "prospect_id": prospect["prospect_id"],
        "prospect_name": prospect["prospect_name"],
        "prospect_email": prospect["prospect_email"],
        "prospect_company": prospect["prospect_company"],
        **REP,
        **EVENT_TYPE,
        "created_at": created_at,
    }
    record = _merge(defaults, fields, "appointment")
    if record["status"] not in APPOINTMENT_STATUSES:
        raise ValueError(f"status must be one of {', '.join(APPOINTMENT_STATUSES)}")
    return record


def deal_record(
    record_id: str, created_at: str, prospect: Json, pipeline: Json, fields: Json
) -> Json:
    """A deal in `pipeline` for the prospect."""
    label = prospect["prospect_company"] or prospect["prospect_name"] or "Deal"
    defaults: dict[str, Any] = {
        "id": record_id,
        "deal_name": f"{label} - New Deal",
        "deal_value": 0,
        "status": "open",
        "current_stage": 1,
        "priority": "medium",
        "expected_close_date": None,
        "pipeline_id": pipeline["id"],
        "pipeline_name": pipeline["name"],
        "prospect_id": prospect["prospect_id"],
        "prospect_name": prospect["prospect_name"],
        "prospect_email": prospect["prospect_email"],
        "owner_id": REP["member_id"],
        "created_at": created_at,
    }
    return _merge(defaults, fields, "deal")


def outcome_record(record_id: str, created_at: str, prospect: Json, fields: Json) -> Json:
    """A call outcome (shape inferred: MeetMatch publishes no example)."""
    defaults: dict[str, Any] = {
        "id": record_id,
        "appointment_id": None,
        "prospect_id": prospect["prospect_id"],
        "prospect_name": prospect["prospect_name"],
        "prospect_email": prospect["prospect_email"],
        "conversion_status": "qualified",
        "revenue": 0,
        "rating": None,
        "member_id": REP["member_id"],
        "created_at": created_at,
    }
    return _merge(defaults, fields, "outcome")


def form_submission_record(record_id: str, created_at: str, prospect: Json, fields: Json) -> Json:
    """A questionnaire submission; answers are keyed by the questions' labels."""
    defaults: dict[str, Any] = {
        "id": record_id,
        **QUESTIONNAIRE,
        "prospect_id": prospect["prospect_id"],
        "prospect_name": prospect["prospect_name"],
        "prospect_email": prospect["prospect_email"],
        "prospect_company": prospect["prospect_company"],
        "prospect_phone": prospect["prospect_phone"],
        "answers": {},
        "created_at": created_at,
    }
    return _merge(defaults, fields, "form submission")


def prospect_of(contact: Json) -> Json:
    """The prospect_* fields that records about this contact carry."""
    return {
        "prospect_id": contact["id"],
        "prospect_name": contact["full_name"],
        "prospect_email": contact["email"],
        "prospect_company": contact["company"],
        "prospect_phone": contact["phone"],
    }
