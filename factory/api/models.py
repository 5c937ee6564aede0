"""Response and request models of the HTTP API (what ``/openapi.json`` documents).

Conventions: timestamps are UTC in ISO 8601 with the ``Z`` suffix (the database stores
naive UTC; the API says so explicitly, as RFC 3339 requires); numbers
that are undefined (a Sharpe ratio of a constant series, ...) are ``null``; signals are
in [-1, 1]; weights are fractions of capital (sum of |weights| = gross exposure).
Maps keyed by asset (``{"AAPL": 0.12}``) use the asset names as stored.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    model_validator,
)

CONFIG_ID_PATTERN = r"^[0-9a-f]{1,32}$"
ConfigId = Annotated[str, StringConstraints(pattern=CONFIG_ID_PATTERN, max_length=32)]


def _as_utc(value: datetime) -> datetime:
    """Naive datetimes are UTC (the database convention); aware ones are converted."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


UtcDateTime = Annotated[datetime, AfterValidator(_as_utc)]


class Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class ErrorOut(Out):
    """Every error: ``{"detail": "what went wrong and what to do"}`` (422 validation
    errors from FastAPI carry a list of problems instead)."""

    detail: str


class UnprocessableOut(Out):
    """422: either FastAPI's list of schema problems (``[{"loc", "msg", "type"}, ...]``)
    or one message about the content (bars that break a rule, too few bars, a missing
    feature)."""

    detail: str | list[dict[str, Any]]


# -- health and runs ------------------------------------------------------------------------
class RunOut(Out):
    """One execution of a job for a time key (table ``runs``)."""

    job: str
    time_key: str
    status: str = Field(description="running | done | failed")
    started_at: UtcDateTime
    finished_at: UtcDateTime | None
    detail: str
    error: str | None


class DatabaseHealth(Out):
    reachable: bool
    backend: str = Field(description="sqlite | postgresql")
    error: str | None = None


class RetrainOut(Out):
    """The latest retrain the monitor asked for on a config (table ``retrains``): a forced
    refit (red) or a shadow challenger (yellow) and what became of it."""

    id: int
    mode: Literal["refit", "shadow"]
    status: Literal["pending", "applied", "running", "won", "lost", "cancelled", "failed"]
    requested_at: UtcDateTime
    after: UtcDateTime = Field(description="takes effect at the first bar after this one")
    reason: str
    bars: int = Field(description="challenger: bars run so far (of [monitor] challenger_bars)")
    champion_net: float | None = Field(None, description="challenger decided: champion's return")
    challenger_net: float | None = Field(None, description="challenger's return over its bars")
    note: str | None = None


class ConfigHealthOut(Out):
    """The monitor's latest verdict on one config (table ``health_status``)."""

    config_id: str
    state: Literal["green", "yellow", "red"]
    live: bool = Field(description="in the live set of the newest promotion cycle")
    since: UtcDateTime = Field(description="when it entered this state")
    checked_at: UtcDateTime
    as_of: UtcDateTime | None = Field(None, description="the bar it was judged at")
    reasons: list[str] = Field(description="why it is not green, worst first")
    metrics: dict[str, float | None] = Field(
        description="the figures behind the checks (baseline vs recent)"
    )
    retrain: RetrainOut | None = Field(None, description="the latest retrain asked for")


class Health(Out):
    status: Literal["ok", "degraded", "unavailable"] = Field(
        description="ok; degraded = the newest run of some job failed; unavailable = the "
        "database cannot be read (HTTP 503)"
    )
    now: UtcDateTime
    database: DatabaseHealth
    last_bar: UtcDateTime | None = Field(None, description="newest stored bar")
    live_set_size: int = 0
    last_cycle: str | None = Field(None, description="time key of the newest promotion cycle")
    last_runs: dict[str, RunOut] = Field(
        default_factory=dict, description="the newest run of each job, by job name"
    )
    configs: list[ConfigHealthOut] = Field(
        default_factory=list,
        description="the monitor's verdict on each config it judged, red first",
    )


# -- leaderboard ----------------------------------------------------------------------------
class SnapshotOut(Out):
    """A rating snapshot: when it was taken, the last bar it rated, trial statistics."""

    id: int
    time_key: str
    at: UtcDateTime
    as_of: UtcDateTime | None
    n_configs: int
    n_trials_effective: float | None
    sr_variance: float | None
    pbo: float | None
    summary: dict[str, Any] = Field(
        default_factory=dict,
        description="the population behind the DSR (trials_*), benchmark, PBO warning, notes",
    )


