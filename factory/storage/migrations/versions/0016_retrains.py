"""retrains: the health monitor's retrain requests (forced refits of red configs) and
champion-challenger shadow runs (yellow configs), with their outcomes

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-04 09:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "retrains",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("config_id", sa.String(length=32), nullable=False),
        sa.Column("eval_key", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("requested_bar", sa.DateTime(), nullable=False),
        sa.Column("after_ts", sa.DateTime(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("state", sa.Text(), nullable=True),
        sa.Column("bars", sa.Integer(), nullable=False),
        sa.Column("champion_net", sa.Double(), nullable=True),
        sa.Column("challenger_net", sa.Double(), nullable=True),
        sa.Column("swap_after_ts", sa.DateTime(), nullable=True),
        sa.Column("model", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(["config_id"], ["configs.config_id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_retrains_config_status", "retrains", ["config_id", "status"])


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_retrains_config_status", table_name="retrains")
    op.drop_table("retrains")
