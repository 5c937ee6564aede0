"""The database tables (SQLAlchemy 2.0 ORM). Alembic migrations in ``migrations/`` create
them; change a table here only together with a new migration.

All timestamps are naive UTC. Natural keys are primary keys, so every write can be an
idempotent upsert and a repeated or resumed job never duplicates rows.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    DateTime,
    Double,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

ASSET = String(64)
CONFIG_ID = String(32)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class Import(Base):
    """One `factory data import` / `synth` / `--sample`: what came in and what was new."""

    __tablename__ = "imports"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(Text)
    rows_in: Mapped[int] = mapped_column(Integer)
    rows_added: Mapped[int] = mapped_column(Integer)


class Bar(Base):
    __tablename__ = "bars"
    asset: Mapped[str] = mapped_column(ASSET, primary_key=True)
    ts: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    # open/high/low/volume are NULL for close-only bars (imported with --close-only);
    # an asset's bars are all close-only or all OHLCV (the importer refuses a mix).
    open: Mapped[float | None] = mapped_column(Double, nullable=True)
    high: Mapped[float | None] = mapped_column(Double, nullable=True)
    low: Mapped[float | None] = mapped_column(Double, nullable=True)
    close: Mapped[float] = mapped_column(Double)
    volume: Mapped[float | None] = mapped_column(Double, nullable=True)
    bid: Mapped[float | None] = mapped_column(Double, nullable=True)
    ask: Mapped[float | None] = mapped_column(Double, nullable=True)
    bid_size: Mapped[float | None] = mapped_column(Double, nullable=True)
    ask_size: Mapped[float | None] = mapped_column(Double, nullable=True)
    vwap: Mapped[float | None] = mapped_column(Double, nullable=True)
    trades: Mapped[float | None] = mapped_column(Double, nullable=True)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"), nullable=True)

    __table_args__ = (Index("ix_bars_ts", "ts"),)


class AuxValue(Base):
    """Sentiment and on-chain series in long form: (kind, asset, ts, name) -> value."""

    __tablename__ = "aux_values"
    kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    asset: Mapped[str] = mapped_column(ASSET, primary_key=True)
    ts: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[float | None] = mapped_column(Double, nullable=True)
    import_id: Mapped[int | None] = mapped_column(ForeignKey("imports.id"), nullable=True)
    # Set when the value arrived late: the last bar the factory had already evaluated when
    # it was imported. The value is then visible only to bars after that one, so a config
    # evaluated later sees what a live config saw (docs/architecture.md, "Late data").
    visible_after: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class Config(Base):
    """A concrete model configuration; ``config_id`` is a content hash of the rest."""

    __tablename__ = "configs"
    config_id: Mapped[str] = mapped_column(CONFIG_ID, primary_key=True)
    architecture: Mapped[str] = mapped_column(String(64))
    arch_version: Mapped[int] = mapped_column(Integer)
    family: Mapped[str] = mapped_column(String(16))
    lookback: Mapped[int] = mapped_column(Integer)
    feature_set: Mapped[str] = mapped_column(String(64))
    feature_selection: Mapped[str] = mapped_column(String(16))
    params: Mapped[str] = mapped_column(Text)  # canonical JSON
    created_at: Mapped[datetime] = mapped_column(DateTime)
    # Where a bred config came from (JSON: study, trial, parent), None for the plan's.
    lineage: Mapped[str | None] = mapped_column(Text, nullable=True)
    retired_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    retired_reason: Mapped[str | None] = mapped_column(Text, nullable=True)


class Evaluation(Base):
    """Per-config evaluation state: how far it got, how it went, what it cost.

    ``state`` is the engine's `EvalState` (JSON): what the next incremental evaluation
    continues from. ``status`` is "done" while the config has a record (a later cycle that
    fails leaves it "done" with ``error`` and ``attempts`` set: its record lags), "failed"
    when it never produced one."""

    __tablename__ = "evaluations"
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.config_id"), primary_key=True)
    eval_key: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # done | failed
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    state: Mapped[str | None] = mapped_column(Text, nullable=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)  # consecutive failures
    next_retry_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    first_ts: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_ts: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    last_retrain_ts: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    n_retrains: Mapped[int] = mapped_column(Integer, default=0)
    n_predictions: Mapped[int] = mapped_column(Integer, default=0)
    fit_seconds: Mapped[float] = mapped_column(Double, default=0.0)
    predict_seconds: Mapped[float] = mapped_column(Double, default=0.0)
    updated_at: Mapped[datetime] = mapped_column(DateTime)
    # +1 each time the record's rows are replaced (retired); appends keep it.
    record_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class Signal(Base):
    __tablename__ = "signals"
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.config_id"), primary_key=True)
    asset: Mapped[str] = mapped_column(ASSET, primary_key=True)
    ts: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    signal: Mapped[float] = mapped_column(Double)


class ConfigReturn(Base):
    """A config's book over the interval ending at bar ``ts`` (`factory.book.ledger`):
    the P&L of what it held since its last prices, minus the costs of the trades executed
    in the interval. Rows exist from the first bar the config had a model; they are final
    once written (point in time)."""

    __tablename__ = "config_returns"
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.config_id"), primary_key=True)
    ts: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    net_return: Mapped[float] = mapped_column(Double)
    gross_return: Mapped[float] = mapped_column(Double)
    turnover: Mapped[float] = mapped_column(Double)
    cost: Mapped[float | None] = mapped_column(Double, nullable=True)


class Artifact(Base):
    """A fitted model written by a retrain: where, its checksum and its feature schema."""

    __tablename__ = "artifacts"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.config_id"))
    trained_at: Mapped[datetime] = mapped_column(DateTime)  # first bar it predicts
    uri: Mapped[str] = mapped_column(Text)
    sha256: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(Integer)
    feature_schema: Mapped[str] = mapped_column(Text)  # JSON
    created_at: Mapped[datetime] = mapped_column(DateTime)
    pruned: Mapped[bool] = mapped_column(Boolean, default=False)
    eval_key: Mapped[str | None] = mapped_column(String(32), nullable=True)

    __table_args__ = (UniqueConstraint("uri"), Index("ix_artifacts_config_id", "config_id"))


class EvalSettings(Base):
    """Every set of evaluation settings ever used, by its key (what a config's returns
    meant under it)."""

    __tablename__ = "eval_settings"
    eval_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    settings: Mapped[str] = mapped_column(Text)  # JSON
    first_used_at: Mapped[datetime] = mapped_column(DateTime)


class Trial(Base):
    """One (config, evaluation settings) pair that was tried: the multiple-testing
    population counts every one, including configs that failed and settings that were
    later changed (their returns are gone; this summary stays)."""

    __tablename__ = "trials"
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.config_id"), primary_key=True)
    eval_key: Mapped[str] = mapped_column(String(32), primary_key=True)
    status: Mapped[str] = mapped_column(String(16))  # done | failed
    started_at: Mapped[datetime] = mapped_column(DateTime)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    n_obs: Mapped[int] = mapped_column(Integer, default=0)
    sharpe: Mapped[float | None] = mapped_column(Double, nullable=True)  # per bar, at archive


class TuningStudy(Base):
    """One Optuna study of `factory tune` (the trials themselves live in Optuna's storage,
    `factory.refine.storage`): every trial counted here joins the deflated Sharpe's
    multiple-testing population."""

    __tablename__ = "tuning_studies"
    study_name: Mapped[str] = mapped_column(String(255), primary_key=True)
    architecture: Mapped[str] = mapped_column(String(64))
    feature_set: Mapped[str] = mapped_column(String(64))
    lookback: Mapped[int] = mapped_column(Integer)
    sampler: Mapped[str] = mapped_column(String(16))
    boundary: Mapped[datetime] = mapped_column(DateTime)  # studies read bars before it
    n_trials: Mapped[int] = mapped_column(Integer)  # every trial, whatever its state
    n_complete: Mapped[int] = mapped_column(Integer)
    n_pruned: Mapped[int] = mapped_column(Integer)
    best_value: Mapped[float | None] = mapped_column(Double, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime)


class Event(Base):
    """Something an operator should be able to find later: a health state change, a
    quarantined file, an alert, a config retired or born, a job giving up."""

    __tablename__ = "events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    kind: Mapped[str] = mapped_column(String(32))
    subject: Mapped[str] = mapped_column(String(255), default="")
    severity: Mapped[str] = mapped_column(String(16), default="info")  # info | warning | error
    message: Mapped[str] = mapped_column(Text)
    detail: Mapped[str | None] = mapped_column(Text, nullable=True)  # JSON

    __table_args__ = (Index("ix_events_at", "at"),)


class HealthStatus(Base):
    """The monitor's latest verdict on one config (``factory.monitor``): ``state`` green /
    yellow / red ``since`` when, last ``checked_at`` for the bar ``as_of`` (time key
    ``time_key``), with the non-green ``reasons`` and the ``metrics`` behind them (JSON).
    One row per config, replaced each check; every change of state is also an event."""

    __tablename__ = "health_status"
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.config_id"), primary_key=True)
    state: Mapped[str] = mapped_column(String(8))
    since: Mapped[datetime] = mapped_column(DateTime)
    checked_at: Mapped[datetime] = mapped_column(DateTime)
    time_key: Mapped[str] = mapped_column(String(32))
    as_of: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    reasons: Mapped[str] = mapped_column(Text)  # JSON list
    metrics: Mapped[str] = mapped_column(Text)  # JSON object


class RatingSnapshot(Base):
    __tablename__ = "rating_snapshots"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time_key: Mapped[str] = mapped_column(String(32), unique=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    as_of: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # last bar rated
    n_configs: Mapped[int] = mapped_column(Integer)
    n_trials_effective: Mapped[float | None] = mapped_column(Double, nullable=True)
    sr_variance: Mapped[float | None] = mapped_column(Double, nullable=True)
    pbo: Mapped[float | None] = mapped_column(Double, nullable=True)
    # The population behind the DSR, the benchmark, PBO warning... (`Ratings.summary`).
    summary: Mapped[str | None] = mapped_column(Text, nullable=True)


class Rating(Base):
    __tablename__ = "ratings"
    snapshot_id: Mapped[int] = mapped_column(ForeignKey("rating_snapshots.id"), primary_key=True)
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.config_id"), primary_key=True)
    rank: Mapped[int] = mapped_column(Integer)
    score: Mapped[float | None] = mapped_column(Double, nullable=True)
    eligible: Mapped[bool] = mapped_column(Boolean)
    gate: Mapped[str] = mapped_column(Text, default="")
    metrics: Mapped[str] = mapped_column(Text)  # JSON: every metric by name


class PromotionCycle(Base):
    __tablename__ = "promotion_cycles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time_key: Mapped[str] = mapped_column(String(32), unique=True)
    at: Mapped[datetime] = mapped_column(DateTime)
    snapshot_id: Mapped[int | None] = mapped_column(
        ForeignKey("rating_snapshots.id"), nullable=True
    )
    active: Mapped[str] = mapped_column(Text)  # JSON list of config ids, best first
    note: Mapped[str] = mapped_column(Text, default="")


class Promotion(Base):
    __tablename__ = "promotions"
    cycle_id: Mapped[int] = mapped_column(ForeignKey("promotion_cycles.id"), primary_key=True)
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.config_id"), primary_key=True)
    action: Mapped[str] = mapped_column(String(16))  # promoted | kept | demoted
    rank: Mapped[int | None] = mapped_column(Integer, nullable=True)
    score: Mapped[float | None] = mapped_column(Double, nullable=True)
    reason: Mapped[str] = mapped_column(Text)


class Rebalance(Base):
    __tablename__ = "rebalances"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    time_key: Mapped[str] = mapped_column(String(32), unique=True)  # the bar date
    bar_ts: Mapped[datetime] = mapped_column(DateTime)
    at: Mapped[datetime] = mapped_column(DateTime)
    cycle_id: Mapped[int | None] = mapped_column(ForeignKey("promotion_cycles.id"), nullable=True)
    n_active: Mapped[int] = mapped_column(Integer)
    gross: Mapped[float] = mapped_column(Double)
    note: Mapped[str] = mapped_column(Text, default="")
    export_path: Mapped[str | None] = mapped_column(Text, nullable=True)


class RebalanceWeight(Base):
    __tablename__ = "rebalance_weights"
    rebalance_id: Mapped[int] = mapped_column(ForeignKey("rebalances.id"), primary_key=True)
    asset: Mapped[str] = mapped_column(ASSET, primary_key=True)
    weight: Mapped[float] = mapped_column(Double)


class BookReturn(Base):
    """The live book's realised return per bar (the factory's own P&L), booked by the
    same ledger as every config: what the published rebalances earned after costs."""

    __tablename__ = "book_returns"
    bar_ts: Mapped[datetime] = mapped_column(DateTime, primary_key=True)
    rebalance_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    gross: Mapped[float] = mapped_column(Double)
    turnover: Mapped[float] = mapped_column(Double)
    cost: Mapped[float] = mapped_column(Double)
    net: Mapped[float] = mapped_column(Double)
    at: Mapped[datetime] = mapped_column(DateTime)


class BookState(Base):
    """The live book's ledger state after its last booked bar, and the state before that
    bar (so a forced re-run of the same rebalance re-books it instead of booking twice)."""

    __tablename__ = "book_state"
    name: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_bar: Mapped[datetime] = mapped_column(DateTime)
    state: Mapped[str] = mapped_column(Text)
    before_bar: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    before_state: Mapped[str | None] = mapped_column(Text, nullable=True)


class Retrain(Base):
    """A retrain the health monitor asked for, and what became of it
    (`factory.monitor.retrain`). ``refit`` (a config turned red): a forced block start at
    the first bar after ``after_ts``, under ``eval_key``. ``shadow`` (turned yellow): a
    challenger — the same config refitted at the first bar after ``after_ts`` and run
    beside the champion without touching its record — compared on the next ``bars``
    bars; if it wins, the champion switches to its model at the first bar after
    ``swap_after_ts``."""

    __tablename__ = "retrains"
    __table_args__ = (Index("ix_retrains_config_status", "config_id", "status"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.config_id"))
    eval_key: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(8))  # refit | shadow
    status: Mapped[str] = mapped_column(
        String(12)
    )  # pending|applied|running|won|lost|cancelled|failed
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    requested_bar: Mapped[datetime] = mapped_column(DateTime)  # the monitor's bar
    after_ts: Mapped[datetime] = mapped_column(DateTime)  # the config's last evaluated bar then
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str | None] = mapped_column(Text, nullable=True)  # challenger EvalState JSON
    bars: Mapped[int] = mapped_column(Integer, default=0)  # challenger bars compared so far
    champion_net: Mapped[float | None] = mapped_column(Double, nullable=True)
    challenger_net: Mapped[float | None] = mapped_column(Double, nullable=True)
    swap_after_ts: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    model: Mapped[str | None] = mapped_column(Text, nullable=True)  # ModelRef JSON swapped in
    decided_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)


class Run(Base):
    """One execution of a job for a time key; (job, time_key) is unique so jobs are
    idempotent and a restart resumes where it stopped."""

    __tablename__ = "runs"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job: Mapped[str] = mapped_column(String(32))
    time_key: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # running | done | failed
    started_at: Mapped[datetime] = mapped_column(DateTime)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    __table_args__ = (UniqueConstraint("job", "time_key"),)


class LeaseRow(Base):
    """A named lease held by one process until ``expires_at`` (naive UTC): SQLite's
    stand-in for PostgreSQL's advisory locks (see `factory.storage.lease`). ``token`` is
    new for every acquisition, so a holder whose lease expired and was taken over cannot
    renew or release the new holder's lease."""

    __tablename__ = "leases"
    name: Mapped[str] = mapped_column(String(255), primary_key=True)
    holder: Mapped[str] = mapped_column(String(255))
    token: Mapped[str] = mapped_column(String(32))
    acquired_at: Mapped[datetime] = mapped_column(DateTime)
    expires_at: Mapped[datetime] = mapped_column(DateTime)


class Prediction(Base):
    """One signal served by ``POST /predict``: the prediction log. One row per (request,
    config, asset); ``request_id`` groups the rows of one call, ``bar_ts`` is the bar the
    signal is for (the last bar of the request) and ``artifact_sha256`` names exactly the
    fitted model that produced it."""

    __tablename__ = "predictions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    request_id: Mapped[str] = mapped_column(String(32))
    requested_at: Mapped[datetime] = mapped_column(DateTime)
    config_id: Mapped[str] = mapped_column(ForeignKey("configs.config_id"))
    asset: Mapped[str] = mapped_column(ASSET)
    bar_ts: Mapped[datetime] = mapped_column(DateTime)
    signal: Mapped[float] = mapped_column(Double)
    artifact_sha256: Mapped[str] = mapped_column(String(64))

    __table_args__ = (
        Index("ix_predictions_requested_at", "requested_at"),
        Index("ix_predictions_request_id", "request_id"),
    )
