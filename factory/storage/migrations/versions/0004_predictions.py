"""predictions: the log of signals served by POST /predict

Revision ID: 0004
Revises: 0001
Create Date: 2026-11-26 09:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "predictions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=32), nullable=False),
        sa.Column("requested_at", sa.DateTime(), nullable=False),
        sa.Column("config_id", sa.String(length=32), nullable=False),
        sa.Column("asset", sa.String(length=64), nullable=False),
        sa.Column("bar_ts", sa.DateTime(), nullable=False),
        sa.Column("signal", sa.Double(), nullable=False),
        sa.Column("artifact_sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(
            ["config_id"],
            ["configs.config_id"],
            name=op.f("fk_predictions_config_id_configs"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_predictions")),
    )
    op.create_index("ix_predictions_requested_at", "predictions", ["requested_at"], unique=False)
    op.create_index("ix_predictions_request_id", "predictions", ["request_id"], unique=False)


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_index("ix_predictions_request_id", table_name="predictions")
    op.drop_index("ix_predictions_requested_at", table_name="predictions")
    op.drop_table("predictions")
