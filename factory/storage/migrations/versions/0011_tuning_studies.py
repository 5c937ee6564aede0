"""tuning_studies: one row per Optuna study of `factory tune` (its trial count feeds the
deflated Sharpe's multiple-testing population)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 06:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "tuning_studies",
        sa.Column("study_name", sa.String(255), nullable=False),
        sa.Column("architecture", sa.String(64), nullable=False),
        sa.Column("feature_set", sa.String(64), nullable=False),
        sa.Column("lookback", sa.Integer(), nullable=False),
        sa.Column("sampler", sa.String(16), nullable=False),
        sa.Column("boundary", sa.DateTime(), nullable=False),
        sa.Column("n_trials", sa.Integer(), nullable=False),
        sa.Column("n_complete", sa.Integer(), nullable=False),
        sa.Column("n_pruned", sa.Integer(), nullable=False),
        sa.Column("best_value", sa.Double(), nullable=True),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("study_name", name=op.f("pk_tuning_studies")),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("tuning_studies")
