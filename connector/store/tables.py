"""The state database's tables (SQLAlchemy Core). Alembic migrations create and change them.

- links: the identity of one person on both sides; once a link exists it is the truth, the
  email only made the first match. Hashes remember what was last written to / read from each
  side, so an observation equal to them is an echo and causes no write.
- sightings: every MeetMatch person meetbridge has seen. MeetMatch lists only show the newest
  100 records, so a person seen once is kept here until it is settled (linked or skipped).
- skipped: records deliberately not synced, with the reason `status` shows.
- dead_letters: writes that failed after their retries, with what is needed to replay them.
- sync_runs and cursors: history and resumable positions.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

links = Table(
    "links",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("email", String(320), nullable=False, unique=True),
    Column("meetmatch_id", String(64), unique=True),
    Column("meetergo_id", String(64), unique=True),
    Column("meetmatch_hash", String(64)),
    Column("meetergo_hash", String(64)),
    # Which side the person came from first: meetmatch, meetergo or both (matched by email).
    Column("origin", String(16), nullable=False),
    # active | ambiguous (meetergo holds two contacts with this email) | meetergo_deleted
    Column("state", String(24), nullable=False, default="active"),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

sightings = Table(
    "sightings",
    metadata,
    Column("meetmatch_id", String(64), primary_key=True),
    Column("email", String(320)),
    Column("payload", JSON, nullable=False),
    Column("settled", Boolean, nullable=False, default=False),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    # Every backfill reads the unsettled ones.
    Index("ix_sightings_settled", "settled"),
)

skipped = Table(
    "skipped",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("side", String(16), nullable=False),
    Column("record_id", String(64), nullable=False),
    Column("email", String(320)),
    Column("reason", String(32), nullable=False),
    Column("detail", Text),
    Column("first_seen", DateTime(timezone=True), nullable=False),
    Column("last_seen", DateTime(timezone=True), nullable=False),
    UniqueConstraint("side", "record_id", name="uq_skipped_side_record"),
)

dead_letters = Table(
    "dead_letters",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("target", String(16), nullable=False),
    Column("operation", String(32), nullable=False),
    Column("source_side", String(16), nullable=False),
    Column("source_id", String(64), nullable=False),
    Column("email", String(320)),
    Column("payload", JSON, nullable=False),
    Column("error", Text, nullable=False),
    Column("attempts", Integer, nullable=False, default=1),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("resolved_at", DateTime(timezone=True)),
)

sync_runs = Table(
    "sync_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("started_at", DateTime(timezone=True), nullable=False),
    Column("finished_at", DateTime(timezone=True)),
    # running | ok | failed | interrupted (a run killed midway; marked by the next run)
    Column("status", String(16), nullable=False),
    Column("summary", JSON),
)

cursors = Table(
    "cursors",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", Text, nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
)

# Webhook deliveries, stored before the receiver answers 2xx; the worker applies them.
inbox = Table(
    "inbox",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("vendor", String(16), nullable=False),
    Column("event", String(64), nullable=False),
    # sha256 of vendor and raw body: a replayed or repeated delivery is stored once.
    Column("delivery_key", String(64), nullable=False, unique=True),
    Column("payload", JSON, nullable=False),
    # pending | done | failed
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("error", Text),
    Column("received_at", DateTime(timezone=True), nullable=False),
    Column("available_at", DateTime(timezone=True), nullable=False),
    Column("processed_at", DateTime(timezone=True)),
    # The worker's query: the oldest pending deliveries that are due.
    Index("ix_inbox_state_available", "state", "available_at"),
)

# The webhook subscriptions meetbridge made, so a restart reuses them instead of adding more.
subscriptions = Table(
    "subscriptions",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("vendor", String(16), nullable=False),
    Column("event", String(64), nullable=False),
    Column("remote_id", String(64), nullable=False),
    Column("target_url", Text, nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    UniqueConstraint("vendor", "event", "target_url", name="uq_subscription"),
)
