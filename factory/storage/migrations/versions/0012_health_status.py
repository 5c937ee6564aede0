"""health_status: the monitor's latest verdict per config (green / yellow / red)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-04 06:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "health_status",
        sa.Column("config_id", sa.String(length=32), nullable=False),
        sa.Column("state", sa.String(length=8), nullable=False),
        sa.Column("since", sa.DateTime(), nullable=False),
        sa.Column("checked_at", sa.DateTime(), nullable=False),
        sa.Column("time_key", sa.String(length=32), nullable=False),
        sa.Column("as_of", sa.DateTime(), nullable=True),
        sa.Column("reasons", sa.Text(), nullable=False),
        sa.Column("metrics", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["config_id"], ["configs.config_id"]),
        sa.PrimaryKeyConstraint("config_id"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("health_status")
