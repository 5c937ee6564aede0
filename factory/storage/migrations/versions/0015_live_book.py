"""live book: the factory's own track record (book_returns) and the ledger state it
carries from one rebalance to the next (book_state)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-04 06:20:00

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

# revision identifiers, used by Alembic.
revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "book_returns",
        sa.Column("bar_ts", sa.DateTime(), nullable=False),
        sa.Column("rebalance_id", sa.Integer(), nullable=True),
        sa.Column("gross", sa.Double(), nullable=False),
        sa.Column("turnover", sa.Double(), nullable=False),
        sa.Column("cost", sa.Double(), nullable=False),
        sa.Column("net", sa.Double(), nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("bar_ts"),
    )
    op.create_table(
        "book_state",
        sa.Column("name", sa.String(length=16), nullable=False),
        sa.Column("last_bar", sa.DateTime(), nullable=False),
        sa.Column("state", sa.Text(), nullable=False),
        sa.Column("before_bar", sa.DateTime(), nullable=True),
        sa.Column("before_state", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    """Downgrade schema."""
    op.drop_table("book_state")
    op.drop_table("book_returns")
