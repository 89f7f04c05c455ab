"""`inbound_message.msg_id` as text: WeChat's MsgId is an unsigned 64-bit number, and values of 2^63 and
above do not fit a signed BIGINT on either database (SQLite refused the insert, PostgreSQL overflowed).

Revision ID: 0012_msgid_text
Revises: 0011_duty_roster
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_msgid_text"
down_revision: str | Sequence[str] | None = "0011_duty_roster"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The longest unsigned 64-bit number has 20 digits; the room left covers ids WeChat may widen.
MSG_ID_LENGTH = 32


def upgrade() -> None:
    """Convert the column in place; existing ids keep their decimal digits."""
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.alter_column(
            "msg_id",
            existing_type=sa.BigInteger(),
            type_=sa.String(length=MSG_ID_LENGTH),
            existing_nullable=True,
            postgresql_using=f"msg_id::varchar({MSG_ID_LENGTH})",
        )


def downgrade() -> None:
    """Back to BIGINT; ids that do not fit a signed 64-bit integer (or are not numbers) become NULL."""
    op.execute(
        "UPDATE inbound_message SET msg_id = NULL WHERE msg_id IS NOT NULL AND ("
        "ltrim(msg_id, '0123456789') <> '' OR length(msg_id) > 19"
        " OR (length(msg_id) = 19 AND msg_id > '9223372036854775807'))"
    )
    with op.batch_alter_table("inbound_message", schema=None) as batch_op:
        batch_op.alter_column(
            "msg_id",
            existing_type=sa.String(length=MSG_ID_LENGTH),
            type_=sa.BigInteger(),
            existing_nullable=True,
            postgresql_using="msg_id::bigint",
        )
