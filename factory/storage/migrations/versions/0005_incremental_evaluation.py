"""incremental evaluation state, trials, settings history, events, lineage, rating summary

Revision ID: 0005
Revises: 0001
Create Date: 2026-12-03

"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("configs") as batch:
        batch.add_column(sa.Column("lineage", sa.Text(), nullable=True))
        batch.add_column(sa.Column("retired_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("retired_reason", sa.Text(), nullable=True))
    with op.batch_alter_table("evaluations") as batch:
        batch.add_column(sa.Column("state", sa.Text(), nullable=True))
        batch.add_column(
            sa.Column("attempts", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )
        batch.add_column(sa.Column("next_retry_at", sa.DateTime(), nullable=True))
    with op.batch_alter_table("config_returns") as batch:
        batch.add_column(sa.Column("cost", sa.Double(), nullable=True))
    with op.batch_alter_table("rating_snapshots") as batch:
        batch.add_column(sa.Column("summary", sa.Text(), nullable=True))
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_constraint("uq_artifacts_config_id", type_="unique")
        batch.add_column(sa.Column("eval_key", sa.String(length=32), nullable=True))
        batch.create_unique_constraint("uq_artifacts_uri", ["uri"])
        batch.create_index("ix_artifacts_config_id", ["config_id"])
    op.create_table(
        "eval_settings",
        sa.Column("eval_key", sa.String(length=32), nullable=False),
        sa.Column("settings", sa.Text(), nullable=False),
        sa.Column("first_used_at", sa.DateTime(), nullable=False),
        sa.PrimaryKeyConstraint("eval_key", name=op.f("pk_eval_settings")),
    )
    op.create_table(
        "trials",
        sa.Column("config_id", sa.String(length=32), nullable=False),
        sa.Column("eval_key", sa.String(length=32), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("ended_at", sa.DateTime(), nullable=True),
        sa.Column("n_obs", sa.Integer(), nullable=False),
        sa.Column("sharpe", sa.Double(), nullable=True),
        sa.ForeignKeyConstraint(
            ["config_id"], ["configs.config_id"], name=op.f("fk_trials_config_id_configs")
        ),
        sa.PrimaryKeyConstraint("config_id", "eval_key", name=op.f("pk_trials")),
    )
    op.create_table(
        "events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", sa.DateTime(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=255), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_events")),
    )
    op.create_index("ix_events_at", "events", ["at"])
    # Evaluations stored before incremental evaluation have no state: evaluate them anew.
    op.execute("UPDATE evaluations SET eval_key = 'pre-incremental' WHERE state IS NULL")


def downgrade() -> None:
    op.drop_index("ix_events_at", table_name="events")
    op.drop_table("events")
    op.drop_table("trials")
    op.drop_table("eval_settings")
    with op.batch_alter_table("artifacts") as batch:
        batch.drop_index("ix_artifacts_config_id")
        batch.drop_constraint("uq_artifacts_uri", type_="unique")
        batch.drop_column("eval_key")
        batch.create_unique_constraint("uq_artifacts_config_id", ["config_id", "trained_at"])
    with op.batch_alter_table("rating_snapshots") as batch:
        batch.drop_column("summary")
    with op.batch_alter_table("config_returns") as batch:
        batch.drop_column("cost")
    with op.batch_alter_table("evaluations") as batch:
        batch.drop_column("next_retry_at")
        batch.drop_column("attempts")
        batch.drop_column("state")
    with op.batch_alter_table("configs") as batch:
        batch.drop_column("retired_reason")
        batch.drop_column("retired_at")
        batch.drop_column("lineage")