class LeaderboardRow(Out):
    """One config of the snapshot. The named fields are the leaderboard columns; every
    other metric the snapshot stored (sharpe_30, sortino, psr, ...) follows as extra keys."""

    model_config = ConfigDict(frozen=True, extra="allow")

    rank: int
    config_id: str
    family: str | None = None
    architecture: str | None = None
    feature_set: str | None = None
    lookback: int | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    status: str = Field("", description="active | failed | empty")
    sharpe_all: float | None = Field(None, description="net of beta x the benchmark, if any")
    sharpe_raw: float | None = Field(None, description="against zero (before removing beta)")
    beta: float | None = Field(None, description="beta to the equal-weight universe")
    sharpe_90: float | None = None
    max_drawdown: float | None = None
    win_rate: float | None = None
    dsr: float | None = Field(None, description="deflated Sharpe: P(true Sharpe > 0)")
    dsr_trials: int | None = Field(
        None, description="N: every trial the DSR is deflated by (tuning trials included)"
    )
    score: float | None = None
    eligible: bool = False
    gate: str = Field("", description="why a config is not eligible (empty when it is)")
    n_obs: float | None = None
    origin: str = Field(
        "plan", description="plan, or study#trial < parent config for a config bred by tuning"
    )
    lineage: dict[str, Any] | None = Field(
        None, description="a bred config's study, trial, parent config and tuning score"
    )


class LeaderboardOut(Out):
    """What ``factory leaderboard --format json`` prints."""

    snapshot: SnapshotOut
    active: list[str]
    rows: list[LeaderboardRow]


# -- configs and model cards --------------------------------------------------------------
class ConfigSummary(Out):
    config_id: str
    architecture: str
    arch_version: int
    family: str
    feature_set: str
    feature_selection: str
    lookback: int = Field(description="bars in each model input window")
    params: dict[str, Any]
    created_at: UtcDateTime
    status: str = Field(description="done | failed | pending (not evaluated yet)")
    active: bool = Field(description="in the live set of the newest promotion cycle")
    last_ts: UtcDateTime | None = Field(None, description="newest bar evaluated")


class ArtifactOut(Out):
    """A fitted model of one walk-forward block (table ``artifacts``)."""

    trained_at: UtcDateTime = Field(description="first bar the model predicts")
    train_start: UtcDateTime | None
    train_end: UtcDateTime | None
    n_train: int | None = Field(None, description="training samples (bars x assets)")
    uri: str = Field(description="path inside the artifact store")
    sha256: str
    size_bytes: int
    pruned: bool


class EvaluationOut(Out):
    status: str = Field(description="done | failed")
    error: str | None
    eval_key: str = Field(description="hash of the walk-forward settings used")
    first_ts: UtcDateTime | None
    last_ts: UtcDateTime | None
    last_retrain_ts: UtcDateTime | None
    n_retrains: int
    n_predictions: int
    updated_at: UtcDateTime


class ComputeCost(Out):
    fit_seconds: float
    predict_seconds: float
    n_predictions: int
    seconds_per_prediction: float | None


class RatingPoint(Out):
    time_key: str
    at: UtcDateTime
    rank: int
    score: float | None
    eligible: bool
    gate: str


class DecisionOut(Out):
    """One promotion decision about one config in one cycle."""

    cycle: str = Field(description="time key of the cycle (UTC date)")
    at: UtcDateTime
    config_id: str
    action: str = Field(description="promoted | kept | demoted | skipped")
    rank: int | None
    score: float | None
    reason: str


class ModelCard(Out):
    """Everything known about one config: what it is, how it was trained and evaluated,
    what it cost and how it was rated and promoted over time."""

    config: ConfigSummary
    feature_set_version: int | None = Field(None, description="from the newest artifact")
    features: list[str] = Field(
        default_factory=list,
        description="model input features after feature selection, in order (newest artifact)",
    )
    input_kind: str | None = Field(None, description="sequence | tabular | series")
    horizon: int | None = Field(None, description="label horizon in bars")
    artifacts: list[ArtifactOut] = Field(default_factory=list, description="oldest first")
    evaluation: EvaluationOut | None = None
    compute: ComputeCost | None = None
    latest_rating: dict[str, Any] | None = Field(
        None, description="rank, score, eligibility and every metric in the newest snapshot"
    )
    rating_history: list[RatingPoint] = Field(default_factory=list, description="newest first")
    promotions: list[DecisionOut] = Field(default_factory=list, description="newest first")


# -- promotion cycles, active set ----------------------------------------------------------
class CycleOut(Out):
    time_key: str = Field(description="UTC date of the cycle")
    at: UtcDateTime
    active: list[str] = Field(description="the live set after the cycle, best first")
    note: str
    decisions: list[DecisionOut] = Field(default_factory=list)


class ActiveMember(Out):
    config: ConfigSummary
    since: UtcDateTime | None = Field(None, description="when it was last promoted")
    rank: int | None = Field(None, description="rank in the newest snapshot")
    score: float | None = None


