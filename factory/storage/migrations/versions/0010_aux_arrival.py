"""aux_values.visible_after: late sentiment / on-chain values affect only later bars

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


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("aux_values") as batch:
        batch.drop_column("visible_after")
