"""Every appeal belongs to a community: backfill `appeal.community_id` where it is still empty.

In order: the appeal's grid, its building's grid (else estate), the property company it went to (when all of that
company's estates lie in one community), then the account's default community — the community whose code is
in HONGGUAN_DEFAULT_COMMUNITY, else the only community when there is exactly one. No schema change.

Revision ID: 0015_appeal_community
Revises: 0014_booking_int_ids
Create Date: 2026-12-07
"""

import logging
import os
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015_appeal_community"
down_revision: str | Sequence[str] | None = "0014_booking_int_ids"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

log = logging.getLogger("alembic.runtime.migration")

_BY_PLACE_AND_UNIT = (
    """UPDATE appeal SET community_id = (SELECT g.community_id FROM grid g WHERE g.id = appeal.grid_id)
       WHERE community_id IS NULL AND grid_id IS NOT NULL""",
    # A building's grid decides, as in routing (services.appeals.routing.locate); its estate when the grid is gone.
    """UPDATE appeal SET community_id = (
           SELECT COALESCE(g.community_id, e.community_id) FROM building b
           JOIN estate e ON e.id = b.estate_id LEFT JOIN grid g ON g.id = b.grid_id
           WHERE b.id = appeal.building_id)
       WHERE community_id IS NULL AND building_id IS NOT NULL""",
    """UPDATE appeal SET community_id = (
           SELECT MIN(e.community_id) FROM estate e WHERE e.property_company_id = appeal.property_company_id
           HAVING COUNT(DISTINCT e.community_id) = 1)
       WHERE community_id IS NULL AND property_company_id IS NOT NULL""",
)


def _default_community(conn: sa.Connection) -> int | None:
    code = os.environ.get("HONGGUAN_DEFAULT_COMMUNITY", "").strip()
    if code:
        found = conn.execute(sa.text("SELECT id FROM community WHERE code = :code"), {"code": code}).scalar()
        if found is not None:
            return int(found)
    ids = list(conn.execute(sa.text("SELECT id FROM community ORDER BY id LIMIT 2")).scalars())
    return int(ids[0]) if len(ids) == 1 else None


def upgrade() -> None:
    """Fill the empty community of existing appeals from their place, their unit, then the default."""
    conn = op.get_bind()
    for statement in _BY_PLACE_AND_UNIT:
        conn.execute(sa.text(statement))
    default = _default_community(conn)
    if default is not None:
        conn.execute(sa.text("UPDATE appeal SET community_id = :c WHERE community_id IS NULL"), {"c": default})
    left = conn.execute(sa.text("SELECT COUNT(*) FROM appeal WHERE community_id IS NULL")).scalar()
    if left:
        log.warning(
            "%d appeal(s) still have no community (several communities and no HONGGUAN_DEFAULT_COMMUNITY)", left
        )


def downgrade() -> None:
    """Nothing to undo: the filled-in communities are correct data, kept by the older schema too."""
