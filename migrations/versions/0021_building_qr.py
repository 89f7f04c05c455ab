"""A QR scene keeps the ticket and content of its permanent WeChat QR code, so the printable sheet of building QR
codes asks WeChat once per scene (permanent codes are limited per account).

Revision ID: 0021_building_qr
Revises: 0019_participation
Create Date: 2026-12-07
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0021_building_qr"
down_revision: str | Sequence[str] | None = "0019_participation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add qr_scene.ticket and qr_scene.qr_url."""
    op.add_column("qr_scene", sa.Column("ticket", sa.String(length=200), nullable=True))
    op.add_column("qr_scene", sa.Column("qr_url", sa.String(length=200), nullable=True))


def downgrade() -> None:
    """Drop them again."""
    with op.batch_alter_table("qr_scene") as batch:
        batch.drop_column("qr_url")
        batch.drop_column("ticket")
