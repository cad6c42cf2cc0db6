"""The initial state schema: links, sightings, skipped, dead letters, runs, cursors.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _stamps(*names: str) -> list[sa.Column[object]]:
    return [sa.Column(name, sa.DateTime(timezone=True), nullable=False) for name in names]


def upgrade() -> None:
    op.create_table(
        "links",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("email", sa.String(320), nullable=False, unique=True),
        sa.Column("meetmatch_id", sa.String(64), unique=True),
        sa.Column("meetergo_id", sa.String(64), unique=True),
        sa.Column("meetmatch_hash", sa.String(64)),
        sa.Column("meetergo_hash", sa.String(64)),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("state", sa.String(24), nullable=False),
        *_stamps("created_at", "updated_at"),
    )
    op.create_table(
        "sightings",
        sa.Column("meetmatch_id", sa.String(64), primary_key=True),
        sa.Column("email", sa.String(320)),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("settled", sa.Boolean, nullable=False),
        *_stamps("first_seen", "last_seen"),
    )
    op.create_index("ix_sightings_settled", "sightings", ["settled"])
    op.create_table(
        "skipped",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("side", sa.String(16), nullable=False),
        sa.Column("record_id", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("reason", sa.String(32), nullable=False),
        sa.Column("detail", sa.Text),
        *_stamps("first_seen", "last_seen"),
        sa.UniqueConstraint("side", "record_id", name="uq_skipped_side_record"),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("target", sa.String(16), nullable=False),
        sa.Column("operation", sa.String(32), nullable=False),
        sa.Column("source_side", sa.String(16), nullable=False),
        sa.Column("source_id", sa.String(64), nullable=False),
        sa.Column("email", sa.String(320)),
        sa.Column("payload", sa.JSON, nullable=False),
        sa.Column("error", sa.Text, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        *_stamps("created_at", "updated_at"),
        sa.Column("resolved_at", sa.DateTime(timezone=True)),
    )
    op.create_table(
        "sync_runs",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("summary", sa.JSON),
    )
    op.create_table(
        "cursors",
        sa.Column("name", sa.String(64), primary_key=True),
        sa.Column("value", sa.Text, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
    )


def downgrade() -> None:
    for table in ("cursors", "sync_runs", "dead_letters", "skipped", "sightings", "links"):
        op.drop_table(table)
