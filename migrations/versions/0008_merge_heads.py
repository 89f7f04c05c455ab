"""One schema: merge the per-area branches (each area's tables were written in parallel off 0001).

Revision ID: 0008_merge_heads
Revises: 0002_notify, 0003_routing, 0004_workflow, 0005_reports, 0006_miniapp_booking, 0007_points_events
Create Date: 2026-11-22
"""

from collections.abc import Sequence

revision: str = "0008_merge_heads"
down_revision: str | Sequence[str] | None = (
    "0002_notify",
    "0003_routing",
    "0004_workflow",
    "0005_reports",
    "0006_miniapp_booking",
    "0007_points_events",
)
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Nothing to do: the branches touch disjoint tables."""


def downgrade() -> None:
    """Nothing to do."""
