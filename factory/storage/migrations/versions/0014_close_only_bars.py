"""bars.open/high/low/volume nullable: close-only universes (adjusted closes, no OHLV)

Revision ID: 0014
Revises: 0012
Create Date: 2026-12-04 06:00:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0014"
down_revision: str | Sequence[str] | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

COLUMNS = ("open", "high", "low", "volume")


def upgrade() -> None:
    """Upgrade schema."""
    with op.batch_alter_table("bars") as batch:
        for name in COLUMNS:
            batch.alter_column(name, existing_type=sa.Double(), nullable=True)


def downgrade() -> None:
    """Downgrade schema. Refuses (NOT NULL violation) while close-only bars are stored:
    delete them first — nothing would be honest to put in their place."""
    with op.batch_alter_table("bars") as batch:
        for name in COLUMNS:
            batch.alter_column(name, existing_type=sa.Double(), nullable=False)
