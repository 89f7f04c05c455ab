"""Bookings are addressed by their integer id like every other object: the hex `public_id` column goes.

`booking.id` has always been the integer primary key that booking_seat and no_show_strike reference, so no
row and no foreign key changes; the PostgreSQL exclusion constraint is on (venue_id, resident_id, time range)
and does not involve the dropped column. The downgrade gives existing rows a fresh hex id.

Revision ID: 0014_booking_int_ids
Revises: 0013_staff_token_expiry
Create Date: 2026-12-07
"""

import uuid
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014_booking_int_ids"
down_revision: str | Sequence[str] | None = "0013_staff_token_expiry"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Drop booking.public_id and its unique constraint."""
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.drop_constraint("uq_booking_public_id", type_="unique")
        batch_op.drop_column("public_id")


def downgrade() -> None:
    """Restore the column, filled with a random hex id per row, and its unique constraint."""
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.add_column(sa.Column("public_id", sa.String(length=32), nullable=True))
    conn = op.get_bind()
    ids = [row[0] for row in conn.execute(sa.text("SELECT id FROM booking"))]
    for booking_id in ids:
        conn.execute(
            sa.text("UPDATE booking SET public_id = :p WHERE id = :i"), {"p": uuid.uuid4().hex, "i": booking_id}
        )
    with op.batch_alter_table("booking", schema=None) as batch_op:
        batch_op.alter_column("public_id", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_unique_constraint("uq_booking_public_id", ["public_id"])