class ActiveSetOut(Out):
    cycle: str | None = Field(None, description="time key of the newest promotion cycle")
    at: UtcDateTime | None = None
    note: str = ""
    configs: list[ActiveMember] = Field(default_factory=list, description="best first")


# -- rebalances and signals ----------------------------------------------------------------
class RebalanceOut(Out):
    """The target portfolio for one bar date (table ``rebalances``)."""

    time_key: str = Field(description="the bar date (YYYY-MM-DD)")
    bar_ts: UtcDateTime
    at: UtcDateTime = Field(description="when it was computed")
    n_active: int = Field(description="configs that voted")
    gross: float = Field(description="sum of |weights|")
    note: str
    export_file: str | None = Field(None, description="name of the CSV export")
    weights: dict[str, float] = Field(description="asset -> target weight")


class ConfigSignals(Out):
    config_id: str
    ts: UtcDateTime = Field(description="bar of the config's newest signal")
    fresh: bool = Field(description="the signal is for the newest stored bar")
    signals: dict[str, float] = Field(description="asset -> signal in [-1, 1]")


class SignalsOut(Out):
    last_bar: UtcDateTime | None
    configs: list[ConfigSignals]
    ensemble: dict[str, float] = Field(
        description="asset -> equal-weight mean of the fresh signals (configs without a view "
        "on an asset do not vote on it)"
    )


# -- jobs -------------------------------------------------------------------------------------
class JobOut(Out):
    job: Literal["rate", "promote", "rebalance"]
    time_key: str
    reused: bool = Field(description="the job had already run for this time key")
    summary: str
    snapshot: SnapshotOut | None = None
    cycle: CycleOut | None = None
    rebalance: RebalanceOut | None = None


# -- online inference -------------------------------------------------------------------------
class PredictionOut(Out):
    request_id: str
    requested_at: UtcDateTime
    config_id: str
    asset: str
    bar_ts: UtcDateTime
    signal: float
    artifact_sha256: str


class ServedConfig(Out):
    config_id: str
    architecture: str
    arch_version: int
    feature_set: str
    lookback: int
    artifact_sha256: str
    trained_at: UtcDateTime
    signals: dict[str, float] = Field(description="asset -> signal in [-1, 1] at bar_ts")


class SkippedConfig(Out):
    config_id: str
    reason: str


class PredictOut(Out):
    request_id: str = Field(description="groups this call's rows in the prediction log")
    requested_at: UtcDateTime
    bar_ts: UtcDateTime = Field(description="the last bar of the request: what the signals are for")
    configs: list[ServedConfig]
    ensemble: dict[str, float] = Field(
        description="asset -> equal-weight mean over the configs with a view on it"
    )
    skipped: list[SkippedConfig] = Field(
        default_factory=list, description="configs that could not be served, with the reason"
    )


# -- request bodies ---------------------------------------------------------------------------
_AUX = r"^(sentiment|onchain)_[a-z0-9_]{1,56}$"


class BarIn(BaseModel):
    """One bar of one asset. The same columns and rules as ``factory data import``:
    ``timestamp`` is an ISO 8601 date or date-time (naive = UTC); prices are positive with
    low <= open, close <= high; volume >= 0. Optional quote columns (bid, ask, bid_size,
    ask_size, vwap, trades) and auxiliary series as extra keys named ``sentiment_<name>`` or
    ``onchain_<name>`` feed the feature sets that read them."""

    model_config = ConfigDict(frozen=True, extra="allow")

    timestamp: str = Field(min_length=1, max_length=40, examples=["2024-05-31"])
    asset: str = Field(min_length=1, max_length=64, examples=["AAPL"])
    open: float
    high: float
    low: float
    close: float
    volume: float
    bid: float | None = None
    ask: float | None = None
    bid_size: float | None = None
    ask_size: float | None = None
    vwap: float | None = None
    trades: float | None = None

    @model_validator(mode="after")
    def _check_extra(self) -> BarIn:
        for key, value in (self.model_extra or {}).items():
            if not re.match(_AUX, key):
                raise ValueError(
                    f"unknown column {key!r}: bars take open, high, low, close, volume, the "
                    "optional quote columns, and sentiment_<name> / onchain_<name> series"
                )
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise ValueError(f"column {key!r} must be a number or null, got {value!r}")
        return self


class PredictRequest(BaseModel):
    """Recent bars of one or more assets. Send at least the lookback plus the warm-up of
    the feature sets the live set reads (a 422 says how many bars are needed)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    bars: list[BarIn] = Field(min_length=1, max_length=200_000)
    configs: list[ConfigId] | None = Field(
        None,
        max_length=100,
        description="config ids to serve instead of the live set (default: the live set)",
    )
