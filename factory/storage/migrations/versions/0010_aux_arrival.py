"""aux_values.visible_after: late sentiment / on-chain values affect only later bars;
evaluations.record_version: the generation of a config's record, for readers that cache

Revision ID: 0010
Revises: 0004
Create Date: 2026-12-04 01:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0010"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("aux_values") as batch:
        batch.add_column(sa.Column("visible_after", sa.DateTime(), nullable=True))
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(
            sa.Column("record_version", sa.Integer(), nullable=False, server_default="0")
        )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_column("record_version")
    with op.batch_alter_table("aux_values") as batch:
        batch.drop_column("visible_after")
